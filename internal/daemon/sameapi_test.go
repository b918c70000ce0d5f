package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/anybpf/anybpf"
	pb "github.com/anybpf/anybpf/api/anybpfv1"
	"github.com/anybpf/anybpf/maps"
)

// TestSameAPI runs one piece of code against the in-process runtime and against the
// daemon through anybpf.Connect: the two backends load, run and use maps alike.
func TestSameAPI(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs SO_PEERCRED")
	}
	obj, err := filepath.Abs("testdata/daemon.o")
	if err != nil {
		t.Fatal(err)
	}
	client, err := anybpf.Connect(serve(t, newTestServer(t, Config{})))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	rt := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig())
	defer rt.Close()
	for _, tt := range []struct {
		name string
		b    anybpf.Backend
	}{
		{"in-process", rt},
		{"daemon", client},
	} {
		t.Run(tt.name, func(t *testing.T) { exerciseBackend(t, tt.b, obj) })
	}
}

func exerciseBackend(t *testing.T, b anybpf.Backend, obj string) {
	h, err := b.LoadHandles(obj)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	prog := h.Programs["xdp_daemon"]
	if prog == nil || h.Maps["counts"] == nil || h.Maps["by_proto"] == nil {
		t.Fatalf("programs %v, maps %v", h.Programs, h.Maps)
	}
	for i, proto := range []uint16{0x0800, 0x86dd, 0x0800} {
		want := uint32(2) // XDP_PASS
		if proto == 0x86dd {
			want = 1 // XDP_DROP
		}
		if ret, err := prog.Run(&anybpf.RunOptions{Data: packet(proto)}); err != nil || ret != want {
			t.Fatalf("run %d: %d, %v; want %d", i, ret, err, want)
		}
	}
	var n uint64
	if err := h.Maps["counts"].Lookup(uint32(0), &n); err != nil || n != 3 {
		t.Fatalf("counts[0] = %d, %v; want 3", n, err)
	}
	if err := h.Maps["by_proto"].Lookup(uint16(0x0800), &n); err != nil || n != 2 {
		t.Fatalf("by_proto[IPv4] = %d, %v; want 2", n, err)
	}
	if err := h.Maps["by_proto"].Lookup(uint16(0x1234), &n); !errors.Is(err, maps.ErrKeyNotExist) {
		t.Fatalf("lookup of a missing key: %v, want ErrKeyNotExist", err)
	}

	m, err := b.CreateMap(maps.Spec{Name: "scratch", Type: maps.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for k := uint32(1); k <= 4; k++ {
		if err := m.Update(k, uint64(k*10), maps.UpdateNoExist); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Update(uint32(5), uint64(50), maps.UpdateAny); !errors.Is(err, maps.ErrFull) {
		t.Fatalf("update past max_entries: %v, want ErrFull", err)
	}
	if err := m.Update(uint32(1), uint64(1), maps.UpdateNoExist); !errors.Is(err, maps.ErrKeyExist) {
		t.Fatalf("noexist update of an existing key: %v, want ErrKeyExist", err)
	}
	if err := m.Delete(uint32(2)); err != nil {
		t.Fatal(err)
	}
	entries, err := m.Dump()
	if err != nil || len(entries) != 3 {
		t.Fatalf("dump: %d entries, %v; want 3", len(entries), err)
	}
	seen := 0
	next := make([]byte, 4)
	var key any
	for m.NextKey(key, next) == nil {
		seen++
		key = append([]byte(nil), next...)
	}
	if seen != 3 || m.Spec().MaxEntries != 4 || m.ID() == 0 || prog.ID() == 0 {
		t.Fatalf("NextKey walked %d keys, spec %+v, ids %d %d", seen, m.Spec(), m.ID(), prog.ID())
	}
}

// TestSuperviseRefused checks that Supervise refuses a peer it cannot identify and a
// descriptor that is no seccomp listener, without keeping a copy of it.
func TestSuperviseRefused(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("supervised commands are Linux's")
	}
	s := newTestServer(t, Config{})
	f, err := os.Open("testdata/daemon.o")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	req := &pb.SuperviseRequest{ListenerFd: int32(f.Fd()), Command: "test"}
	if _, err := s.Supervise(as(0, 1), req); status.Code(err) != codes.PermissionDenied {
		t.Errorf("a peer without a pid: %v, want PermissionDenied", err)
	}
	self := peer.NewContext(context.Background(), &peer.Peer{AuthInfo: Peer{UID: 0, PID: int32(os.Getpid()), Known: true, conn: 1}})
	before := openFDs()
	if _, err := s.Supervise(self, req); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "not a seccomp listener") {
		t.Errorf("a file as the listener: %v, want InvalidArgument naming it", err)
	}
	req.ListenerFd = 1 << 20
	if _, err := s.Supervise(self, req); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a descriptor the process does not have: %v, want InvalidArgument", err)
	}
	if after := openFDs(); after != before {
		t.Errorf("%d descriptors open after the refusals, %d before", after, before)
	}
	s.sessions.mu.Lock()
	n := len(s.sessions.m)
	s.sessions.mu.Unlock()
	if n != 0 {
		t.Errorf("%d sessions after the refusals", n)
	}
}

func TestOneLine(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"true", "true"},
		{"sh -c 'a\nb\tc'", "sh -c 'a b c'"},
		{strings.Repeat("é", 170), strings.Repeat("é", 160) + "..."},
	} {
		if got := oneLine(tt.in, 160); got != tt.want {
			t.Errorf("oneLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
