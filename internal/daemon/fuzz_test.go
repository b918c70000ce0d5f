package daemon

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/anybpf/anybpf/api/anybpfv1"
)

// handler decodes a request message and calls one of the daemon's handlers.
type handler struct {
	name string
	call func(ctx context.Context, msg []byte) (decoded bool, err error)
}

func unary[Req any, PReq interface {
	*Req
	proto.Message
}, Resp any](name string, fn func(context.Context, PReq) (Resp, error), fix func(PReq)) handler {
	return handler{name, func(ctx context.Context, msg []byte) (bool, error) {
		req := PReq(new(Req))
		if err := proto.Unmarshal(msg, req); err != nil {
			return false, nil
		}
		if fix != nil {
			fix(req)
		}
		_, err := fn(ctx, req)
		return true, err
	}}
}

// handlers are the daemon's unary handlers (the streams are covered by their claim and
// by the end-to-end tests).
func handlers(s *Server) []handler {
	return []handler{
		unary("LoadObject", s.LoadObject, nil),
		unary("Unload", s.Unload, nil),
		unary("GetProgram", s.GetProgram, nil),
		unary("ListPrograms", s.ListPrograms, nil),
		unary("DumpProgram", s.DumpProgram, nil),
		unary("TestRun", s.TestRun, func(r *pb.TestRunRequest) { r.Repeat %= 64 }),
		unary("GetMap", s.GetMap, nil),
		unary("ListMaps", s.ListMaps, nil),
		unary("CreateMap", s.CreateMap, nil),
		unary("MapLookup", s.MapLookup, nil),
		unary("MapUpdate", s.MapUpdate, nil),
		unary("MapLookupAndDelete", s.MapLookupAndDelete, nil),
		unary("MapDelete", s.MapDelete, nil),
		unary("MapGetNextKey", s.MapGetNextKey, nil),
		unary("MapDump", s.MapDump, nil),
		unary("MapLookupBatch", s.MapLookupBatch, nil),
		unary("MapUpdateBatch", s.MapUpdateBatch, nil),
		unary("MapDeleteBatch", s.MapDeleteBatch, nil),
		unary("MapFreeze", s.MapFreeze, nil),
		unary("Pin", s.Pin, nil),
		unary("Unpin", s.Unpin, nil),
		unary("GetPinned", s.GetPinned, nil),
		unary("ListPins", s.ListPins, nil),
		unary("Attach", s.Attach, nil),
		unary("Supervise", s.Supervise, nil),
		unary("Detach", s.Detach, nil),
		unary("ListLinks", s.ListLinks, nil),
		unary("GetLink", s.GetLink, nil),
		unary("SetStats", s.SetStats, nil),
	}
}

// snapshot describes the object table, the pins and the usage, to check that failed
// requests change nothing.
func snapshot(s *Server) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var parts []string
	for id, o := range s.objs {
		parts = append(parts, fmt.Sprintf("%d:%v:%d:%d:%d:%v", id, o.kind, len(o.holders), len(o.pins), o.users, o.frozen))
	}
	for p, o := range s.pins {
		parts = append(parts, fmt.Sprintf("%s=%d", p, o.id))
	}
	for uid, u := range s.users {
		parts = append(parts, fmt.Sprintf("u%d:%d:%d", uid, u.objects, u.bytes))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// FuzzHandlers feeds arbitrary bytes as request messages to the handlers of a daemon
// holding the test object: no request may panic, and a request that fails must leave the
// object table, pins and usage as they were.
func FuzzHandlers(f *testing.F) {
	s := newTestServer(f, Config{MaxObjectsPerUser: 64, MaxMapBytes: 1 << 20, MaxBytesPerUser: 4 << 20})
	ctx := as(1000, 1) // not root: quotas apply, and the daemon reads no paths for it
	obj := testObject(f)
	load(f, s, ctx)
	hs := handlers(s)
	seeds := map[string][]proto.Message{
		"LoadObject":     {&pb.LoadObjectRequest{Source: &pb.LoadObjectRequest_Object{Object: obj}}, &pb.LoadObjectRequest{Source: &pb.LoadObjectRequest_Path{Path: "/etc/passwd"}}},
		"Unload":         {&pb.UnloadRequest{Id: 3}},
		"GetProgram":     {&pb.GetObjectRequest{Id: 5}},
		"DumpProgram":    {&pb.DumpProgramRequest{Id: 5, Jited: true}},
		"TestRun":        {&pb.TestRunRequest{Id: 5, DataIn: packet(0x0800), Repeat: 2}, &pb.TestRunRequest{Id: 5, DataIn: packet(0x86dd), CtxIn: make([]byte, 24)}},
		"GetMap":         {&pb.GetObjectRequest{Id: 2}},
		"CreateMap":      {&pb.CreateMapRequest{Type: "hash", Name: "m", KeySize: 4, ValueSize: 8, MaxEntries: 8, Pin: "/sys/fs/bpf/m"}, &pb.CreateMapRequest{Type: "lpm_trie", KeySize: 8, ValueSize: 4, MaxEntries: 4, Flags: 1}},
		"MapLookup":      {&pb.MapKeyRequest{Id: 3, Key: []byte{0, 0, 0, 0}}},
		"MapUpdate":      {&pb.MapUpdateRequest{Id: 2, Key: []byte{1, 2}, Value: make([]byte, 8), Flags: pb.UpdateFlag_UPDATE_NOEXIST}},
		"MapDelete":      {&pb.MapKeyRequest{Id: 2, Key: []byte{1, 2}}},
		"MapGetNextKey":  {&pb.MapNextKeyRequest{Id: 3, Key: []byte{1, 0, 0, 0}}},
		"MapDump":        {&pb.MapDumpRequest{Id: 3, MaxEntries: 2, After: []byte{0, 0, 0, 0}}},
		"MapLookupBatch": {&pb.MapBatchRequest{Id: 2, Count: 4, Delete: true}},
		"MapUpdateBatch": {&pb.MapBatchRequest{Id: 2, Keys: []byte{1, 2, 3, 4}, Values: make([]byte, 16)}},
		"MapDeleteBatch": {&pb.MapBatchRequest{Id: 2, Keys: []byte{1, 2}}},
		"MapFreeze":      {&pb.GetObjectRequest{Id: 3}},
		"Pin":            {&pb.PinRequest{Id: 5, Path: `BPF:\p\x`}},
		"Unpin":          {&pb.PinPath{Path: "/sys/fs/bpf/p/x"}},
		"GetPinned":      {&pb.PinPath{Path: "/sys/fs/bpf/p/x"}},
		"ListPins":       {&pb.ListPinsRequest{Prefix: "/sys/fs/bpf/p"}},
		"Attach":         {&pb.AttachRequest{ProgId: 5, AttachType: "xdp", Target: "lo"}},
		"Detach":         {&pb.GetObjectRequest{Id: 5}},
		"SetStats":       {&pb.SetStatsRequest{Enabled: true}},
	}
	for i, h := range hs {
		for _, m := range seeds[h.name] {
			b, err := proto.Marshal(m)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(byte(i), b)
		}
		f.Add(byte(i), []byte{})
	}
	f.Fuzz(func(t *testing.T, which byte, msg []byte) {
		h := hs[int(which)%len(hs)]
		before := snapshot(s)
		// A request that wedges the daemon is a failure too: crash with every goroutine's
		// stack, which the fuzzer reports with the input.
		wd := time.AfterFunc(30*time.Second, func() { panic(fmt.Sprintf("%s took more than 30s", h.name)) })
		decoded, err := h.call(ctx, msg)
		wd.Stop()
		if !decoded {
			return
		}
		if err != nil {
			if after := snapshot(s); after != before {
				t.Fatalf("%s failed (%v) but changed the daemon:\nbefore %s\nafter  %s", h.name, err, before, after)
			}
		}
	})
}

// packet is an Ethernet frame of the EtherType.
func packet(etherType uint16) []byte {
	p := make([]byte, 18)
	p[12], p[13] = byte(etherType>>8), byte(etherType)
	return p
}
