package anybpf

import (
	"context"
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
