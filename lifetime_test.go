package anybpf_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/anybpf/anybpf"
	"github.com/anybpf/anybpf/maps"
)

// TestOracleMapInMap runs lookups through an array of maps and a hash of maps, declared
// with initial values, in the kernel and in anybpf.
func TestOracleMapInMap(t *testing.T) {
	p := loadPair(t, "testdata/mapinmap.o")
	for _, sel := range [][2]byte{{0, 3}, {1, 3}, {1, 3}, {2, 3}, {0, 1}, {7, 3}} {
		p.run(t, "count_inner", frame(0x0800, string(sel[:])))
	}
	p.compareMaps(t, "inner_a", "inner_b", "inner_h")
}

func TestMapInMapUserSpace(t *testing.T) {
	rt, coll := loadIn(t, "testdata/mapinmap.o")
	defer coll.Close()
	outer, prog := coll.Maps["outer_array"], coll.Programs["count_inner"]
	run := func(slot byte) uint32 {
		t.Helper()
		ret, err := prog.Run(&anybpf.RunOptions{Data: frame(0x0800, string([]byte{slot, 3}))})
		if err != nil {
			t.Fatal(err)
		}
		return ret
	}

	// User space reads a slot as the inner map's id.
	var id uint32
	if err := outer.Lookup(uint32(1), &id); err != nil || id != coll.Maps["inner_b"].ID() {
		t.Fatalf("slot 1 holds id %d (%v), want inner_b's %d", id, err, coll.Maps["inner_b"].ID())
	}
	if err := outer.Lookup(uint32(2), &id); !errors.Is(err, anybpf.ErrKeyNotExist) {
		t.Fatalf("empty slot: %v, want ErrKeyNotExist", err)
	}
	if ret := run(2); ret != 1 { // XDP_DROP: empty slot
		t.Fatalf("empty slot: program returned %d", ret)
	}

	// A compatible map created by user space can be stored and is reached by programs.
	fresh, err := rt.NewMap(maps.Spec{Name: "fresh", Type: maps.Array, KeySize: 4, ValueSize: 8, MaxEntries: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := outer.Update(uint32(2), fresh, maps.UpdateAny); err != nil {
		t.Fatal(err)
	}
	if ret := run(2); ret != 2 {
		t.Fatalf("after storing a map in slot 2: program returned %d, want XDP_PASS", ret)
	}
	var n uint64
	if err := fresh.Lookup(uint32(2), &n); err != nil || n != 1 {
		t.Fatalf("fresh[2] = %d (%v), want 1", n, err)
	}

	// Incompatible maps are refused, naming what differs.
	for _, spec := range []maps.Spec{
		{Name: "wrong_type", Type: maps.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 4},
		{Name: "wrong_value", Type: maps.Array, KeySize: 4, ValueSize: 4, MaxEntries: 4},
		{Name: "wrong_entries", Type: maps.Array, KeySize: 4, ValueSize: 8, MaxEntries: 5},
	} {
		m, err := rt.NewMap(spec)
		if err != nil {
			t.Fatal(err)
		}
		if err := outer.Update(uint32(0), m, maps.UpdateAny); !errors.Is(err, maps.ErrInvalid) {
			t.Errorf("%s: stored in the array of maps (%v)", spec.Name, err)
		}
		m.Close()
	}
	if err := outer.Update(uint32(0), uint32(9999), maps.UpdateAny); !errors.Is(err, maps.ErrInvalid) {
		t.Errorf("a bad id was stored (%v)", err)
	}

	// The slot keeps the map alive after the user closes it; deleting the slot frees it.
	fresh.Close()
	if err := fresh.Lookup(uint32(2), &n); !errors.Is(err, anybpf.ErrClosed) {
		t.Fatalf("lookup after Close: %v, want ErrClosed", err)
	}
	if ret := run(2); ret != 2 {
		t.Fatalf("closed but stored map: program returned %d, want XDP_PASS", ret)
	}
	before := rt.MemoryInUse()
	if err := outer.Delete(uint32(2)); err != nil {
		t.Fatal(err)
	}
	if after := rt.MemoryInUse(); after != before-32 {
		t.Fatalf("memory in use went from %d to %d after the last reference to a 32-byte map went", before, after)
	}
	if ret := run(2); ret != 1 {
		t.Fatalf("after delete: program returned %d, want XDP_DROP", ret)
	}
}

func TestCollectionClose(t *testing.T) {
	rt, coll := loadIn(t, "testdata/xdp_counter.o")
	if rt.MemoryInUse() == 0 {
		t.Fatal("a loaded collection's maps are charged nothing")
	}
	counts := coll.DetachMap("counts")
	prog := coll.Programs["xdp_count"]
	coll.Close()
	if _, err := prog.Run(&anybpf.RunOptions{Data: frame(0x0800, "x")}); !errors.Is(err, anybpf.ErrClosed) {
		t.Fatalf("run after Close: %v, want ErrClosed", err)
	}
	if err := coll.Maps["by_proto"].Lookup(uint32(0), make([]byte, 8)); !errors.Is(err, anybpf.ErrClosed) {
		t.Fatalf("map lookup after Close: %v, want ErrClosed", err)
	}
	// The detached map stays usable and is all that is still charged.
	if err := counts.Update(uint32(0), uint64(7), maps.UpdateAny); err != nil {
		t.Fatalf("detached map: %v", err)
	}
	if got, want := rt.MemoryInUse(), counts.Spec().Footprint(1); got != want {
		t.Fatalf("memory in use %d, want the detached map's %d", got, want)
	}
	counts.Close()
	counts.Close() // idempotent
	noMemoryInUse(t, rt, "after everything was closed")
}

// A program keeps the maps it uses alive after the user closes them.
func TestProgramHoldsMaps(t *testing.T) {
	rt, coll := loadIn(t, "testdata/xdp_counter.o")
	prog := coll.DetachProgram("xdp_count")
	coll.Close()
	for i := 0; i < 3; i++ {
		if _, err := prog.Run(&anybpf.RunOptions{Data: frame(0x0800, "still counting")}); err != nil {
			t.Fatalf("run %d after the collection closed: %v", i, err)
		}
	}
	if rt.MemoryInUse() == 0 {
		t.Fatal("the program's maps were released while it still uses them")
	}
	prog.Close()
	noMemoryInUse(t, rt, "after the last program closed")
}

func TestMemoryLimit(t *testing.T) {
	// Find what the object needs, then give a runtime less.
	rt, coll := loadIn(t, "testdata/oracle_maps.o")
	need := rt.MemoryInUse()
	coll.Close()

	limited := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig().WithMemoryLimit(need-1))
	if _, err := limited.LoadCollection("testdata/oracle_maps.o"); !errors.Is(err, anybpf.ErrMemoryLimit) {
		t.Fatalf("load over the limit: %v, want ErrMemoryLimit", err)
	}
	noMemoryInUse(t, limited, "after a failed load")
	if _, err := limited.NewMap(maps.Spec{Name: "huge", Type: maps.Array, KeySize: 4, ValueSize: 1 << 20, MaxEntries: 1 << 20}); !errors.Is(err, anybpf.ErrMemoryLimit) {
		t.Fatalf("a 1 TiB array under a %d-byte limit: %v", need-1, err)
	}

	exact := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig().WithMemoryLimit(need))
	c2, err := exact.LoadCollection("testdata/oracle_maps.o")
	if err != nil {
		t.Fatalf("load at exactly the limit: %v", err)
	}
	c2.Close()
}

func TestRuntimeClose(t *testing.T) {
	rt, coll := loadIn(t, "testdata/mapinmap.o")
	rt.Close()
	noMemoryInUse(t, rt, "after the runtime closed")
	if _, err := coll.Programs["count_inner"].Run(&anybpf.RunOptions{Data: frame(0x0800, "xx")}); !errors.Is(err, anybpf.ErrClosed) {
		t.Fatalf("run after the runtime closed: %v", err)
	}
	if _, err := rt.LoadCollection("testdata/mapinmap.o"); !errors.Is(err, anybpf.ErrClosed) {
		t.Fatalf("load after the runtime closed: %v", err)
	}
}

// Programs keep running correctly while user space stores, replaces and frees the maps
// they reach through a map of maps (run under -race in CI).
func TestMapInMapChurn(t *testing.T) {
	rt, coll := loadIn(t, "testdata/mapinmap.o")
	defer coll.Close()
	outer, prog := coll.Maps["outer_array"], coll.Programs["count_inner"]
	done := make(chan struct{})
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			// outer_hash[1] is empty, so the program stops after its atomic add to the
			// inner array (its hash counter is a plain += that would race, as in Linux).
			pkt := frame(0x0800, string([]byte{2, 1}))
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				if ret, err := prog.Run(&anybpf.RunOptions{Data: pkt}); err != nil || (ret != 1 && ret != 3) {
					errs <- fmt.Errorf("run: %d, %v", ret, err)
					return
				}
			}
		}()
	}
	for i := 0; i < 300; i++ {
		m, err := rt.NewMap(maps.Spec{Name: "churn", Type: maps.Array, KeySize: 4, ValueSize: 8, MaxEntries: 4})
		if err != nil {
			t.Fatal(err)
		}
		if err := outer.Update(uint32(2), m, maps.UpdateAny); err != nil {
			t.Fatal(err)
		}
		m.Close()
		if i%2 == 0 {
			if err := outer.Delete(uint32(2)); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(done)
	for g := 0; g < 4; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	outer.Delete(uint32(2))
	coll.Close()
	noMemoryInUse(t, rt, "after everything was closed")
}

// bpf_get_socket_cookie: each test run's skb has a socket of its own, whose cookie is
// nonzero and stable through the run and its repetitions.
func TestOracleSocketCookie(t *testing.T) {
	p := loadPair(t, "testdata/cookie.o")
	pkt := ipv4(17, "cookie")
	for i := 0; i < 3; i++ {
		if ret := p.run(t, "cookie_stable", pkt); ret != 1 {
			t.Fatalf("run %d: returned %d, want 1", i, ret)
		}
	}
	kopts := &ebpf.RunOptions{Data: pkt, Repeat: 5}
	if _, err := p.kernel.Programs["cookie_stable"].Run(kopts); err != nil {
		t.Fatal(err)
	}
	if _, err := p.ours.Programs["cookie_stable"].Run(&anybpf.RunOptions{Data: pkt, Repeat: 5}); err != nil {
		t.Fatal(err)
	}
	p.compareMaps(t, "changed")
}

// Test-run input the kernel refuses (IPv4/IPv6 frames too short for their header, frames
// shorter than an Ethernet header) is refused by anybpf too, and the rest is accepted.
func TestOracleShortFrames(t *testing.T) {
	p := loadPair(t, "testdata/skb.o")
	for _, prog := range []string{"sock_proto", "tc_mark"} {
		for _, proto := range []uint16{0x0800, 0x86dd, 0x0806} {
			for n := 0; n <= 44; n++ {
				pkt := frame(proto, string(make([]byte, n)))
				_, kerr := p.kernel.Programs[prog].Run(&ebpf.RunOptions{Data: pkt})
				_, oerr := p.ours.Programs[prog].Run(&anybpf.RunOptions{Data: pkt})
				if (kerr != nil) != (oerr != nil) {
					t.Errorf("%s, type %#04x, %d bytes after Ethernet: kernel %v, anybpf %v", prog, proto, n, kerr, oerr)
				}
				if oerr != nil && !errors.Is(oerr, anybpf.ErrInvalidInput) {
					t.Errorf("%s: %v is not ErrInvalidInput", prog, oerr)
				}
			}
		}
		for _, pkt := range [][]byte{nil, make([]byte, 13)} {
			_, kerr := p.kernel.Programs[prog].Run(&ebpf.RunOptions{Data: pkt})
			_, oerr := p.ours.Programs[prog].Run(&anybpf.RunOptions{Data: pkt})
			if kerr == nil || oerr == nil {
				t.Errorf("%s on %d bytes: kernel %v, anybpf %v; both must refuse", prog, len(pkt), kerr, oerr)
			}
		}
	}
}

// Bad arguments from user space are errors, never panics.
func TestMapBadArguments(t *testing.T) {
	coll := load(t, anybpf.NewRuntimeConfig(), "testdata/xdp_counter.o")
	m := coll.Maps["counts"]
	var n uint64
	for name, err := range map[string]error{
		"nil key":          m.Lookup(nil, &n),
		"nil value out":    m.Lookup(uint32(0), nil),
		"short key":        m.Lookup(uint8(0), &n),
		"nil update":       m.Update(nil, nil, 0),
		"struct key":       m.Update(struct{ A, B uint64 }{}, uint64(1), 0),
		"bad flags":        m.Update(uint32(0), uint64(1), 99),
		"channel value":    m.Update(uint32(0), make(chan int), 0),
		"program in array": m.Update(uint32(0), coll.Programs["xdp_count"], 0),
		"map in array":     m.Update(uint32(0), m, 0),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestMapBatch(t *testing.T) {
	rt := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig())
	m, err := rt.NewMap(maps.Spec{Name: "batch", Type: maps.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 128})
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	keys, values := make([]byte, 4*n), make([]byte, 8*n)
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint32(keys[4*i:], uint32(i))
		binary.LittleEndian.PutUint64(values[8*i:], uint64(i*i))
	}
	if got, err := m.BatchUpdate(keys, values, maps.BatchOptions{}); err != nil || got != n {
		t.Fatalf("BatchUpdate: %d, %v", got, err)
	}
	var cursor maps.BatchCursor
	seen := map[uint32]uint64{}
	kb, vb := make([]byte, 4*32), make([]byte, 8*32)
	for {
		got, err := m.BatchLookup(&cursor, kb, vb, maps.BatchOptions{})
		for i := 0; i < got; i++ {
			seen[binary.LittleEndian.Uint32(kb[4*i:])] = binary.LittleEndian.Uint64(vb[8*i:])
		}
		if errors.Is(err, anybpf.ErrKeyNotExist) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != n || seen[7] != 49 {
		t.Fatalf("batch lookup saw %d elements, 7 -> %d", len(seen), seen[7])
	}
	if got, err := m.BatchDelete(keys[:40], maps.BatchOptions{}); err != nil || got != 10 {
		t.Fatalf("BatchDelete: %d, %v", got, err)
	}
	if err := m.Lookup(uint32(3), make([]byte, 8)); !errors.Is(err, anybpf.ErrKeyNotExist) {
		t.Fatalf("deleted key still there: %v", err)
	}
	m.Close()
	if _, err := m.BatchLookup(&maps.BatchCursor{}, kb, vb, maps.BatchOptions{}); !errors.Is(err, anybpf.ErrClosed) {
		t.Fatalf("batch after Close: %v", err)
	}
}

// Every load verifies: a program the verifier cannot prove safe is not loaded, and the
// error names the instruction, the failed condition and the source line.
func TestLoadVerifies(t *testing.T) {
	rt := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig())
	_, err := rt.LoadCollection("testdata/unverifiable.o")
	if !errors.Is(err, anybpf.ErrUnverifiable) {
		t.Fatalf("load of an unverifiable program: %v", err)
	}
	for _, want := range []string{"no_bounds_check", "r1 = *(u8 *)(r1 + 12)", "past the packet's end", "unverifiable.c:9"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	noMemoryInUse(t, rt, "after a refused load")
	// The test-only unverified mode loads it; checked mode still stops the bad access.
	unverified := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig().WithUnverifiedPrograms())
	coll, err := unverified.LoadCollection("testdata/unverifiable.o")
	if err != nil {
		t.Fatal(err)
	}
	if coll.Programs["no_bounds_check"].VerifiedInstructions() != 0 {
		t.Fatal("an unverified program reports verified instructions")
	}
	if _, err := coll.Programs["no_bounds_check"].Run(&anybpf.RunOptions{Data: frame(0x0800, "")[:14]}); err != nil {
		t.Fatalf("a 14-byte frame is in bounds: %v", err)
	}
	verified := load(t, anybpf.NewRuntimeConfig(), "testdata/xdp_counter.o")
	if verified.Programs["xdp_count"].VerifiedInstructions() == 0 {
		t.Fatal("a verified program reports no verified instructions")
	}
}

// The JIT runs the same objects with the same results as the interpreter.
func TestJITEngine(t *testing.T) {
	if _, err := anybpf.EngineByName("jit"); errors.Is(err, anybpf.ErrNotSupported) {
		t.Skip("no JIT on this platform")
	}
	results := map[string][]uint32{}
	maps := map[string]uint64{}
	for _, name := range []string{"interp", "jit"} {
		coll := load(t, anybpf.NewRuntimeConfig().WithEngine(name), "testdata/xdp_counter.o")
		for _, pkt := range [][]byte{frame(0x0800, "ipv4"), frame(0x86dd, "ipv6 packet"), frame(0x0806, "arp")} {
			opts := &anybpf.RunOptions{Data: pkt, Repeat: 3}
			ret, err := coll.Programs["xdp_count"].Run(opts)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			results[name] = append(results[name], ret)
		}
		var n uint64
		if err := coll.Maps["counts"].Lookup(uint32(0), &n); err != nil {
			t.Fatal(err)
		}
		maps[name] = n
	}
	if fmt.Sprint(results["interp"]) != fmt.Sprint(results["jit"]) || maps["interp"] != maps["jit"] || maps["jit"] == 0 {
		t.Fatalf("interp %v %d, jit %v %d", results["interp"], maps["interp"], results["jit"], maps["jit"])
	}
}

// loadIn loads path into a new default runtime.
func loadIn(t *testing.T, path string) (*anybpf.Runtime, *anybpf.Collection) {
	t.Helper()
	rt := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig())
	coll, err := rt.LoadCollection(path)
	if err != nil {
		t.Fatal(err)
	}
	return rt, coll
}

// noMemoryInUse fails the test when rt's maps are still charged anything after what
// should have released them all.
func noMemoryInUse(t *testing.T, rt *anybpf.Runtime, after string) {
	t.Helper()
	if got := rt.MemoryInUse(); got != 0 {
		t.Fatalf("memory in use %d %s", got, after)
	}
}
