//go:build amd64 && linux

package jit_test

import (
	"encoding/binary"
	"testing"

	"github.com/anybpf/anybpf/engine"
)

// TestInlineArrayLookup checks that bpf_map_lookup_elem on an array known at compile time
// runs without the helper in unchecked code (in range, out of range, strides that are
// and are not powers of two), and that checked code and unknown constants still call it.
func TestInlineArrayLookup(t *testing.T) {
	const handle = 0xffff_a000_0000_0001
	src := `lddw %r1, 0xffffa00000000001
		mov %r2, %r10
		add %r2, -4
		stxw [%r2], %r6
		call 1
		jeq %r0, 0, miss
		ldxdw %r0, [%r0]
		exit
		miss:
		mov %r0, -1
		exit`
	// r6 is the key: the entry sets it from r1.
	src = "mov %r6, %r1\n" + src
	for _, stride := range []uint32{8, 24, 64} {
		const n = 5
		values := engine.Memory(int(stride) * n)
		for i := range n {
			binary.LittleEndian.PutUint64(values[i*int(stride):], uint64(100+i))
		}
		calls := 0
		helper := func(env *engine.Env, r1, r2, _, _, _ uint64) uint64 { calls++; return 0 }
		info := engine.MapInfo{ArrayBase: engine.RegionOf("arr", values, true).Addr, ArrayStride: stride, ArrayLen: n}
		maps := func(h uint64) (engine.MapInfo, bool) { return info, h == handle }
		code := compile(t, src, engine.Config{Helpers: map[int32]engine.HelperFunc{1: helper}, Maps: maps})
		for _, key := range []uint64{0, 1, 4, 5, 6, 1 << 31, 0xffffffff, 1<<32 | 2} {
			got, err := code.Run(engine.NewEnv(), key, 0)
			if err != nil {
				t.Fatal(err)
			}
			want := ^uint64(0)
			if k := uint32(key); k < n {
				want = uint64(100 + k)
			}
			if got != want {
				t.Errorf("stride %d key %#x: %#x, want %#x", stride, key, got, want)
			}
		}
		if calls != 0 {
			t.Errorf("stride %d: the helper ran %d times, want inline lookups", stride, calls)
		}
		// Checked code keeps the helper (it checks the key pointer).
		code = compile(t, src, engine.Config{Helpers: map[int32]engine.HelperFunc{1: helper}, Maps: maps, Checked: true})
		if got, _ := code.Run(engine.NewEnv(), 1, 0); got != ^uint64(0) || calls != 1 {
			t.Errorf("checked: r0 %#x, %d helper calls; want the helper's null and 1 call", got, calls)
		}
		// A constant that is not a map: the helper.
		code = compile(t, src, engine.Config{Helpers: map[int32]engine.HelperFunc{1: helper}, Maps: func(uint64) (engine.MapInfo, bool) { return engine.MapInfo{}, false }})
		if code.Run(engine.NewEnv(), 1, 0); calls != 2 {
			t.Errorf("unknown map: %d helper calls, want 2", calls)
		}
	}
}
