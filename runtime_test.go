package anybpf_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/anybpf/anybpf"
	"github.com/anybpf/anybpf/maps"
	"github.com/anybpf/anybpf/progtype"
)

// Linux's XDP return codes.
const (
	xdpAborted = 0
	xdpDrop    = 1
	xdpPass    = 2
	xdpTX      = 3
)

func frame(proto uint16, payload string) []byte {
	b := make([]byte, 14, 14+len(payload))
	copy(b, []byte{0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2})
	binary.BigEndian.PutUint16(b[12:], proto)
	return append(b, payload...)
}

func load(t *testing.T, cfg anybpf.RuntimeConfig, path string) *anybpf.Collection {
	t.Helper()
	coll, err := anybpf.NewRuntime(context.Background(), cfg).LoadCollection(path)
	if err != nil {
		t.Fatal(err)
	}
	return coll
}

func TestXDPCounter(t *testing.T) {
	coll := load(t, anybpf.NewRuntimeConfig(), "testdata/xdp_counter.o")
	prog := coll.Programs["xdp_count"]
	for i, tc := range []struct {
		data []byte
		want uint32
	}{
		{frame(0x0800, "ipv4 packet"), xdpPass},
		{frame(0x86dd, "ipv6 packet"), xdpDrop},
		{frame(0x0800, "ipv4 again"), xdpPass},
		{[]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}, xdpPass}, // proto 0x0d0e
	} {
		opts := &anybpf.RunOptions{Data: tc.data}
		ret, err := prog.Run(opts)
		if err != nil || ret != tc.want {
			t.Fatalf("packet %d: ret %d, %v; want %d", i, ret, err, tc.want)
		}
		if !bytes.Equal(opts.DataOut, tc.data) {
			t.Fatalf("packet %d: data out %x", i, opts.DataOut)
		}
	}
	// Repeat runs on the same buffer without resetting maps.
	opts := &anybpf.RunOptions{Data: frame(0x0800, "x"), Repeat: 10}
	if ret, err := prog.Run(opts); err != nil || ret != xdpPass || opts.Duration <= 0 {
		t.Fatalf("repeat: %d, %v, %v", ret, err, opts.Duration)
	}
	var n uint64
	if err := coll.Maps["counts"].Lookup(uint32(0), &n); err != nil || n != 14 {
		t.Fatalf("counts[0] = %d, %v; want 14", n, err)
	}
	for proto, want := range map[uint16]uint64{0x0800: 12, 0x86dd: 1, 0x0d0e: 1} {
		if err := coll.Maps["by_proto"].Lookup(proto, &n); err != nil || n != want {
			t.Errorf("by_proto[%#x] = %d, %v; want %d", proto, n, err, want)
		}
	}
	if err := coll.Maps["by_proto"].Lookup(uint16(0x1234), &n); !errors.Is(err, anybpf.ErrKeyNotExist) {
		t.Errorf("missing key: %v", err)
	}
	if err := coll.Maps[".bss"].Lookup(uint32(0), &n); err != nil || n != 14 {
		t.Errorf("global packets = %d, %v; want 14", n, err)
	}
	// .rodata is read-only to the program; user space can still change it (anybpf does
	// not freeze it yet), and the program sees the new value.
	rodata := make([]byte, coll.Maps[".rodata"].Spec().ValueSize)
	if err := coll.Maps[".rodata"].Lookup(uint32(0), rodata); err != nil {
		t.Fatal(err)
	}
	if binary.LittleEndian.Uint16(rodata) != 0x86dd {
		t.Fatalf(".rodata starts with %x, want drop_proto 0x86dd", rodata[:2])
	}
	binary.LittleEndian.PutUint16(rodata, 0x0800)
	if err := coll.Maps[".rodata"].Update(uint32(0), rodata, 0); err != nil {
		t.Fatal(err)
	}
	if ret, err := prog.Run(&anybpf.RunOptions{Data: frame(0x0800, "now dropped")}); err != nil || ret != xdpDrop {
		t.Fatalf("after changing drop_proto: %d, %v", ret, err)
	}
}

func TestXDPAdjustHeadAndTrace(t *testing.T) {
	var log strings.Builder
	coll := load(t, anybpf.NewRuntimeConfig().WithTraceLog(&log), "testdata/xdp_counter.o")
	in := frame(0x0800, "payload")
	opts := &anybpf.RunOptions{Data: in}
	ret, err := coll.Programs["xdp_strip2"].Run(opts)
	if err != nil || ret != xdpTX {
		t.Fatalf("ret %d, %v", ret, err)
	}
	if !bytes.Equal(opts.DataOut, in[2:]) {
		t.Fatalf("data out %x, want %x", opts.DataOut, in[2:])
	}
	if got, want := log.String(), "first byte 0, length 19\n"; got != want {
		t.Fatalf("trace log %q, want %q", got, want)
	}
	if _, err := coll.Programs["xdp_strip2"].Run(&anybpf.RunOptions{Data: []byte{1, 2}}); err == nil {
		t.Fatal("a 2-byte XDP packet was accepted")
	}
}

func TestBadPrograms(t *testing.T) {
	rt := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig().WithEngine("warp"))
	if _, err := rt.LoadCollection("testdata/xdp_counter.o"); err == nil || !strings.Contains(err.Error(), `unknown engine "warp"`) {
		t.Fatalf("unknown engine: %v", err)
	}
	if _, err := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig()).LoadCollection("testdata/missing.o"); err == nil {
		t.Fatal("missing file loaded")
	}
}

func TestTailCalls(t *testing.T) {
	coll := load(t, anybpf.NewRuntimeConfig(), "testdata/tailcall.o")
	pkt := frame(0x0800, "tail")
	run := func(name string) uint32 {
		t.Helper()
		ret, err := coll.Programs[name].Run(&anybpf.RunOptions{Data: pkt})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return ret
	}
	if ret := run("entry"); ret != xdpTX {
		t.Fatalf("entry → stage1 → stage2 returned %d, want XDP_TX", ret)
	}
	bss := make([]byte, 16) // hops, loops
	if err := coll.Maps[".bss"].Lookup(uint32(0), bss); err != nil {
		t.Fatal(err)
	}
	if n := binary.LittleEndian.Uint64(bss); n != 2 {
		t.Fatalf("hops = %d, want 2", n)
	}
	if ret := run("empty_slot"); ret != xdpPass {
		t.Fatalf("tail call to an empty slot: %d, want the caller's XDP_PASS", ret)
	}
	// Point slot 0 at self_loop: it runs once plus 33 tail calls, then the call fails.
	if err := coll.Maps["jmp"].Update(uint32(0), coll.Programs["self_loop"], 0); err != nil {
		t.Fatal(err)
	}
	if ret := run("self_loop"); ret != xdpPass {
		t.Fatalf("self_loop returned %d", ret)
	}
	coll.Maps[".bss"].Lookup(uint32(0), bss)
	if loops := binary.LittleEndian.Uint64(bss[8:]); loops != 1+anybpf.MaxTailCalls {
		t.Fatalf("self_loop ran %d times, want %d", loops, 1+anybpf.MaxTailCalls)
	}
	var id uint32
	if err := coll.Maps["jmp"].Lookup(uint32(1), &id); err != nil || id != coll.Programs["stage1"].ID() {
		t.Fatalf("slot 1 holds %d, %v; want stage1's id %d", id, err, coll.Programs["stage1"].ID())
	}
}

func TestPerfEventOutput(t *testing.T) {
	rt := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig())
	coll, err := rt.LoadCollection("testdata/perf.o")
	if err != nil {
		t.Fatal(err)
	}
	pkt := frame(0x0800, "perf sample")
	prog := coll.Programs["report"]
	if ret, err := prog.Run(&anybpf.RunOptions{Data: pkt}); err != nil || ret != xdpDrop {
		t.Fatalf("without a reader: %d, %v (want XDP_DROP: the output fails)", ret, err)
	}
	rd, err := maps.NewPerfReader(coll.Maps["events"].Underlying().(*maps.PerfEvents), rt.NumCPU(), 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	if ret, err := prog.Run(&anybpf.RunOptions{Data: pkt, Repeat: 3}); err != nil || ret != xdpPass {
		t.Fatalf("with a reader: %d, %v", ret, err)
	}
	for i := 0; i < 3; i++ {
		rec, err := rd.Read()
		if err != nil {
			t.Fatal(err)
		}
		want := append(binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, uint32(len(pkt))), 0xfeedf00d), pkt[:14]...)
		if !bytes.Equal(rec.RawSample, want) {
			t.Fatalf("sample %d: %x, want %x", i, rec.RawSample, want)
		}
	}
}

// TestConcurrentPrograms: 8 goroutines run a program that updates a shared hash map and a
// per-CPU array while user space inserts, iterates and deletes other keys; the final
// counts are exact. Run with -race.
func TestConcurrentPrograms(t *testing.T) {
	rt := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig())
	coll, err := rt.LoadCollection("testdata/concurrent.o")
	if err != nil {
		t.Fatal(err)
	}
	const workers, runs = 8, 300
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			pkt := frame(0x0800, string([]byte{byte(w)}))
			if _, err := coll.Programs["count"].Run(&anybpf.RunOptions{Data: pkt, Repeat: runs}); err != nil {
				errs <- err
			}
		}(w)
	}
	stop := make(chan struct{})
	var deleted atomic.Int64
	var churn sync.WaitGroup
	churn.Add(1)
	go func() {
		defer churn.Done()
		m := coll.Maps["by_key"]
		next := make([]byte, 4)
		for i := uint32(0); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			m.Update(100+i%50, uint64(i), 0)
			var key []byte
			for m.NextKey(key, next) == nil {
				key = append(key[:0], next...)
				if k := binary.LittleEndian.Uint32(next); k >= 100 && i%2 == 0 {
					if err := m.Delete(k); err == nil {
						deleted.Add(1)
					}
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	churn.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var sum uint64
	for k := uint32(0); k < 4; k++ {
		var v uint64
		if err := coll.Maps["by_key"].Lookup(k, &v); err != nil {
			t.Fatalf("key %d: %v", k, err)
		}
		if v != 2*runs { // two workers per key
			t.Errorf("key %d counted %d, want %d", k, v, 2*runs)
		}
		sum += v
	}
	perCPU := make([]byte, 8*rt.NumCPU())
	if err := coll.Maps["total"].Lookup(uint32(0), perCPU); err != nil {
		t.Fatal(err)
	}
	var total uint64
	for cpu := 0; cpu < rt.NumCPU(); cpu++ {
		total += binary.LittleEndian.Uint64(perCPU[8*cpu:])
	}
	if sum != workers*runs || total != workers*runs {
		t.Fatalf("hash sum %d, per-CPU total %d; want %d", sum, total, workers*runs)
	}
	t.Logf("user space deleted %d entries meanwhile", deleted.Load())
}

func TestHelperNotOffered(t *testing.T) {
	_, err := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig()).LoadCollection("testdata/bad_helper.o")
	if !errors.Is(err, progtype.ErrHelperNotAllowed) || !strings.Contains(err.Error(), "bpf_xdp_adjust_head") {
		t.Fatalf("LoadCollection = %v, want a refusal naming bpf_xdp_adjust_head", err)
	}
}

func sockAddr4(ip uint32, port uint16) []byte {
	sa := make([]byte, 72)
	binary.LittleEndian.PutUint32(sa[0:], 2) // AF_INET
	binary.BigEndian.PutUint32(sa[4:], ip)
	binary.BigEndian.PutUint16(sa[24:], port)
	binary.LittleEndian.PutUint32(sa[28:], 2)
	binary.LittleEndian.PutUint32(sa[32:], 1) // SOCK_STREAM
	binary.LittleEndian.PutUint32(sa[36:], 6) // TCP
	return sa
}

func TestSockAddr(t *testing.T) {
	coll := load(t, anybpf.NewRuntimeConfig(), "testdata/sockaddr.o")
	prog := coll.Programs["connect4"]
	for _, tc := range []struct {
		ip       uint32
		port     uint16
		ret      uint32
		wantIP   uint32
		wantPort uint16
	}{
		{0xc6120a0a, 80, 1, 0x7f000001, 8080}, // the virtual service: redirected
		{0xc6120a0a, 443, 1, 0xc6120a0a, 443},
		{0xc6120001, 23, 0, 0xc6120001, 23}, // denied
	} {
		opts := &anybpf.RunOptions{Context: sockAddr4(tc.ip, tc.port)}
		ret, err := prog.Run(opts)
		if err != nil || ret != tc.ret {
			t.Fatalf("%x:%d: ret %d, %v; want %d", tc.ip, tc.port, ret, err, tc.ret)
		}
		gotIP, gotPort := binary.BigEndian.Uint32(opts.ContextOut[4:]), binary.BigEndian.Uint16(opts.ContextOut[24:])
		if gotIP != tc.wantIP || gotPort != tc.wantPort {
			t.Errorf("%x:%d became %x:%d, want %x:%d", tc.ip, tc.port, gotIP, gotPort, tc.wantIP, tc.wantPort)
		}
	}
	if _, err := prog.Run(&anybpf.RunOptions{Context: make([]byte, 10)}); err == nil {
		t.Fatal("a 10-byte bpf_sock_addr was accepted")
	}
	var n uint64
	if err := coll.Maps[".bss"].Lookup(uint32(0), &n); err != nil || n != 3 {
		t.Fatalf("connects = %d, %v", n, err)
	}
}

func TestBindAndProcess(t *testing.T) {
	coll := load(t, anybpf.NewRuntimeConfig(), "testdata/hooks.o")
	bindMD := func(port uint16, op byte) []byte {
		md := make([]byte, 56)
		binary.LittleEndian.PutUint16(md[24:], 2) // AF_INET
		binary.BigEndian.PutUint16(md[26:], port)
		md[40] = 16
		binary.LittleEndian.PutUint32(md[44:], uint32(op))
		md[48] = 6
		return md
	}
	if err := coll.Maps["allowed_ports"].Update(uint16(8080), []byte{1}, 0); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		port uint16
		op   byte
		want uint32
	}{{8080, 0, 0}, {22, 0, 1}, {22, 2, 0}} {
		ret, err := coll.Programs["bind_policy"].Run(&anybpf.RunOptions{Data: []byte("/usr/bin/server"), Context: bindMD(tc.port, tc.op)})
		if err != nil || ret != tc.want {
			t.Errorf("bind port %d op %d: %d, %v; want %d", tc.port, tc.op, ret, err, tc.want)
		}
	}
	for _, tc := range []struct {
		cmd  string
		want uint32
	}{{"nc -l 4444", 1}, {"ls -l", 0}, {"nc", 0}} {
		ret, err := coll.Programs["exec_audit"].Run(&anybpf.RunOptions{Data: []byte(tc.cmd), Context: make([]byte, 88)})
		if err != nil || ret != tc.want {
			t.Errorf("exec %q: %d, %v; want %d", tc.cmd, ret, err, tc.want)
		}
	}
	var n uint64
	if err := coll.Maps[".bss"].Lookup(uint32(0), &n); err != nil || n != 3 {
		t.Fatalf("execs = %d, %v", n, err)
	}
}

// TestProcessSpans runs a PROCESS program with and without an image path, and one that
// reads the image path as far as the command line reaches, which the verifier allows:
// the runtime's layout of the spans keeps every such read in memory it owns.
func TestProcessSpans(t *testing.T) {
	coll := load(t, anybpf.NewRuntimeConfig(), "testdata/process_spans.o")
	long := bytes.Repeat([]byte("x"), 100)
	for _, tc := range []struct {
		name       string
		cmd, image []byte
		want       uint32
	}{
		{"no spans", nil, nil, 0},
		{"short command", []byte("ls"), []byte("/usr/bin/ls"), 0},
		{"long command, short image", long, []byte("/bin/ls"), 1}, // image[63] is padding: 0
		{"long image", long, append(bytes.Repeat([]byte("y"), 63), 'z'), 'z' + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, eng := range []string{"interp", "jit"} {
				c := coll
				if eng == "jit" {
					if _, err := anybpf.EngineByName("jit"); err != nil {
						continue
					}
					c = load(t, anybpf.NewRuntimeConfig().WithEngine("jit"), "testdata/process_spans.o")
				}
				ctxOut := []byte{}
				opts := &anybpf.RunOptions{Data: tc.cmd, ImagePath: tc.image, Context: make([]byte, 88), ContextOut: ctxOut}
				ret, err := c.Programs["mixed_spans"].Run(opts)
				if err != nil || ret != tc.want {
					t.Errorf("%s: %d, %v; want %d", eng, ret, err, tc.want)
				}
				if !bytes.Equal(opts.ContextOut, make([]byte, 88)) {
					t.Errorf("%s: context out %x: pointers leaked", eng, opts.ContextOut)
				}
			}
		})
	}
	if _, err := coll.Programs["mixed_spans"].Run(&anybpf.RunOptions{Context: make([]byte, 88)}); err != nil {
		t.Fatal(err)
	}
	hooks := load(t, anybpf.NewRuntimeConfig(), "testdata/hooks.o")
	if _, err := hooks.Programs["bind_policy"].Run(&anybpf.RunOptions{ImagePath: []byte("x"), Context: make([]byte, 56)}); !errors.Is(err, anybpf.ErrInvalidInput) {
		t.Errorf("bind run with an image path: %v, want ErrInvalidInput", err)
	}
}
