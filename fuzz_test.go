package anybpf

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/engine/interp"
	"github.com/anybpf/anybpf/isa"
	"github.com/anybpf/anybpf/maps"
)

// FuzzHelpers runs arbitrary programs with the runtime's helpers in checked mode, with
// the handles of real maps in r6..r9: whatever pointers and handles a program passes,
// helpers must refuse bad ones without crashing.
func FuzzHelpers(f *testing.F) {
	seeds := []string{
		// map_lookup_elem(hash, key on stack)
		"stw [%r10-4], 1\nmov %r1, %r6\nmov %r2, %r10\nadd %r2, -4\ncall 1\nexit",
		// map_update_elem with a bad key pointer
		"mov %r1, %r6\nmov %r2, 8\nmov %r3, %r10\nadd %r3, -8\nmov %r4, 0\ncall 2\nexit",
		// ringbuf_reserve + submit
		"mov %r1, %r9\nmov %r2, 16\nmov %r3, 0\ncall 131\njeq %r0, 0, +3\nmov %r1, %r0\nmov %r2, 0\ncall 132\nmov %r0, 0\nexit",
		// trace_printk with a stack format
		"stw [%r10-8], 0x0a6425\nmov %r1, %r10\nadd %r1, -8\nmov %r2, 8\nmov %r3, 7\ncall 6\nexit",
		// a bogus map handle
		"lddw %r1, 0xffffa00000000063\nmov %r2, %r10\ncall 1\nexit",
	}
	for _, s := range seeds {
		insns, err := isa.Assemble(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(isa.Encode(insns))
	}
	rt := NewRuntime(context.Background(), NewRuntimeConfig())
	var handles []uint64
	for _, spec := range []maps.Spec{
		{Name: "h", Type: maps.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 16},
		{Name: "a", Type: maps.Array, KeySize: 4, ValueSize: 8, MaxEntries: 4},
		{Name: "q", Type: maps.Queue, ValueSize: 8, MaxEntries: 4},
		{Name: "rb", Type: maps.RingBuf, MaxEntries: 4096},
	} {
		m, err := maps.New(spec, rt.epochs)
		if err != nil {
			f.Fatal(err)
		}
		lm := &Map{name: spec.Name, m: m, ncpu: 1, keySize: spec.KeySize, valueSz: spec.ValueSize}
		rt.register(lm)
		handles = append(handles, lm.handle)
	}
	table := rt.helperTable()
	f.Fuzz(func(t *testing.T, code []byte) {
		insns, err := isa.Decode(code)
		if err != nil {
			return
		}
		// Give the program the map handles in r6..r9 first.
		prologue := []isa.Instruction{}
		for i, h := range handles {
			prologue = append(prologue, isa.Instruction{OpCode: isa.OpLDDW, Dst: isa.Register(6 + i), Constant: int64(h)})
		}
		c, err := interp.Compile(append(prologue, insns...), engine.Config{Helpers: table, Checked: true, Budget: 10000})
		if err != nil {
			return
		}
		env := engine.NewEnv()
		env.Context = &invocation{rt: rt, env: env}
		g := rt.epochs.Enter()
		_, _ = c.Run(env, 0, 0)
		g.Leave()
	})
}

// FuzzLoadCollection loads arbitrary objects into a runtime with a memory limit, runs
// every program once under an instruction budget, and closes the collection: loading
// must fail cleanly or succeed, nothing may crash, and closing (or a failed load) must
// give back every byte charged.
func FuzzLoadCollection(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*.o")
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rt := NewRuntime(context.Background(), NewRuntimeConfig().WithMemoryLimit(64<<20).WithInstructionBudget(10000))
		coll, err := rt.LoadCollectionFromReader(bytes.NewReader(b), "fuzz.o")
		if err != nil {
			if n := rt.MemoryInUse(); n != 0 {
				t.Fatalf("failed load (%v) left %d bytes charged", err, n)
			}
			return
		}
		pkt := make([]byte, 64)
		copy(pkt, []byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00, 0x45})
		for _, p := range coll.Programs {
			_, _ = p.Run(&RunOptions{Data: pkt})
		}
		coll.Close()
		if n := rt.MemoryInUse(); n != 0 {
			t.Fatalf("closed collection left %d bytes charged", n)
		}
	})
}
