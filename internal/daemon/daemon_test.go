package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/anybpf/anybpf"
	pb "github.com/anybpf/anybpf/api/anybpfv1"
)

// newTestServer returns a daemon with its state in a temporary directory.
func newTestServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// as returns a request context of a peer with the uid, on connection conn.
func as(uid uint32, conn uint64) context.Context {
	return peer.NewContext(context.Background(), &peer.Peer{AuthInfo: Peer{UID: uid, GID: uid, Known: true, conn: conn}})
}

func testObject(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/daemon.o")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func load(t testing.TB, s *Server, ctx context.Context) *pb.LoadObjectResponse {
	t.Helper()
	resp, err := s.LoadObject(ctx, &pb.LoadObjectRequest{Source: &pb.LoadObjectRequest_Object{Object: testObject(t)}})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestCanonicalPin(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/sys/fs/bpf/a", "/sys/fs/bpf/a"},
		{"/sys/fs/bpf/a/b/", "/sys/fs/bpf/a/b"},
		{`BPF:\a\b`, "/sys/fs/bpf/a/b"},
		{`bpf:/a/b`, "/sys/fs/bpf/a/b"},
		{"/sys/fs/bpf//a", "/sys/fs/bpf/a"},
		{"/sys/fs/bpf/a//b", ""},
		{"/sys/fs/bpf/", ""},
		{"/sys/fs/bpf", ""},
		{"/sys/fs/bpf/../etc", ""},
		{"/sys/fs/bpf/a/./b", ""},
		{"/tmp/x", ""},
		{"BPF:", ""},
		{"/sys/fs/bpf/a\x00b", ""},
		{"/sys/fs/bpf/" + strings.Repeat("a/", 40) + "x", ""},
	} {
		got, err := canonicalPin(c.in)
		if got != c.want || (c.want == "") != (err != nil) {
			t.Errorf("canonicalPin(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
		if err != nil && status.Code(err) != codes.InvalidArgument {
			t.Errorf("canonicalPin(%q): code %v", c.in, status.Code(err))
		}
	}
}

func TestLimits(t *testing.T) {
	s := newTestServer(t, Config{MaxObjectsPerUser: 6, MaxMapBytes: 1 << 20})
	user := as(1000, 1)
	// Quotas apply to users other than root (authorization is the interceptor's, tested
	// end to end).
	load(t, s, user) // 1 program, 4 maps
	_, err := s.LoadObject(user, &pb.LoadObjectRequest{Source: &pb.LoadObjectRequest_Object{Object: testObject(t)}})
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "uid 1000 has 5 objects") {
		t.Errorf("second load over the object limit: %v", err)
	}
	if _, err := s.CreateMap(user, &pb.CreateMapRequest{Type: "hash", Name: "big", KeySize: 8, ValueSize: 1024, MaxEntries: 1 << 20}); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("map over the per-map limit: %v", err)
	}
	if _, err := s.CreateMap(user, &pb.CreateMapRequest{Type: "hash", Name: "ok", KeySize: 4, ValueSize: 4, MaxEntries: 16}); err != nil {
		t.Errorf("map within the limits: %v", err)
	}
	if _, err := s.CreateMap(user, &pb.CreateMapRequest{Type: "hash", Name: "seventh", KeySize: 4, ValueSize: 4, MaxEntries: 16}); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("seventh object: %v", err)
	}
	// When the connection closes, its objects go and the quota is free again.
	s.connClosed(1)
	if n := len(s.objs); n != 0 {
		t.Errorf("%d objects after the connection closed", n)
	}
	if _, err := s.CreateMap(user, &pb.CreateMapRequest{Type: "hash", Name: "again", KeySize: 4, ValueSize: 4, MaxEntries: 16}); err != nil {
		t.Errorf("after the connection closed: %v", err)
	}
}

func TestValidation(t *testing.T) {
	s := newTestServer(t, Config{})
	ctx := as(0, 1)
	resp := load(t, s, ctx)
	var counts, events uint32
	for _, m := range resp.Maps {
		switch m.Name {
		case "counts":
			counts = m.Id
		case "events":
			events = m.Id
		}
	}
	prog := resp.Programs[0].Id
	for _, c := range []struct {
		name string
		call func() error
		code codes.Code
		msg  string
	}{
		{"id 0", func() error { _, err := s.GetMap(ctx, &pb.GetObjectRequest{}); return err }, codes.InvalidArgument, "ids start at 1"},
		{"missing id", func() error { _, err := s.GetProgram(ctx, &pb.GetObjectRequest{Id: 999}); return err }, codes.NotFound, "no program with id 999"},
		{"wrong kind", func() error { _, err := s.GetProgram(ctx, &pb.GetObjectRequest{Id: counts}); return err }, codes.NotFound, "is a map, not a program"},
		{"short key", func() error { _, err := s.MapLookup(ctx, &pb.MapKeyRequest{Id: counts, Key: []byte{1}}); return err }, codes.InvalidArgument, "key of 1 bytes, the map's keys are 4"},
		{"long value", func() error {
			_, err := s.MapUpdate(ctx, &pb.MapUpdateRequest{Id: counts, Key: make([]byte, 4), Value: make([]byte, 9)})
			return err
		}, codes.InvalidArgument, "value of 9 bytes"},
		{"bad flags", func() error {
			_, err := s.MapUpdate(ctx, &pb.MapUpdateRequest{Id: counts, Key: make([]byte, 4), Value: make([]byte, 8), Flags: 7})
			return err
		}, codes.InvalidArgument, "unknown flags"},
		{"missing key", func() error {
			_, err := s.MapLookup(ctx, &pb.MapKeyRequest{Id: counts, Key: []byte{9, 0, 0, 0}})
			return err
		}, codes.NotFound, "does not exist"},
		{"dump ringbuf", func() error { _, err := s.MapDump(ctx, &pb.MapDumpRequest{Id: events}); return err }, codes.InvalidArgument, "ReadRingBuffer"},
		{"bad batch", func() error {
			_, err := s.MapUpdateBatch(ctx, &pb.MapBatchRequest{Id: counts, Keys: make([]byte, 5)})
			return err
		}, codes.InvalidArgument, "not a whole number"},
		{"batch count", func() error { _, err := s.MapLookupBatch(ctx, &pb.MapBatchRequest{Id: counts}); return err }, codes.InvalidArgument, "count 0"},
		{"bad cursor", func() error {
			_, err := s.MapLookupBatch(ctx, &pb.MapBatchRequest{Id: counts, Count: 2, Cursor: []byte("nope")})
			return err
		}, codes.InvalidArgument, "unknown or expired cursor"},
		{"short packet", func() error { _, err := s.TestRun(ctx, &pb.TestRunRequest{Id: prog, DataIn: []byte{1}}); return err }, codes.InvalidArgument, "Ethernet header"},
		{"huge repeat", func() error { _, err := s.TestRun(ctx, &pb.TestRunRequest{Id: prog, Repeat: 1 << 30}); return err }, codes.InvalidArgument, "repeat"},
		{"unknown map type", func() error { _, err := s.CreateMap(ctx, &pb.CreateMapRequest{Type: "nope"}); return err }, codes.InvalidArgument, `unknown map type "nope"`},
		{"bad map", func() error {
			_, err := s.CreateMap(ctx, &pb.CreateMapRequest{Type: "hash", KeySize: 0, ValueSize: 4, MaxEntries: 1})
			return err
		}, codes.InvalidArgument, ""},
		{"no object", func() error { _, err := s.LoadObject(ctx, &pb.LoadObjectRequest{}); return err }, codes.InvalidArgument, "give the object's bytes or a path"},
		{"garbage object", func() error {
			_, err := s.LoadObject(ctx, &pb.LoadObjectRequest{Source: &pb.LoadObjectRequest_Object{Object: []byte("not an ELF")}})
			return err
		}, codes.InvalidArgument, ""},
		{"bad pin", func() error { _, err := s.Pin(ctx, &pb.PinRequest{Id: prog, Path: "/etc/passwd"}); return err }, codes.InvalidArgument, "want /sys/fs/bpf/NAME"},
		{"no provider", func() error {
			_, err := s.Attach(ctx, &pb.AttachRequest{ProgId: prog, AttachType: "xdp", Target: "eth0"})
			return err
		}, codes.FailedPrecondition, "no hook provider for attach type xdp"},
		{"second reader", func() error {
			_, _, err := s.claimReader(counts, 27)
			return err
		}, codes.InvalidArgument, "it is a array map, not a ringbuf"},
	} {
		err := c.call()
		if status.Code(err) != c.code || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want %v containing %q", c.name, err, c.code, c.msg)
		}
	}

	// Batches: update, look up in pages, delete.
	keys := []byte{0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0}
	vals := make([]byte, 24)
	vals[0], vals[8], vals[16] = 10, 11, 12
	if r, err := s.MapUpdateBatch(ctx, &pb.MapBatchRequest{Id: counts, Keys: keys, Values: vals}); err != nil || r.Count != 3 {
		t.Fatalf("batch update: %v %v", r, err)
	}
	var got []byte
	req := &pb.MapBatchRequest{Id: counts, Count: 3}
	for {
		r, err := s.MapLookupBatch(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r.Values...)
		if r.Done {
			break
		}
		req.Cursor = r.Cursor
	}
	if len(got) != 32 || got[0] != 10 || got[8] != 11 || got[16] != 12 || got[24] != 0 {
		t.Errorf("batch lookup: %v", got)
	}
	if _, err := s.MapFreeze(ctx, &pb.GetObjectRequest{Id: counts}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MapUpdateBatch(ctx, &pb.MapBatchRequest{Id: counts, Keys: keys, Values: vals}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("batch update of a frozen map: %v", err)
	}
}

// fakeProvider is a hook provider that records what is attached.
type fakeProvider struct{ attached map[string]bool }

type fakeAttachment struct {
	p   *fakeProvider
	key string
}

func (p *fakeProvider) Attach(prog *anybpf.Program, attachType, target string, flags uint64) (Attachment, error) {
	if target == "bad" {
		return nil, errors.New("no such target")
	}
	key := attachType + "/" + target + "/" + prog.Name
	p.attached[key] = true
	return fakeAttachment{p, key}, nil
}

func (a fakeAttachment) Close() error {
	delete(a.p.attached, a.key)
	return nil
}

func TestLinks(t *testing.T) {
	dir := t.TempDir()
	s := newTestServer(t, Config{StateDir: dir})
	fp := &fakeProvider{attached: map[string]bool{}}
	if err := s.RegisterProvider(fp, "xdp"); err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterProvider(fp, "xdp"); err == nil {
		t.Error("second provider for xdp accepted")
	}
	ctx := as(0, 1)
	resp := load(t, s, ctx)
	prog := resp.Programs[0].Id
	if _, err := s.Attach(ctx, &pb.AttachRequest{ProgId: prog, AttachType: "xdp", Target: "bad"}); err == nil || !strings.Contains(err.Error(), "no such target") {
		t.Errorf("attach to a bad target: %v", err)
	}
	l, err := s.Attach(ctx, &pb.AttachRequest{ProgId: prog, AttachType: "xdp", Target: "eth0"})
	if err != nil {
		t.Fatal(err)
	}
	if l.ProgId != prog || !fp.attached["xdp/eth0/xdp_daemon"] {
		t.Fatalf("link %v, attached %v", l, fp.attached)
	}
	if _, err := s.Pin(ctx, &pb.PinRequest{Id: l.Id, Path: "/sys/fs/bpf/link"}); err != nil {
		t.Fatal(err)
	}
	// The pinned link keeps the program (and so its maps) when the loader goes.
	s.connClosed(1)
	if _, err := s.GetProgram(ctx, &pb.GetObjectRequest{Id: prog}); err != nil {
		t.Errorf("program of a pinned link: %v", err)
	}
	// A restart re-attaches the pinned link.
	s.Close()
	if len(fp.attached) != 0 {
		t.Errorf("still attached after Close: %v", fp.attached)
	}
	s2, err := New(Config{StateDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil {
		defer s2.Close()
	}
	if err != nil || len(s2.pins) != 0 {
		t.Fatalf("restart without the provider: %v, %d pins", err, len(s2.pins))
	}
	s2.Close()
	// With the provider registered before the restore (as the hooks will), it is back.
	s3 := newTestServerWithProvider(t, dir, fp)
	links, _ := s3.ListLinks(ctx, &pb.ListRequest{})
	if len(links.Links) != 1 || !fp.attached["xdp/eth0/xdp_daemon"] {
		t.Fatalf("after restart: links %v, attached %v", links, fp.attached)
	}
	if _, err := s3.Detach(ctx, &pb.GetObjectRequest{Id: links.Links[0].Id}); err != nil {
		t.Fatal(err)
	}
	if len(fp.attached) != 0 || len(s3.objs) != 0 {
		t.Errorf("after detach: attached %v, %d objects", fp.attached, len(s3.objs))
	}
}

func newTestServerWithProvider(t *testing.T, dir string, p HookProvider) *Server {
	t.Helper()
	s, err := New(Config{StateDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Providers: map[string]HookProvider{"xdp": p}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestMetrics(t *testing.T) {
	s := newTestServer(t, Config{})
	ctx := as(0, 1)
	resp := load(t, s, ctx)
	s.rt.SetStats(true)
	if _, err := s.TestRun(ctx, &pb.TestRunRequest{Id: resp.Programs[0].Id, DataIn: make([]byte, 14), Repeat: 5}); err != nil {
		t.Fatal(err)
	}
	s.metrics.observe("TestRun", codes.OK, 1000)
	rec := httptest.NewRecorder()
	s.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`anybpf_program_run_count_total{id="5",name="xdp_daemon",type="xdp"} 5`,
		`anybpf_map_entries{id="2",name="by_proto",type="hash"} 1`,
		`anybpf_objects{kind="map"} 4`,
		`anybpf_api_requests_total{code="OK",method="TestRun"} 1`,
		`anybpf_load_duration_seconds_count 1`,
		`anybpf_api_request_duration_seconds_bucket{method="TestRun"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		t.Log(body)
	}
}

func TestAuthorize(t *testing.T) {
	var log strings.Builder
	s := newTestServer(t, Config{Group: "4242", Logger: slog.New(slog.NewTextHandler(&log, nil))})
	peerCtx := func(p Peer) context.Context {
		return peer.NewContext(context.Background(), &peer.Peer{AuthInfo: p})
	}
	root := peerCtx(Peer{UID: 0, Known: true})
	member := peerCtx(Peer{UID: 1000, GID: 4242, Known: true})
	other := peerCtx(Peer{UID: 65534, GID: 65534, PID: -1, Known: true})
	unknown := peerCtx(Peer{UID: 0})
	for method := range privilegedMethods {
		for _, c := range []struct {
			name string
			ctx  context.Context
			ok   bool
		}{{"root", root, true}, {"group member", member, true}, {"other", other, false}, {"unknown", unknown, false}} {
			err := s.authorize(c.ctx, method, nil)
			if c.ok != (err == nil) {
				t.Errorf("%s by %s: %v", method, c.name, err)
			}
			if err != nil && (status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), method+" needs root or membership of group 4242")) {
				t.Errorf("%s by %s: %v", method, c.name, err)
			}
		}
	}
	for _, m := range []string{"ListPrograms", "MapLookup", "MapDump", "GetPinned", "ReadRingBuffer", "TraceLog"} {
		if err := s.authorize(other, m, nil); err != nil {
			t.Errorf("%s by another user: %v", m, err)
		}
	}
	if err := s.authorize(other, "MapLookupBatch", &pb.MapBatchRequest{Delete: true}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("lookup-and-delete batch by another user: %v", err)
	}
	if !strings.Contains(log.String(), "msg=refused method=Attach uid=65534") {
		t.Errorf("refusal of Attach not logged:\n%s", log.String())
	}
}
