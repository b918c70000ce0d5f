package anybpf_test

import (
	"encoding/binary"
	"errors"
	"os"
	"testing"

	"github.com/anybpf/anybpf"
)

// Objects built with ebpf-for-windows's headers run with Linux's meaning: their helper
// ids are translated at load, their contexts read through ebpf-for-windows's layouts, and
// their verdicts reported in Linux's numbering.
func TestWindowsXDP(t *testing.T) {
	win := load(t, anybpf.NewRuntimeConfig(), "testdata/ewin_xdp.o")
	lin := load(t, anybpf.NewRuntimeConfig(), "testdata/ewin_xdp_linux.o")
	pkt := frame(0x0800, "same body, two headers")
	for i := 0; i < 3; i++ {
		wr, err := win.Programs["count_cpu"].Run(&anybpf.RunOptions{Data: pkt})
		if err != nil {
			t.Fatal(err)
		}
		lr, err := lin.Programs["count_cpu"].Run(&anybpf.RunOptions{Data: pkt})
		if err != nil {
			t.Fatal(err)
		}
		if wr != lr || wr != 3 {
			t.Fatalf("run %d: ebpf-for-windows build returned %d, Linux build %d; want XDP_TX (3)", i, wr, lr)
		}
	}
	var wn, ln uint64
	if err := win.Maps["counters"].Lookup(uint32(0), &wn); err != nil {
		t.Fatal(err)
	}
	if err := lin.Maps["counters"].Lookup(uint32(0), &ln); err != nil {
		t.Fatal(err)
	}
	if wn != 3 || ln != 3 {
		t.Fatalf("counters: %d and %d, want 3", wn, ln)
	}

	// ebpf-for-windows's XDP_PASS is 1; anybpf reports Linux's XDP_PASS (2).
	opts := &anybpf.RunOptions{Data: pkt}
	ret, err := win.Programs["strip"].Run(opts)
	if err != nil || ret != 2 {
		t.Fatalf("strip: %d, %v; want XDP_PASS (2)", ret, err)
	}
	if len(opts.DataOut) != len(pkt)-14 {
		t.Fatalf("strip left %d bytes of %d", len(opts.DataOut), len(pkt))
	}
}

func TestWindowsHooks(t *testing.T) {
	coll := load(t, anybpf.NewRuntimeConfig(), "testdata/ewin_bind.o")
	bindMD := func(pid uint64) []byte {
		md := make([]byte, 56)
		binary.LittleEndian.PutUint64(md[16:], pid)
		md[40] = 16
		binary.LittleEndian.PutUint32(md[44:], 0) // BIND_OPERATION_BIND
		md[48] = 6
		return md
	}
	for i, want := range []uint32{0, 0, 0, 1, 1} { // three binds permitted, then denied
		ret, err := coll.Programs["limit_binds"].Run(&anybpf.RunOptions{Data: []byte("app"), Context: bindMD(42)})
		if err != nil || ret != want {
			t.Fatalf("bind %d: %d, %v; want %d", i, ret, err, want)
		}
	}

	// ebpf-for-windows's bpf_sock_addr: user_port (network order) at 40.
	sockAddr := func(port uint16) []byte {
		sa := make([]byte, 64)
		binary.LittleEndian.PutUint32(sa[0:], 2) // AF_INET
		copy(sa[24:], []byte{198, 18, 0, 1})
		binary.BigEndian.PutUint16(sa[40:], port)
		binary.LittleEndian.PutUint32(sa[44:], 6)
		return sa
	}
	connect := coll.Programs["authorize_connect4"]
	opts := &anybpf.RunOptions{Context: sockAddr(443)}
	if ret, err := connect.Run(opts); err != nil || ret != 1 {
		t.Fatalf("connect to 443: %d, %v; want 1 (PROCEED_HARD, allowed)", ret, err)
	}
	if got := binary.BigEndian.Uint16(opts.ContextOut[40:]); got != 443 || len(opts.ContextOut) != 64 {
		t.Fatalf("context out: port %d, %d bytes", got, len(opts.ContextOut))
	}
	wantReject := uint32(0)
	if os.Getpid() == 1 {
		wantReject = 1
	}
	if ret, err := connect.Run(&anybpf.RunOptions{Context: sockAddr(80)}); err != nil || ret != wantReject {
		t.Fatalf("connect to 80: %d, %v; want %d", ret, err, wantReject)
	}
	if _, err := connect.Run(&anybpf.RunOptions{Context: make([]byte, 72)}); !errors.Is(err, anybpf.ErrInvalidInput) {
		t.Fatalf("a Linux-sized context for an ebpf-for-windows program: %v", err)
	}
	var cookie uint64
	if err := coll.Maps["cookies"].Lookup(nil, &cookie); err != nil || cookie == 0 {
		t.Fatalf("cookie pushed: %d, %v", cookie, err)
	}

	proc := make([]byte, 88)
	binary.LittleEndian.PutUint64(proc[24:], 7) // odd parent
	if ret, err := coll.Programs["odd_parent"].Run(&anybpf.RunOptions{Data: []byte("cmd"), Context: proc}); err != nil || ret != 1 {
		t.Fatalf("process: %d, %v", ret, err)
	}
}
