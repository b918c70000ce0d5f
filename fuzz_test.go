package anybpf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/engine/interp"
	"github.com/anybpf/anybpf/internal/elfload"
	"github.com/anybpf/anybpf/isa"
	"github.com/anybpf/anybpf/maps"
	"github.com/anybpf/anybpf/progtype"
	"github.com/anybpf/anybpf/verifier"
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
		lm := &Map{name: spec.Name, m: m, ncpu: 1, typ: spec.Type, keySize: spec.KeySize, valueSz: spec.ValueSize}
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

// FuzzVerifierSound checks the verifier against checked mode: a program the verifier
// accepts must never make the interpreter's checked mode report a bad memory access or
// register read, whatever packet it runs on.
func FuzzVerifierSound(f *testing.F) {
	for _, s := range []string{
		"ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, +2\nldxb %r0, [%r2+13]\nexit\nmov %r0, 1\nexit",
		"stw [%r10-4], 0\nlddw %r1, 0xabcd\nmov %r2, %r10\nadd %r2, -4\ncall 1\njeq %r0, 0, +2\nldxdw %r0, [%r0+0]\nmov %r0, 2\nexit",
		"mov %r0, 0\nmov %r1, 0\nadd %r0, %r1\nadd %r1, 1\njlt %r1, 10, -3\nexit",
	} {
		insns, err := isa.Assemble(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(isa.Encode(insns), uint16(64))
	}
	rt := NewRuntime(context.Background(), NewRuntimeConfig().WithInstructionBudget(100000))
	eng, _ := rt.engine()
	hash, err := rt.NewMap(maps.Spec{Name: "hash", Type: maps.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 16})
	if err != nil {
		f.Fatal(err)
	}
	coll := &Collection{Maps: map[string]*Map{"hash": hash}, Programs: map[string]*Program{}}
	vmaps := []verifier.MapInfo{{Name: "hash", Type: maps.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 16, Inner: -1}}
	f.Fuzz(func(t *testing.T, code []byte, size uint16) {
		insns, err := isa.Decode(code)
		if err != nil {
			return
		}
		ps := &elfload.ProgramSpec{Name: "fuzz", Type: progtype.XDP, Instructions: insns}
		vp := &verifier.Program{Instructions: insns, Type: progtype.XDP, Maps: vmaps}
		for i, ins := range insns {
			if ins.IsLDDW() && ins.Constant == 0xabcd {
				ps.References = append(ps.References, elfload.Reference{Instruction: i, Map: "hash"})
				vp.MapRefs = append(vp.MapRefs, verifier.MapRef{Instruction: i, Map: 0})
			}
		}
		if _, err := verifier.Verify(vp, &verifier.Options{MaxInstructions: 50000}); err != nil {
			return
		}
		p, err := rt.loadProgram(eng, ps, coll)
		if err != nil {
			return
		}
		defer p.releaseMaps()
		pkt := make([]byte, 14+int(size%1500))
		for i := range pkt {
			pkt[i] = byte(i * 7)
		}
		if _, err := p.Run(&RunOptions{Data: pkt}); err != nil && !errors.Is(err, engine.ErrBudgetExceeded) {
			t.Fatalf("verified program failed in checked mode: %v\n%s", err, isa.Disassemble(insns, isa.SyntaxLLVM))
		}
	})
}

// genProgram builds a random XDP program from seed whose shape the verifier has to think
// about: packet bounds checks with random lengths followed by accesses at random offsets,
// stack stores and loads at random places, map lookups with and without null checks,
// pointer arithmetic, and forward branches on packet bytes.
func genProgram(seed uint64) string {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var b strings.Builder
	b.WriteString("ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r6, %r2\nmov %r0, 0\n")
	label := 0
	for n := r.IntN(8) + 1; n > 0; n-- {
		switch r.IntN(7) {
		case 0: // bounds check then access
			k := r.IntN(80)
			off := r.IntN(k+8) - 4
			size := []string{"b", "h", "w", "dw"}[r.IntN(4)]
			fmt.Fprintf(&b, "mov %%r4, %%r6\nadd %%r4, %d\njgt %%r4, %%r3, l%d\nldx%s %%r5, [%%r6%+d]\nadd %%r0, %%r5\nl%d:\n", k, label, size, off, label)
			label++
		case 1: // move the packet pointer
			fmt.Fprintf(&b, "add %%r6, %d\n", r.IntN(20)-4)
		case 2: // stack store and load
			off := -8 * (r.IntN(8) + 1)
			if r.IntN(2) == 0 {
				fmt.Fprintf(&b, "stdw [%%r10%+d], %d\n", off, r.IntN(100))
			}
			fmt.Fprintf(&b, "ldxdw %%r5, [%%r10%+d]\nadd %%r0, %%r5\n", -8*(r.IntN(8)+1))
		case 3: // map lookup, maybe checked
			fmt.Fprintf(&b, "stw [%%r10-4], %d\nlddw %%r1, 0xabcd\nmov %%r2, %%r10\nadd %%r2, -4\ncall 1\n", r.IntN(4))
			if r.IntN(4) != 0 {
				fmt.Fprintf(&b, "jeq %%r0, 0, l%d\n", label)
			}
			fmt.Fprintf(&b, "ldxdw %%r5, [%%r0%+d]\nl%d:\nmov %%r0, 0\nldxw %%r2, [%%r10-4]\n", 8*r.IntN(2), label)
			label++
			// the call clobbered r1-r5: reload the packet pointers
			b.WriteString("ldxw %r3, [%r10-4]\n")
		case 4: // branch on a packet byte after a check
			fmt.Fprintf(&b, "mov %%r4, %%r6\nadd %%r4, 1\njgt %%r4, %%r3, l%d\nldxb %%r5, [%%r6+0]\njeq %%r5, %d, l%d\nadd %%r0, 1\nl%d:\n", label, r.IntN(256), label, label)
			label++
		case 5: // arithmetic
			fmt.Fprintf(&b, "mov %%r5, %d\nand %%r5, %d\nadd %%r0, %%r5\n", r.IntN(1000), r.IntN(64))
		case 6: // spill and fill the packet pointers
			fmt.Fprintf(&b, "stxdw [%%r10-48], %%r6\nstxdw [%%r10-56], %%r3\nadd %%r6, %d\nldxdw %%r3, [%%r10-56]\n", r.IntN(8))
			if r.IntN(2) == 0 {
				b.WriteString("ldxdw %r6, [%r10-48]\n")
			}
		}
	}
	b.WriteString("mov %r0, 2\nexit\n")
	return b.String()
}

// FuzzVerifierSoundStructured is FuzzVerifierSound on generated programs that look like
// real packet code, so that many of them verify and run.
func FuzzVerifierSoundStructured(f *testing.F) {
	for s := uint64(0); s < 16; s++ {
		f.Add(s, uint16(64))
	}
	rt := NewRuntime(context.Background(), NewRuntimeConfig().WithInstructionBudget(100000))
	eng, _ := rt.engine()
	hash, err := rt.NewMap(maps.Spec{Name: "hash", Type: maps.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 16})
	if err != nil {
		f.Fatal(err)
	}
	for k := uint32(0); k < 2; k++ {
		hash.Update(k, uint64(k), 0)
	}
	coll := &Collection{Maps: map[string]*Map{"hash": hash}, Programs: map[string]*Program{}}
	vmaps := []verifier.MapInfo{{Name: "hash", Type: maps.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 16, Inner: -1}}
	f.Fuzz(func(t *testing.T, seed uint64, size uint16) {
		src := genProgram(seed)
		insns, err := isa.Assemble(src)
		if err != nil {
			t.Fatalf("generator: %v\n%s", err, src)
		}
		ps := &elfload.ProgramSpec{Name: "gen", Type: progtype.XDP, Instructions: insns}
		vp := &verifier.Program{Instructions: insns, Type: progtype.XDP, Maps: vmaps}
		for i, ins := range insns {
			if ins.IsLDDW() && ins.Constant == 0xabcd {
				ps.References = append(ps.References, elfload.Reference{Instruction: i, Map: "hash"})
				vp.MapRefs = append(vp.MapRefs, verifier.MapRef{Instruction: i, Map: 0})
			}
		}
		if _, err := verifier.Verify(vp, nil); err != nil {
			return
		}
		p, err := rt.loadProgram(eng, ps, coll)
		if err != nil {
			t.Fatalf("load: %v", err)
		}
		defer p.releaseMaps()
		pkt := make([]byte, 14+int(size%200))
		for i := range pkt {
			pkt[i] = byte(i * 13)
		}
		if _, err := p.Run(&RunOptions{Data: pkt}); err != nil {
			t.Fatalf("verified program failed in checked mode on %d bytes: %v\n%s", len(pkt), err, src)
		}
	})
}
