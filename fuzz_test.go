package anybpf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
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
	for _, code := range realSeeds() {
		f.Add(code, uint16(100))
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

// realSeeds returns the XDP programs of the repository's test objects and of the sample
// corpus (when it is beside the repository), their map references turned into the
// harness's hash map (programs that load map values' addresses are left out), so that
// FuzzVerifierSound mutates real programs too.
func realSeeds() [][]byte {
	paths, _ := filepath.Glob(filepath.Join("testdata", "*.o"))
	corpus, _ := filepath.Glob(filepath.Join("..", "shared", "corpus", "ebpf-samples", "*", "*.o"))
	var out [][]byte
	for _, path := range append(paths, corpus...) {
		obj, err := elfload.LoadFile(path)
		if err != nil {
			continue
		}
		for _, ps := range obj.Programs {
			if ps.Type == progtype.XDP && len(ps.Instructions) <= 4096 && !slices.ContainsFunc(ps.References, func(r elfload.Reference) bool { return r.Value }) {
				insns := slices.Clone(ps.Instructions)
				for _, ref := range ps.References {
					insns[ref.Instruction] = isa.Instruction{OpCode: isa.OpLDDW, Dst: insns[ref.Instruction].Dst, Constant: 0xabcd}
				}
				out = append(out, isa.Encode(insns))
			}
		}
	}
	return out
}

// structuredHarness verifies generated programs and runs the accepted ones in checked
// mode, with the maps the generator refers to: "hash" (lddw 0xabcd, 8-byte values, keys
// 0 and 1 present) and "array" (lddw 0xabce, 32-byte values, 4 entries).
type structuredHarness struct {
	rt    *Runtime
	eng   engine.Engine
	coll  *Collection
	vmaps []verifier.MapInfo
}

func newStructuredHarness(tb testing.TB) *structuredHarness {
	rt := NewRuntime(context.Background(), NewRuntimeConfig().WithInstructionBudget(1<<22))
	eng, err := rt.engine()
	if err != nil {
		tb.Fatal(err)
	}
	hash, err := rt.NewMap(maps.Spec{Name: "hash", Type: maps.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 16})
	if err != nil {
		tb.Fatal(err)
	}
	for k := uint32(0); k < 2; k++ {
		hash.Update(k, uint64(k), 0)
	}
	array, err := rt.NewMap(maps.Spec{Name: "array", Type: maps.Array, KeySize: 4, ValueSize: 32, MaxEntries: 4})
	if err != nil {
		tb.Fatal(err)
	}
	return &structuredHarness{
		rt: rt, eng: eng,
		coll: &Collection{Maps: map[string]*Map{"hash": hash, "array": array}, Programs: map[string]*Program{}},
		vmaps: []verifier.MapInfo{
			{Name: "hash", Type: maps.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 16, Inner: -1},
			{Name: "array", Type: maps.Array, KeySize: 4, ValueSize: 32, MaxEntries: 4, Inner: -1},
		},
	}
}

// check generates the program of seed, verifies it, and runs it when it is accepted on
// packets whose sizes and bytes come from seed and size. It reports whether the
// verifier accepted the program and what constructs it has; a verified program that
// faults in checked mode fails tb.
func (h *structuredHarness) check(tb testing.TB, seed uint64, size uint16) (accepted bool, st genStats) {
	return h.checkSource(tb, seed, size, genProgram)
}

// checkSource is check with the program written by gen.
func (h *structuredHarness) checkSource(tb testing.TB, seed uint64, size uint16, gen func(uint64) (string, genStats)) (accepted bool, st genStats) {
	var src string
	src, st = gen(seed)
	insns, err := isa.Assemble(src)
	if err != nil {
		tb.Fatalf("generator: %v\n%s", err, src)
	}
	ps := &elfload.ProgramSpec{Name: "gen", Type: progtype.XDP, Instructions: insns}
	vp := &verifier.Program{Instructions: insns, Type: progtype.XDP, Maps: h.vmaps}
	for i, ins := range insns {
		if !ins.IsLDDW() {
			continue
		}
		switch ins.Constant {
		case 0xabcd:
			ps.References = append(ps.References, elfload.Reference{Instruction: i, Map: "hash"})
			vp.MapRefs = append(vp.MapRefs, verifier.MapRef{Instruction: i, Map: 0})
		case 0xabce:
			ps.References = append(ps.References, elfload.Reference{Instruction: i, Map: "array"})
			vp.MapRefs = append(vp.MapRefs, verifier.MapRef{Instruction: i, Map: 1})
		}
	}
	if _, err := verifier.Verify(vp, nil); err != nil {
		return false, st
	}
	p, err := h.rt.loadProgram(h.eng, ps, h.coll)
	if err != nil {
		tb.Fatalf("load: %v", err)
	}
	defer p.releaseMaps()
	r := rand.New(rand.NewPCG(seed, uint64(size)))
	for run := 0; run < 4; run++ {
		n := 14 + int(size%200)
		if run > 0 {
			n = 14 + r.IntN(100)
		}
		pkt := make([]byte, n)
		for i := range pkt {
			pkt[i] = byte(r.Uint32())
		}
		if _, err := p.Run(&RunOptions{Data: pkt}); err != nil {
			tb.Fatalf("verified program failed in checked mode on %d bytes %x: %v\n%s", len(pkt), pkt, err, src)
		}
	}
	return true, st
}

// FuzzVerifierSoundStructured is FuzzVerifierSound on generated programs that look like
// real packet code (genProgram: bounds checks, map lookups, bounded loops), so that many
// of them verify and run.
func FuzzVerifierSoundStructured(f *testing.F) {
	for s := uint64(0); s < 16; s++ {
		f.Add(s, uint16(64))
	}
	h := newStructuredHarness(f)
	f.Fuzz(func(t *testing.T, seed uint64, size uint16) {
		h.check(t, seed, size)
	})
}

// acceptance counts the programs with a construct and how many of them verified.
type acceptance struct{ with, accepted int }

func (a *acceptance) add(has, ok bool) {
	if has {
		a.with++
		if ok {
			a.accepted++
		}
	}
}

// healthy reports whether more than one in floor, and not all, of the programs with
// the construct verified: enough to run, and some deliberately wrong ones refused.
func (a acceptance) healthy(floor int) bool {
	return a.with > 0 && a.accepted*floor > a.with && a.accepted < a.with
}

func (a acceptance) String() string { return fmt.Sprintf("%d of %d", a.accepted, a.with) }

// TestStructuredPrograms runs FuzzVerifierSoundStructured's check on a fixed range of
// seeds, and checks that the generator still makes programs the verifier accepts, with
// and without loops, bpf-to-bpf calls and bpf_loop callbacks, and some it refuses.
func TestStructuredPrograms(t *testing.T) {
	n := 600
	if testing.Short() {
		n = 300
	}
	h := newStructuredHarness(t)
	var all, loops, calls, callbacks, either acceptance
	for s := uint64(0); s < uint64(n); s++ {
		ok, st := h.check(t, s, uint16(s*37))
		all.add(true, ok)
		loops.add(st.loops > 0, ok)
		calls.add(st.calls > 0, ok)
		callbacks.add(st.callbacks > 0, ok)
		either.add(st.calls+st.callbacks > 0, ok)
	}
	t.Logf("%d programs: %v accepted; with loops %v, with bpf-to-bpf calls %v, with bpf_loop callbacks %v, with either %v",
		n, all, loops, calls, callbacks, either)
	// Programs with one kind of call are longer than most (they have more statements to
	// have one of that kind), so more of them hold a deliberately wrong construct of
	// another kind: a lower floor for them here, a fifth for each kind alone in
	// TestStructuredCallConstructs.
	for _, c := range []struct {
		name  string
		a     acceptance
		floor int
	}{{"all", all, 5}, {"loops", loops, 5}, {"calls", calls, 8}, {"callbacks", callbacks, 8}, {"calls or callbacks", either, 5}} {
		if !c.a.healthy(c.floor) {
			t.Errorf("the generator no longer tests much: programs with %s: %v accepted", c.name, c.a)
		}
	}
}

// TestStructuredCallConstructs is TestStructuredPrograms on programs made of one kind
// of call construct only (bpf-to-bpf calls, bpf_loop callbacks), so that each is
// measured alone.
func TestStructuredCallConstructs(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 100
	}
	h := newStructuredHarness(t)
	for _, c := range []struct {
		name      string
		construct int
	}{{"calls", stmtLocalCall}, {"callbacks", stmtLoopCallback}} {
		var a acceptance
		gen := func(seed uint64) (string, genStats) { return genProgramOf(seed, c.construct) }
		for s := uint64(0); s < uint64(n); s++ {
			ok, _ := h.checkSource(t, s, uint16(s*37), gen)
			a.add(true, ok)
		}
		t.Logf("%s alone: %v programs accepted", c.name, a)
		if !a.healthy(5) {
			t.Errorf("%s alone: %v accepted, want more than a fifth and not all", c.name, a)
		}
	}
}

// progGen builds the random programs of FuzzVerifierSoundStructured, deterministically
// from a seed. Registers: r0 accumulates, r6 is the packet cursor, r9 keeps data_end
// (r3 is reloaded from it after calls), r7 and r8 are loop counters or walking pointers
// (outer and inner loop), r1-r5 are scratch. The stack holds 8-byte slots at [-64, 0),
// a 64-byte array at [-128, -64) that loops index, spilled loop bounds at -136, a
// 16-byte buffer passed to functions at [-160, -144) and bpf_loop's context at
// [-176, -160). Functions (after the main program's exit) use r0-r5 and their own
// stack; a few also clobber their own r6-r9, which the call must not let through to
// the caller.
type progGen struct {
	r     *rand.Rand
	b     strings.Builder
	label int
	// only, when not -1, is the one statement kind (stmtLocalCall, ...) the program uses.
	only int
	// array tells whether the program initialized its array; the call constructs read
	// it after their calls mostly when it did, so that a refusal comes from them.
	array bool
	// funcs holds the functions the program calls (bpf-to-bpf calls and callbacks),
	// emitted after the main program.
	funcs strings.Builder
	genStats
}

// genStats counts the constructs of a generated program: loops, bpf-to-bpf calls
// (nested ones included) and bpf_loop calls.
type genStats struct{ loops, calls, callbacks int }

func (g *progGen) newLabel() int { g.label++; return g.label }

func (g *progGen) f(format string, args ...any) { fmt.Fprintf(&g.b, format, args...) }

// maybe returns wrong once in n times and right otherwise: the generator makes most
// programs safe and some deliberately not, which the verifier must refuse.
func (g *progGen) maybe(n int, right, wrong int) int {
	if g.r.IntN(n) == 0 {
		return wrong
	}
	return right
}

// genProgram builds a random XDP program from seed whose shape the verifier has to think
// about: packet bounds checks with random lengths followed by accesses at random offsets,
// stack stores and loads at random places, map lookups with and without null checks,
// pointer arithmetic, forward branches on packet bytes, and bounded loops (counted
// with a constant or a data-dependent bound, walking the packet or a map value with a
// pointer, nested, with early exits). It returns the program and how many loops it has.
func genProgram(seed uint64) (src string, st genStats) { return genProgramOf(seed, -1) }

// genProgramOf is genProgram with statements of kind only (a stmt constant), or of any
// kind when only is -1.
func genProgramOf(seed uint64, only int) (src string, st genStats) {
	g := &progGen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), only: only}
	r := g.r
	g.f("ldxw %%r2, [%%r1+0]\nldxw %%r3, [%%r1+4]\nmov %%r6, %%r2\nmov %%r9, %%r3\nmov %%r0, 0\n")
	if g.array = r.IntN(4) != 0; g.array { // initialize the loops' array (or not: reads of it must be refused)
		for off := -128; off < -64; off += 8 {
			g.f("stdw [%%r10%+d], %d\n", off, r.IntN(256))
		}
	}
	n := r.IntN(8) + 1
	if only >= 0 { // fewer statements: one construct's wrong variants add up quickly
		n = r.IntN(3) + 1
	}
	for ; n > 0; n-- {
		g.statement()
	}
	g.f("done:\nmov %%r0, 2\nexit\n")
	g.b.WriteString(g.funcs.String())
	return g.b.String(), g.genStats
}

// fn appends to the functions emitted after the main program.
func (g *progGen) fn(format string, args ...any) { fmt.Fprintf(&g.funcs, format, args...) }

// The statement kinds that TestStructuredCallConstructs measures alone.
const (
	stmtLocalCall    = 13
	stmtLoopCallback = 14
	stmtKinds        = 15
)

// statement emits one straight-line or loop construct at the top level.
func (g *progGen) statement() {
	r := g.r
	kind := r.IntN(stmtKinds)
	if g.only >= 0 {
		kind = g.only
	}
	switch kind {
	case 0: // bounds check then access
		l := g.newLabel()
		k := r.IntN(80)
		off := r.IntN(k+8) - 4
		size := []string{"b", "h", "w", "dw"}[r.IntN(4)]
		g.f("mov %%r4, %%r6\nadd %%r4, %d\njgt %%r4, %%r3, l%d\nldx%s %%r5, [%%r6%+d]\nadd %%r0, %%r5\nl%d:\n", k, l, size, off, l)
	case 1: // move the packet pointer
		g.f("add %%r6, %d\n", r.IntN(20)-4)
	case 2: // stack store and load
		off := -8 * (r.IntN(8) + 1)
		if r.IntN(2) == 0 {
			g.f("stdw [%%r10%+d], %d\n", off, r.IntN(100))
		}
		g.f("ldxdw %%r5, [%%r10%+d]\nadd %%r0, %%r5\n", -8*(r.IntN(8)+1))
	case 3: // map lookup, maybe checked
		l := g.newLabel()
		g.lookup(r.IntN(4))
		if r.IntN(4) != 0 {
			g.f("jeq %%r0, 0, l%d\n", l)
		}
		g.f("ldxdw %%r5, [%%r0%+d]\nl%d:\nmov %%r0, 0\n", 8*r.IntN(2), l)
	case 4: // branch on a packet byte after a check
		l := g.newLabel()
		g.f("mov %%r4, %%r6\nadd %%r4, 1\njgt %%r4, %%r3, l%d\nldxb %%r5, [%%r6+0]\njeq %%r5, %d, l%d\nadd %%r0, 1\nl%d:\n", l, r.IntN(256), l, l)
	case 5: // arithmetic
		g.f("mov %%r5, %d\nand %%r5, %d\nadd %%r0, %%r5\n", r.IntN(1000), r.IntN(64))
	case 6: // spill and fill the packet pointers
		g.f("stxdw [%%r10-48], %%r6\nstxdw [%%r10-56], %%r3\nadd %%r6, %d\nldxdw %%r3, [%%r10-56]\n", r.IntN(8))
		if r.IntN(2) == 0 {
			g.f("ldxdw %%r6, [%%r10-48]\n")
		}
	case 7, 8: // a counted loop, maybe with a nested one
		g.countedLoop(0, "r7", 1+r.IntN(g.maybe(8, 64, 80)))
	case 9: // a loop whose bound comes from the packet or a map value
		g.dataLoop()
	case 10: // a loop walking the packet with a pointer
		g.packetWalk()
	case 11: // a loop walking a map value with a pointer
		g.valueWalk()
	case 12: // a loop longer than the rounds walked exactly, bounded by the packet
		g.longLoop()
	case stmtLocalCall: // a bpf-to-bpf call
		g.localCall()
	case stmtLoopCallback: // bpf_loop with a callback
		g.loopCallback()
	}
}

// lookup looks key up in the hash map (8-byte values) or, once in two, the array map
// (32-byte values), leaving the result in r0, and restores r3.
func (g *progGen) lookup(key int) (valueSize int) {
	return g.lookupKey(fmt.Sprintf("stw [%%r10-4], %d", key))
}

// lookupKey is lookup with the key stored by store.
func (g *progGen) lookupKey(store string) (valueSize int) {
	m, size := "0xabcd", 8
	if g.r.IntN(2) == 0 {
		m, size = "0xabce", 32
	}
	g.f("%s\nlddw %%r1, %s\nmov %%r2, %%r10\nadd %%r2, -4\ncall 1\nmov %%r3, %%r9\n", store, m)
	return size
}

// backEdge emits the test at the bottom of a loop whose counter c (a register name)
// counts up to bound (a constant or a register): several jump forms, and once in a
// while one that ends a round too late or, with a step that skips the bound, never;
// some compare only the low 32 bits.
func (g *progGen) backEdge(c, bound string, head int) {
	forms := []string{"jlt %%%s, %s, L%d", "jslt %%%s, %s, L%d", "jlt %%%s, %s, L%d", "jne %%%s, %s, L%d",
		"jlt32 %%%s, %s, L%d", "jsle32 %%%s, %s, L%d"}
	form := forms[g.r.IntN(len(forms))]
	if g.r.IntN(10) == 0 {
		form = "jle %%%s, %s, L%d"
	}
	g.f(form+"\n", c, bound, head)
}

// countedLoop emits a loop of counter c from 0 up to n (counted in 64 or 32 bits),
// tested at its head or at its bottom, with a random body; at the top level, once in three it nests a second counted
// loop (counter r8) and both then index the array as c*8 + r8.
func (g *progGen) countedLoop(depth int, c string, n int) {
	r := g.r
	g.loops++
	nest := depth == 0 && r.IntN(3) == 0
	if nest {
		n = 1 + r.IntN(g.maybe(8, 8, 9))
	}
	step := g.maybe(6, 1, 2)
	head, out := g.newLabel(), g.newLabel()
	atHead := r.IntN(2) == 0
	g.f("mov %%%s, 0\nL%d:\n", c, head)
	if atHead {
		g.f("jge %%%s, %d, L%d\n", c, n, out)
	}
	index := "mov %r4, %r7\n"
	if depth == 1 {
		index = "mov %r4, %r7\nlsh %r4, 3\nadd %r4, %r8\n"
	}
	for k := r.IntN(3) + 1; k > 0; k-- {
		g.body(index, c, out, !nest && depth == 0)
	}
	if nest {
		g.countedLoop(1, "r8", 1+r.IntN(g.maybe(8, 8, 9)))
	}
	g.f("%s %%%s, %d\n", []string{"add", "add", "add", "add32"}[r.IntN(4)], c, step)
	if atHead {
		g.f("ja L%d\n", head)
	} else {
		g.backEdge(c, fmt.Sprint(n), head)
	}
	g.f("L%d:\n", out)
}

// body emits one statement of a loop body: index (code leaving the array index in r4)
// and c name the loop's counter, out its exit; calls are allowed when r8 is not live.
func (g *progGen) body(index, c string, out int, calls bool) {
	r := g.r
	exit := func() { // an early exit on the byte in r5, out of the loop or the program
		if r.IntN(3) == 0 {
			target := fmt.Sprintf("L%d", out)
			if r.IntN(3) == 0 {
				target = "done"
			}
			g.f("jeq %%r5, %d, %s\n", r.IntN(256), target)
		}
	}
	switch r.IntN(5) {
	case 0: // store into the array
		g.f("%smov %%r5, %%r10\nadd %%r5, -128\nadd %%r5, %%r4\nstxb [%%r5+0], %%%s\n", index, c)
	case 1: // load from the array
		g.f("%smov %%r5, %%r10\nadd %%r5, -128\nadd %%r5, %%r4\nldxb %%r5, [%%r5+0]\nadd %%r0, %%r5\n", index)
		exit()
	case 2: // read the packet at the cursor plus the index, after a check
		skip := g.newLabel()
		size := 1 << r.IntN(3)
		g.f("%sadd %%r4, %%r6\nmov %%r5, %%r4\nadd %%r5, %d\njgt %%r5, %%r3, L%d\n", index, g.maybe(12, size, size-1), skip)
		g.f("ldx%s %%r5, [%%r4+0]\nadd %%r0, %%r5\n", map[int]string{1: "b", 2: "h", 4: "w"}[size])
		exit()
		g.f("L%d:\n", skip)
	case 3: // a map lookup keyed by the counter
		if !calls {
			return
		}
		skip := g.newLabel()
		size := g.lookupKey(fmt.Sprintf("stxw [%%r10-4], %%%s", c))
		if r.IntN(6) != 0 {
			g.f("jeq %%r0, 0, L%d\n", skip)
		}
		g.f("ldxb %%r5, [%%r0%+d]\n", r.IntN(g.maybe(8, size, size+4)))
		exit()
		g.f("L%d:\nmov %%r0, 0\n", skip)
	case 4: // a branch around part of the body
		skip := g.newLabel()
		g.f("jgt %%%s, %d, L%d\nadd %%r0, 1\nL%d:\n", c, r.IntN(16), skip, skip)
	}
}

// dataLoop emits a loop whose bound is a packet byte or a map value, masked (or not),
// kept in r8 or spilled to the stack and reloaded at every test.
func (g *progGen) dataLoop() {
	r := g.r
	g.loops++
	got := g.newLabel()
	if r.IntN(2) == 0 {
		g.f("mov %%r5, %d\nmov %%r4, %%r6\nadd %%r4, 1\njgt %%r4, %%r3, L%d\nldxb %%r5, [%%r6+0]\nL%d:\n", r.IntN(64), got, got)
	} else {
		g.lookup(r.IntN(4))
		g.f("mov %%r5, %d\njeq %%r0, 0, L%d\nldxdw %%r5, [%%r0+0]\nL%d:\nmov %%r0, 0\n", r.IntN(64), got, got)
	}
	if r.IntN(8) != 0 {
		g.f("and %%r5, %d\n", []int{7, 15, 31, 63, 63, 127}[r.IntN(6)])
	}
	spilled := r.IntN(2) == 0
	if spilled {
		g.f("stxdw [%%r10-136], %%r5\n")
	} else {
		g.f("mov %%r8, %%r5\n")
	}
	head, out := g.newLabel(), g.newLabel()
	g.f("mov %%r7, 0\nL%d:\n", head)
	for k := r.IntN(3) + 1; k > 0; k-- {
		g.body("mov %r4, %r7\n", "r7", out, spilled)
	}
	g.f("add %%r7, 1\n")
	bound := "%r8"
	if spilled {
		g.f("ldxdw %%r4, [%%r10-136]\n")
		bound = "%r4"
	}
	g.backEdge("r7", bound, head)
	g.f("L%d:\n", out)
}

// packetWalk emits a loop that walks the packet with a pointer (r8) from the cursor,
// checking each access against data_end, ended by the packet's end, a byte, or a
// counter.
func (g *progGen) packetWalk() {
	r := g.r
	g.loops++
	head, out := g.newLabel(), g.newLabel()
	size := 1 << r.IntN(4)
	off := r.IntN(4)
	g.f("mov %%r8, %%r6\nmov %%r7, 0\nL%d:\nmov %%r4, %%r8\nadd %%r4, %d\njgt %%r4, %%r3, L%d\n", head, g.maybe(10, off+size, off+size-1), out)
	g.f("ldx%s %%r5, [%%r8+%d]\nadd %%r0, %%r5\n", map[int]string{1: "b", 2: "h", 4: "w", 8: "dw"}[size], off)
	if r.IntN(3) == 0 {
		g.f("jeq %%r5, %d, L%d\n", r.IntN(256), out)
	}
	g.f("add %%r8, %d\nadd %%r7, 1\n", 1+r.IntN(4))
	if r.IntN(3) == 0 {
		g.f("ja L%d\n", head) // bounded by the packet's end only
	} else {
		g.backEdge("r7", fmt.Sprint(1+r.IntN(64)), head)
	}
	g.f("L%d:\n", out)
}

// valueWalk emits a loop that walks a map value with a pointer (r8), reading or
// writing a byte or a word per round, with a counter that ends it at the value's end
// (or, once in a while, past it).
func (g *progGen) valueWalk() {
	r := g.r
	g.loops++
	head, out := g.newLabel(), g.newLabel()
	vsize := g.lookup(r.IntN(4))
	if r.IntN(8) != 0 {
		g.f("jeq %%r0, 0, L%d\n", out)
	}
	step, suffix := 1, "b"
	if r.IntN(3) == 0 {
		step, suffix = 4, "w"
	}
	g.f("mov %%r8, %%r0\nmov %%r0, 0\nmov %%r7, 0\nL%d:\n", head)
	if r.IntN(2) == 0 {
		g.f("ldx%s %%r5, [%%r8+0]\nadd %%r0, %%r5\n", suffix)
		if r.IntN(3) == 0 {
			g.f("jeq %%r5, %d, L%d\n", r.IntN(256), out)
		}
	} else {
		g.f("stx%s [%%r8+0], %%r7\n", suffix)
	}
	g.f("add %%r8, %d\nadd %%r7, 1\n", step)
	g.backEdge("r7", fmt.Sprint(g.maybe(8, vsize/step, vsize/step+1)), head)
	g.f("L%d:\n", out)
}

// longLoop emits a loop reading the packet at the cursor plus its counter (r7), each
// read checked against data_end, whose counter bound (1,025 to 100,000 rounds, or none)
// lies beyond the rounds the verifier walks exactly: after widening, only the packet
// check bounds the counter. The body may index the array with the counter (masked, or
// not quite), and the counter may be used after the loop, unchecked.
func (g *progGen) longLoop() {
	r := g.r
	g.loops++
	head, out := g.newLabel(), g.newLabel()
	size := 1 << r.IntN(3)
	g.f("mov %%r7, 0\nL%d:\nmov %%r4, %%r6\nadd %%r4, %%r7\nmov %%r5, %%r4\nadd %%r5, %d\njgt %%r5, %%r3, L%d\n",
		head, g.maybe(10, size, size-1), out)
	g.f("ldx%s %%r5, [%%r4+0]\nadd %%r0, %%r5\n", map[int]string{1: "b", 2: "h", 4: "w"}[size])
	if r.IntN(3) == 0 {
		g.body(fmt.Sprintf("mov %%r4, %%r7\nand %%r4, %d\n", g.maybe(8, 63, 127)), "r7", out, false)
	}
	g.f("add %%r7, %d\n", g.maybe(4, 1, 2))
	if r.IntN(4) == 0 {
		g.f("ja L%d\n", head) // bounded by the packet's end only
	} else {
		g.backEdge("r7", fmt.Sprint([]int{1025, 1500, 2048, 4096, 65536, 100000}[r.IntN(6)]), head)
	}
	g.f("L%d:\n", out)
	if r.IntN(4) == 0 { // the counter after the loop: the packet at cursor + r7, unchecked
		g.f("mov %%r4, %%r6\nadd %%r4, %%r7\nldxb %%r5, [%%r4+0]\nadd %%r0, %%r5\n")
	}
}

// localCall emits a bpf-to-bpf call to a new function, its arguments one of: a stack
// buffer of the caller (16 bytes at -160, maybe half initialized) with an index, the
// packet cursor with data_end, a map value (checked for NULL or not) with its size, or a
// number; the callee reads and writes through its pointer (checked or not) and may pass
// it on to a function of its own. Around the call, the caller may keep a bounded number
// in r7 that it uses as an index afterwards, and after the call it uses the result as
// an index into its array or as an offset into the packet (bounded or not), reads its
// buffer (which it or the callee may have written, or neither), or reads through a
// register the call clobbered (which must be refused).
func (g *progGen) localCall() {
	r := g.r
	g.calls++
	name := fmt.Sprintf("f%d", g.newLabel())
	kind, size := r.IntN(4), 16
	skip := g.newLabel()
	keep := r.IntN(3) == 0 && g.readArray() // r7: a number bounded to the array, kept across the call
	if keep {
		g.f("mov %%r7, %%r0\nand %%r7, 63\n")
	}
	switch kind {
	case 0: // stack buffer and an index
		g.f("stdw [%%r10-160], %d\n", r.IntN(256))
		if g.maybe(8, 1, 0) == 1 {
			g.f("stdw [%%r10-152], %d\n", r.IntN(256))
		}
		g.f("mov %%r1, %%r10\nadd %%r1, -160\nmov %%r2, %d\n", r.IntN(64))
	case 1: // the packet cursor and data_end
		g.f("mov %%r1, %%r6\nmov %%r2, %%r9\n")
	case 2: // a map value and its size
		size = g.lookup(r.IntN(4))
		if r.IntN(10) != 0 {
			g.f("jeq %%r0, 0, L%d\n", skip)
		}
		g.f("mov %%r1, %%r0\nmov %%r2, %d\n", size)
	case 3: // a number
		if r.IntN(2) == 0 {
			g.f("mov %%r1, %d\n", r.IntN(100))
		} else {
			g.f("mov %%r1, %%r0\n") // the accumulator: any number
		}
	}
	g.f("call local %s\n", name)
	switch r.IntN(5) {
	case 0, 1: // the result as an index into the array
		if !g.readArray() {
			break
		}
		g.f("mov %%r4, %%r0\nand %%r4, %d\nmov %%r5, %%r10\nadd %%r5, -128\nadd %%r5, %%r4\nldxb %%r5, [%%r5+0]\n", g.maybe(12, 63, 127))
	case 2: // the result as an offset into the packet from the cursor, checked against
		// data_end in r9 (kept by the call) or, wrongly, in r3 (clobbered)
		if r.IntN(6) != 0 {
			g.f("and %%r0, %d\n", []int{15, 63, 255}[r.IntN(3)])
		}
		end := "r9"
		if r.IntN(10) == 0 {
			end = "r3"
		}
		g.f("mov %%r4, %%r6\nadd %%r4, %%r0\nmov %%r5, %%r4\nadd %%r5, 1\njgt %%r5, %%%s, L%d\nldxb %%r5, [%%r4+0]\n", end, skip)
	case 3: // the caller's buffer after the call
		if kind == 0 {
			g.f("ldxdw %%r5, [%%r10%+d]\n", -160+8*r.IntN(2))
		}
	case 4: // an argument register after the call: clobbered
		if r.IntN(8) == 0 && kind != 3 {
			g.f("ldxb %%r5, [%%r1+0]\n")
		}
	}
	if keep { // r7 after the call: still bounded to the array
		g.f("mov %%r5, %%r10\nadd %%r5, -128\nadd %%r5, %%r7\nldxb %%r5, [%%r5+0]\n")
	}
	g.f("L%d:\nmov %%r3, %%r9\nmov %%r0, 0\n", skip)
	g.callee(name, kind, 0, size)
}

// readArray tells a call construct whether to read the array: always when it is
// initialized, once in four times when not.
func (g *progGen) readArray() bool { return g.array || g.r.IntN(4) == 0 }

// maxCallDepth is how deep generated functions call functions of their own.
const maxCallDepth = 3

// callee emits the function name called by localCall with arguments of the given kind
// (size: the bytes behind a map value pointer), at depth calls below the caller. It may
// use a slot of its own stack (or, wrongly, one it never wrote), clobber its own r6-r9,
// or read its r6 before writing it (which must be refused: the caller's r6 is not the
// callee's).
func (g *progGen) callee(name string, kind, depth, size int) {
	r := g.r
	out := -1 // the label of an early "return 0", when one is used
	g.fn("%s:\n", name)
	if r.IntN(4) == 0 { // a slot of its own stack
		g.fn("stdw [%%r10-8], %d\nldxdw %%r5, [%%r10%+d]\n", r.IntN(256), g.maybe(16, -8, -16))
	}
	switch r.IntN(40) {
	case 0, 1, 2, 3, 4, 5: // its own r6-r9, which the caller must not see
		g.fn("mov %%r6, 0\nmov %%r7, -1\nmov %%r8, %%r10\nmov %%r9, %%r1\n")
	case 6: // the caller's r6, which it does not have
		g.fn("mov %%r5, %%r6\n")
	}
	nest := depth+1 < maxCallDepth && r.IntN(3) == 0
	inner := ""
	if nest {
		g.calls++
		inner = fmt.Sprintf("f%d", g.newLabel())
	}
	switch kind {
	case 0: // r1 = stack buffer (16 bytes), r2 = index
		g.fn("mov %%r0, %%r2\nand %%r0, %d\nmov %%r3, %%r1\nadd %%r3, %%r0\nldxb %%r0, [%%r3+0]\n", g.maybe(8, 7, 31))
		switch r.IntN(4) {
		case 0: // a byte of the buffer
			g.fn("stxb [%%r1%+d], %%r0\n", g.maybe(8, r.IntN(16), 16+r.IntN(8)))
		case 1: // its second half, which the caller may read after the call
			g.fn("stdw [%%r1+8], %d\n", r.IntN(256))
		}
		if nest { // pass the caller's buffer on
			g.fn("mov %%r2, %d\ncall local %s\n", r.IntN(16), inner)
		}
	case 1: // r1 = packet cursor, r2 = data_end
		n := 1 + r.IntN(8)
		out = g.newLabel()
		g.fn("mov %%r3, %%r1\nadd %%r3, %d\njgt %%r3, %%r2, L%d\nldxb %%r0, [%%r1%+d]\n", g.maybe(10, n, n-1), out, n-1)
		if r.IntN(3) == 0 { // write the packet, within the check (or one byte past it)
			g.fn("stb [%%r1%+d], %d\n", g.maybe(10, n-1, n), r.IntN(256))
		}
		if nest { // pass the packet on
			g.fn("call local %s\n", inner)
		}
	case 2: // r1 = map value, r2 = its size: read (and write) at an index below it (or not quite)
		g.fn("mov %%r0, %%r2\nadd %%r0, -1\nand %%r0, %d\nadd %%r1, %%r0\nldxb %%r0, [%%r1+0]\n", g.maybe(8, size-1, 2*size-1))
		if r.IntN(3) == 0 {
			g.fn("stxb [%%r1+0], %%r2\n")
		}
		nest = false
	case 3: // r1 = a number: returned masked, or not; maybe through a function of its own
		g.fn("mov %%r0, %%r1\n")
		if r.IntN(4) != 0 {
			g.fn("and %%r0, %d\n", []int{7, 15, 63}[r.IntN(3)])
		}
		if nest {
			g.fn("mov %%r1, %%r0\ncall local %s\n", inner)
		}
	}
	g.fn("exit\n")
	if out >= 0 {
		g.fn("L%d:\nmov %%r0, 0\nexit\n", out)
	}
	if nest {
		g.callee(inner, kind, depth+1, size)
	}
}

// loopCallback emits a bpf_loop call (helper 181) with a new callback and a context in
// the caller's stack (16 bytes at -176, initialized or not). The count is a constant,
// the accumulator masked, or a packet byte (leaving checked packet pointers in r4 and
// r5, which the callback must not inherit). The callback indexes the context with its
// index r1, masked, or compared first with a constant (one round too far now and then),
// with a context byte (masked or not) or with the caller's count in a register; it may write the context, pass it to a
// function of its own (keeping it in its own r6 across that call), and returns 0 or 1
// (a constant or a byte masked to a bit) or, once in a while, something else, which
// must be refused. After the call the caller uses the result (the rounds run) as an
// index, masked or not, or reads the context, and a number it kept in r7.
func (g *progGen) loopCallback() {
	r := g.r
	g.callbacks++
	name := fmt.Sprintf("cb%d", g.newLabel())
	if r.IntN(16) != 0 {
		g.f("stdw [%%r10-176], %d\nstdw [%%r10-168], %d\n", r.IntN(256), r.IntN(256))
	}
	keep := r.IntN(3) == 0 && g.readArray()
	if keep {
		g.f("mov %%r7, %%r0\nand %%r7, 63\n")
	}
	nr := 0 // the count, when it is a constant
	switch r.IntN(3) {
	case 0:
		nr = 1 + r.IntN(40)
		g.f("mov %%r1, %d\n", nr)
	case 1: // a count from the accumulator, masked
		g.f("mov %%r1, %%r0\nand %%r1, 31\n")
	case 2: // a packet byte, or none
		got := g.newLabel()
		g.f("mov %%r1, 0\nmov %%r4, %%r6\nadd %%r4, 1\nmov %%r5, %%r4\njgt %%r4, %%r3, L%d\nldxb %%r1, [%%r6+0]\nL%d:\n", got, got)
	}
	g.f("lddw %%r2, func %s\nmov %%r3, %%r10\nadd %%r3, -176\nmov %%r4, 0\ncall 181\n", name)
	switch r.IntN(3) {
	case 0: // the rounds run as an index into the array
		if !g.readArray() {
			break
		}
		if r.IntN(10) != 0 {
			g.f("and %%r0, 63\n")
		}
		g.f("mov %%r5, %%r10\nadd %%r5, -128\nadd %%r5, %%r0\nldxb %%r5, [%%r5+0]\n")
	case 1: // the context, which the caller or the callback may have written
		g.f("ldxb %%r5, [%%r10%+d]\n", -176+r.IntN(16))
	}
	if keep {
		g.f("mov %%r5, %%r10\nadd %%r5, -128\nadd %%r5, %%r7\nldxb %%r5, [%%r5+0]\n")
	}
	g.f("mov %%r3, %%r9\nmov %%r0, 0\n")

	out := -1
	g.fn("%s:\n", name)
	if r.IntN(30) == 0 { // the caller's r4, which the callback does not have
		g.fn("ldxb %%r0, [%%r4-1]\n")
	}
	nest := r.IntN(4) == 0
	var inner string
	if nest { // pass the context to a function, keeping it in r6 (the callback's own)
		g.calls++
		inner = fmt.Sprintf("f%d", g.newLabel())
		g.fn("mov %%r6, %%r2\nmov %%r7, %%r1\nmov %%r1, %%r2\nmov %%r2, %d\ncall local %s\nmov %%r2, %%r6\nmov %%r1, %%r7\n", r.IntN(16), inner)
	}
	form := r.IntN(5)
	if form == 4 && nr == 0 {
		form = 0
	}
	switch form {
	case 0:
		g.fn("mov %%r3, %%r1\nand %%r3, %d\n", g.maybe(12, 15, 31))
	case 1:
		out = g.newLabel()
		g.fn("jge %%r1, %d, L%d\nmov %%r3, %%r1\n", g.maybe(12, 16, 17), out)
	case 2: // signed
		out = g.newLabel()
		g.fn("jsgt %%r1, %d, L%d\nmov %%r3, %%r1\n", g.maybe(12, 15, 16), out)
	case 3: // compared with a byte of the context, masked (or not) to its size
		out = g.newLabel()
		g.fn("ldxb %%r4, [%%r2+0]\n")
		if r.IntN(10) != 0 {
			g.fn("and %%r4, 15\n")
		}
		g.fn("jge %%r1, %%r4, L%d\nmov %%r3, %%r1\n", out)
	case 4: // compared with the caller's count in a register: the index is below it, but
		// nothing tells the callback that, so a wrong access below the test (above its
		// frame) must be refused even though it runs in every round
		out = g.newLabel()
		g.fn("mov %%r4, %d\njge %%r1, %%r4, L%d\n", nr, out)
		if r.IntN(8) == 0 {
			g.fn("ldxdw %%r0, [%%r10+0]\n")
		}
		g.fn("mov %%r3, %%r1\nand %%r3, 15\n")
	}
	g.fn("add %%r2, %%r3\nldxb %%r0, [%%r2+0]\n")
	if r.IntN(3) == 0 {
		g.fn("add %%r0, 1\nstxb [%%r2+0], %%r0\n")
	}
	switch g.maybe(16, r.IntN(3), 3) {
	case 0, 1:
		g.fn("mov %%r0, %d\n", r.IntN(2))
	case 2:
		g.fn("and %%r0, 1\n")
	case 3: // neither 0 nor 1: a callback must not return it
		if r.IntN(2) == 0 {
			g.fn("mov %%r0, 2\n")
		}
	}
	g.fn("exit\n")
	if out >= 0 {
		g.fn("L%d:\nmov %%r0, 1\nexit\n", out)
	}
	if nest {
		g.callee(inner, 0, 1, 16)
	}
}
