package anybpf_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anybpf/anybpf"
	"github.com/anybpf/anybpf/engine/jit"
)

// TestJITSpecialisedMaps runs the programs of testdata/jitmaps.o, whose map lookups and
// tail calls the JIT specialises for verified programs (inline array lookups, hash
// lookups bound to their map, tail calls within native code), in the interpreter and in
// the JIT on the same packets, and compares return values and map contents after each.
func TestJITSpecialisedMaps(t *testing.T) {
	if !jit.Supported {
		t.Skip("no JIT on this platform")
	}
	interp := load(t, anybpf.NewRuntimeConfig().WithEngine("interp"), "testdata/jitmaps.o")
	native := load(t, anybpf.NewRuntimeConfig().WithEngine("jit"), "testdata/jitmaps.o")
	dump := func(c *anybpf.Collection) string {
		var s []string
		for _, name := range []string{"arr", "hash", ".bss"} {
			m := c.Maps[name]
			var k, next []byte
			for {
				next = make([]byte, 4)
				if err := m.NextKey(k, next); err != nil {
					break
				}
				v := make([]byte, 24)
				if name != "arr" {
					v = v[:8]
				}
				if err := m.Lookup(next, v); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				s = append(s, fmt.Sprintf("%s[%x]=%x", name, next, v))
				k = next
			}
		}
		slices.Sort(s) // hash iteration order is not the insertion order
		return strings.Join(s, " ")
	}
	type step struct {
		prog     string
		key, idx uint32
	}
	var steps []step
	for _, k := range []uint32{0, 7, 3, 8, 9, 200, 1 << 31, 0xffffffff, 7, 0} {
		steps = append(steps, step{"array_lookup", k, 0}, step{"hash_lookup", k, 0}, step{"hash_lookup", k, 0})
	}
	for _, i := range []uint32{0, 1, 2, 3, 4, 1 << 31, 0xffffffff, 1, 0} {
		steps = append(steps, step{"tail_entry", 0, i}, step{"tail_a", 0, i})
	}
	for _, s := range steps {
		pkt := make([]byte, 64)
		binary.LittleEndian.PutUint32(pkt, s.key)
		binary.LittleEndian.PutUint32(pkt[4:], s.idx)
		want, err := interp.Programs[s.prog].Run(&anybpf.RunOptions{Data: pkt})
		if err != nil {
			t.Fatalf("interp %+v: %v", s, err)
		}
		got, err := native.Programs[s.prog].Run(&anybpf.RunOptions{Data: pkt})
		if err != nil {
			t.Fatalf("jit %+v: %v", s, err)
		}
		if got != want {
			t.Errorf("%+v: jit returned %d, interpreter %d", s, got, want)
		}
		if w, g := dump(interp), dump(native); w != g {
			t.Fatalf("%+v: maps differ\ninterp: %s\njit:    %s", s, w, g)
		}
	}
}

// TestJITTailCallReplacement changes a program array while runs tail call through it
// within native code: the slot is pointed at one program, another, a program of another
// collection that is then closed, and emptied; every run must see one of them whole.
func TestJITTailCallReplacement(t *testing.T) {
	if !jit.Supported {
		t.Skip("no JIT on this platform")
	}
	rt := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig().WithEngine("jit"))
	defer rt.Close()
	coll, err := rt.LoadCollection("testdata/jitmaps.o")
	if err != nil {
		t.Fatal(err)
	}
	progs := coll.Maps["progs"]
	pkt := make([]byte, 64)
	binary.LittleEndian.PutUint32(pkt[4:], 1)
	done := make(chan struct{})
	errs := make(chan error, 1)
	go func() {
		defer close(errs)
		for {
			select {
			case <-done:
				return
			default:
			}
			ret, err := coll.Programs["tail_entry"].Run(&anybpf.RunOptions{Data: pkt, Repeat: 50})
			// 7: tail_b; 5: tail_a, which calls slot 1 until the limit; 3: empty slot.
			if err != nil || ret != 7 && ret != 5 && ret != 3 {
				errs <- fmt.Errorf("run: %d, %v", ret, err)
				return
			}
		}
	}()
	for i := 0; i < 300; i++ {
		switch i % 4 {
		case 0:
			err = progs.Update(uint32(1), coll.Programs["tail_a"], 0)
		case 1:
			err = progs.Update(uint32(1), coll.Programs["tail_b"], 0)
		case 2:
			other, lerr := rt.LoadCollection("testdata/jitmaps.o")
			if lerr != nil {
				t.Fatal(lerr)
			}
			err = progs.Update(uint32(1), other.Programs["tail_b"], 0)
			time.Sleep(100 * time.Microsecond)
			other.Close()
			runtime.GC()
		case 3:
			err = progs.Delete(uint32(1))
		}
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Microsecond)
	}
	close(done)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}
