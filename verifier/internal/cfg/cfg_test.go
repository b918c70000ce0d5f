package cfg_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/anybpf/anybpf/isa"
	"github.com/anybpf/anybpf/verifier/internal/cfg"
)

func assemble(t *testing.T, src string) []isa.Instruction {
	t.Helper()
	// The assembler separates a label from its instruction by a space, not a tab.
	insns, err := isa.Assemble(strings.ReplaceAll(src, "\t", " "))
	if err != nil {
		t.Fatalf("Assemble: %v", err)
	}
	return insns
}

// funcRef turns the lddw at instruction i into a reference (src 4) to the function at
// instruction target.
func funcRef(insns []isa.Instruction, i, target int) {
	offs, _ := isa.SlotOffsets(insns)
	insns[i].Src = isa.Register(isa.PseudoFunc)
	insns[i].Constant = int64(offs[target] - offs[i] - 1)
}

// checkWTO verifies that every function's WTO lists each of its instructions once and
// that every edge goes forward in it unless it goes to the head of a component containing
// its source.
func checkWTO(t *testing.T, p *cfg.Program) {
	t.Helper()
	for _, f := range p.Funcs {
		w := f.WTO
		order := w.Order()
		if len(order) != f.End-f.Start-len(f.Unreachable) {
			t.Fatalf("function %d: WTO %v has %d instructions, function %d reachable", f.Index, w, len(order), f.End-f.Start-len(f.Unreachable))
		}
		for _, i := range f.Unreachable {
			if w.Position(i) != -1 || len(f.Succs(i)) != 0 || len(f.Preds(i)) != 0 {
				t.Fatalf("function %d: unreachable instruction %d has a position or edges", f.Index, i)
			}
		}
		seen := map[int]bool{}
		for k, i := range order {
			if !f.Contains(i) || seen[i] || w.Position(i) != k {
				t.Fatalf("function %d: WTO %v: instruction %d misplaced or repeated", f.Index, w, i)
			}
			seen[i] = true
			for _, h := range w.Nesting(i) {
				if !w.InComponent(i, h) {
					t.Fatalf("function %d: WTO %v: %d nested in %d but not in its component", f.Index, w, i, h)
				}
			}
		}
		back := map[cfg.Edge]bool{}
		for _, e := range f.BackEdges() {
			back[e] = true
		}
		for i := f.Start; i < f.End; i++ {
			for _, e := range f.Preds(i) {
				if w.Position(e.From) < 0 {
					t.Fatalf("function %d: edge %+v from an unreachable instruction", f.Index, e)
				}
			}
			for _, e := range f.Succs(i) {
				if e.From != i || !f.Contains(e.To) {
					t.Fatalf("function %d: bad edge %+v from %d", f.Index, e, i)
				}
				if !slices.Contains(f.Preds(e.To), e) {
					t.Fatalf("function %d: edge %+v missing from Preds", f.Index, e)
				}
				forward := w.Position(e.From) < w.Position(e.To)
				if !forward && !(w.IsHead(e.To) && w.InComponent(e.From, e.To)) {
					t.Fatalf("function %d: WTO %v: edge %d -> %d goes backward to a non-enclosing head", f.Index, w, e.From, e.To)
				}
				if back[e] == forward {
					t.Fatalf("function %d: edge %+v: back edge %v, forward %v", f.Index, e, back[e], forward)
				}
			}
		}
	}
}

func TestGraphs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		asm   string
		wto   []string // per function
		heads []int    // loop heads of the main function
		back  []cfg.Edge
	}{
		{
			name: "straight line",
			asm:  "mov %r0, 0\nadd %r0, 1\nexit",
			wto:  []string{"0 1 2"},
		},
		{
			name: "if/else diamond",
			asm: `	jeq %r1, 0, else
				mov %r0, 1
				ja end
			else:	mov %r0, 2
			end:	exit`,
			wto: []string{"0 1 2 3 4"},
		},
		{
			name: "simple loop",
			asm: `	mov %r1, 0
			loop:	add %r1, 1
				jlt %r1, 10, loop
				exit`,
			wto:   []string{"0 (1 2) 3"},
			heads: []int{1},
			back:  []cfg.Edge{{From: 2, To: 1, Kind: cfg.Taken}},
		},
		{
			name: "nested loops",
			asm: `	mov %r1, 0
			outer:	mov %r2, 0
			inner:	add %r2, 1
				jlt %r2, 5, inner
				add %r1, 1
				jlt %r1, 5, outer
				exit`,
			wto:   []string{"0 (1 (2 3) 4 5) 6"},
			heads: []int{1, 2},
			back:  []cfg.Edge{{From: 3, To: 2, Kind: cfg.Taken}, {From: 5, To: 1, Kind: cfg.Taken}},
		},
		{
			name: "loop with two exits",
			asm: `	mov %r1, 0
			loop:	jeq %r2, 7, out
				add %r1, 1
				jlt %r1, 10, loop
				mov %r0, 0
				exit
			out:	mov %r0, 1
				exit`,
			wto:   []string{"0 (1 2 3) 4 5 6 7"},
			heads: []int{1},
			back:  []cfg.Edge{{From: 3, To: 1, Kind: cfg.Taken}},
		},
		{
			name: "irreducible loop entered twice",
			asm: `	jeq %r1, 0, b
			a:	add %r2, 1
				jeq %r2, 5, out
			b:	add %r2, 2
				ja a
			out:	exit`,
			// The jump target is visited first, so the cycle is headed by b; either entry
			// would be a valid head.
			wto:   []string{"0 (3 4 1 2) 5"},
			heads: []int{3},
			back:  []cfg.Edge{{From: 2, To: 3, Kind: cfg.NotTaken}},
		},
		{
			name:  "self loop",
			asm:   "mov %r0, 0\nja -1",
			wto:   []string{"0 (1)"},
			heads: []int{1},
			back:  []cfg.Edge{{From: 1, To: 1, Kind: cfg.Goto}},
		},
		{
			name: "do-while with continue",
			asm: `	mov %r1, 0
			loop:	add %r1, 1
				jeq %r1, 3, loop
				jlt %r1, 10, loop
				exit`,
			wto:   []string{"0 (1 2 3) 4"},
			heads: []int{1},
			back:  []cfg.Edge{{From: 2, To: 1, Kind: cfg.Taken}, {From: 3, To: 1, Kind: cfg.Taken}},
		},
		{
			name: "subprograms",
			asm: `	call local f
				call local g
				exit
			f:	call local g
				mov %r0, 1
				exit
			g:	mov %r0, 2
				exit`,
			wto: []string{"0 1 2", "3 4 5", "6 7"},
		},
		{
			name: "loop in a subprogram",
			asm: `	call local f
				exit
			f:	mov %r0, 0
			loop:	add %r0, 1
				jlt %r0, 4, loop
				exit`,
			wto: []string{"0 1", "2 (3 4) 5"},
		},
		{
			name: "lddw and ja32",
			asm: `	lddw %r1, 0x100000000
				ja32 end
				mov %r0, 1
			end:	mov %r0, 0
				exit`,
			wto: []string{"0 1 3 4"}, // 2 is unreachable: see TestErrors
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			insns := assemble(t, tc.asm)
			p, err := cfg.Build(insns)
			if tc.name == "lddw and ja32" {
				if !errors.Is(err, cfg.ErrUnreachable) {
					t.Fatalf("Build = %v, want ErrUnreachable", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			checkWTO(t, p)
			var got []string
			for _, f := range p.Funcs {
				got = append(got, f.WTO.String())
			}
			if !slices.Equal(got, tc.wto) {
				t.Errorf("WTOs = %q, want %q", got, tc.wto)
			}
			main := p.Funcs[0]
			if h := main.WTO.Heads(); !slices.Equal(h, tc.heads) {
				t.Errorf("heads = %v, want %v", h, tc.heads)
			}
			if b := main.BackEdges(); !slices.Equal(b, tc.back) {
				t.Errorf("back edges = %v, want %v", b, tc.back)
			}
		})
	}
}

func TestEdges(t *testing.T) {
	p, err := cfg.Build(assemble(t, `
		jeq %r1, 0, +2
		jne %r1, 1, +0
		ja +0
		call 1
		exit`))
	if err != nil {
		t.Fatal(err)
	}
	f := p.Funcs[0]
	want := [][]cfg.Edge{
		{{From: 0, To: 1, Kind: cfg.NotTaken}, {From: 0, To: 3, Kind: cfg.Taken}},
		{{From: 1, To: 2, Kind: cfg.NotTaken}, {From: 1, To: 2, Kind: cfg.Taken}},
		{{From: 2, To: 3, Kind: cfg.Goto}},
		{{From: 3, To: 4, Kind: cfg.Next}},
		nil,
	}
	for i, w := range want {
		if got := f.Succs(i); !slices.Equal(got, w) {
			t.Errorf("Succs(%d) = %v, want %v", i, got, w)
		}
	}
	if got := f.Preds(3); len(got) != 2 {
		t.Errorf("Preds(3) = %v, want two edges", got)
	}
	if !slices.Equal(f.Exits, []int{4}) {
		t.Errorf("Exits = %v", f.Exits)
	}
	if f.Succs(99) != nil || f.Preds(-1) != nil || p.FuncOf(99) != nil || p.Slot(-1) != -1 {
		t.Error("out-of-range queries should return nothing")
	}
	if f.WTO.Position(42) != -1 || f.WTO.IsHead(42) || f.WTO.Parent(42) != -1 || f.WTO.Component(0) != nil {
		t.Error("WTO queries on non-members should return nothing")
	}
}

func TestLoopNesting(t *testing.T) {
	p, err := cfg.Build(assemble(t, `
			mov %r1, 0
		outer:	mov %r2, 0
		inner:	add %r2, 1
			jlt %r2, 5, inner
			add %r1, 1
			jlt %r1, 5, outer
			exit`))
	if err != nil {
		t.Fatal(err)
	}
	w := p.Funcs[0].WTO
	for _, tc := range []struct {
		i       int
		nesting []int
		parent  int
	}{
		{0, nil, -1}, {1, []int{1}, -1}, {2, []int{1, 2}, 1}, {3, []int{1, 2}, 2}, {4, []int{1}, 1}, {6, nil, -1},
	} {
		if got := w.Nesting(tc.i); !slices.Equal(got, tc.nesting) {
			t.Errorf("Nesting(%d) = %v, want %v", tc.i, got, tc.nesting)
		}
		if got := w.Parent(tc.i); got != tc.parent {
			t.Errorf("Parent(%d) = %d, want %d", tc.i, got, tc.parent)
		}
	}
	if got := w.Component(1); !slices.Equal(got, []int{1, 2, 3, 4, 5}) {
		t.Errorf("Component(1) = %v", got)
	}
	if got := w.Component(2); !slices.Equal(got, []int{2, 3}) {
		t.Errorf("Component(2) = %v", got)
	}
	if len(w.Elements) != 3 || !w.Elements[1].Component || w.Elements[1].Vertex != 1 || len(w.Elements[1].Body) != 3 {
		t.Errorf("Elements = %+v", w.Elements)
	}
}

func TestCallGraph(t *testing.T) {
	insns := assemble(t, `
			mov %r1, 10
			lddw %r2, 0
			mov %r3, 0
			mov %r4, 0
			call 181
			call local f
			exit
		cb:	call local f
			mov %r0, 0
			exit
		f:	mov %r0, 1
			exit`)
	funcRef(insns, 1, 7)
	p, err := cfg.Build(insns)
	if err != nil {
		t.Fatal(err)
	}
	checkWTO(t, p)
	if len(p.Funcs) != 3 {
		t.Fatalf("%d functions, want 3", len(p.Funcs))
	}
	main, cb, f := p.Funcs[0], p.Funcs[1], p.Funcs[2]
	if main.Start != 0 || main.End != 7 || cb.Start != 7 || cb.End != 10 || f.Start != 10 || f.End != 12 {
		t.Errorf("function ranges: [%d,%d) [%d,%d) [%d,%d)", main.Start, main.End, cb.Start, cb.End, f.Start, f.End)
	}
	if main.Called || main.Callback || cb.Called || !cb.Callback || !f.Called || f.Callback {
		t.Errorf("flags: main %v/%v cb %v/%v f %v/%v", main.Called, main.Callback, cb.Called, cb.Callback, f.Called, f.Callback)
	}
	want := []cfg.Call{
		{Site: 1, Caller: 0, Callee: 1, Kind: cfg.Callback},
		{Site: 5, Caller: 0, Callee: 2, Kind: cfg.LocalCall},
		{Site: 7, Caller: 1, Callee: 2, Kind: cfg.LocalCall},
	}
	if !slices.Equal(p.Calls, want) {
		t.Errorf("Calls = %+v, want %+v", p.Calls, want)
	}
	var order []int
	for _, fn := range p.BottomUp() {
		order = append(order, fn.Index)
	}
	if !slices.Equal(order, []int{1, 2, 0}) && !slices.Equal(order, []int{2, 1, 0}) {
		t.Errorf("BottomUp = %v, want callees first", order)
	}
	if pos := slices.Index(order, 2); pos > slices.Index(order, 1) {
		t.Errorf("BottomUp = %v: f must come before cb, which calls it", order)
	}
	if p.Slot(7) != 8 || p.FuncOf(8) != cb {
		t.Errorf("Slot(7) = %d, FuncOf(8) = %v", p.Slot(7), p.FuncOf(8))
	}
	if i, ok := p.Index(8); !ok || i != 7 {
		t.Errorf("Index(8) = %d, %v", i, ok)
	}
	if _, ok := p.Index(2); ok {
		t.Error("Index of the second slot of an lddw should fail")
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		asm   string
		patch func([]isa.Instruction)
		err   error
		slot  int
	}{
		{"empty", "", nil, cfg.ErrEmpty, 0},
		{"unreachable after exit", "mov %r0, 0\nexit\nmov %r0, 1\nexit", nil, cfg.ErrUnreachable, 2},
		{"unreachable after lddw", "lddw %r0, 1\nexit\nmov %r0, 1\nexit", nil, cfg.ErrUnreachable, 3},
		{"unreachable skipped by ja32", "lddw %r1, 0x100000000\nja32 +1\nmov %r0, 1\nmov %r0, 0\nexit", nil, cfg.ErrUnreachable, 3},
		{"unreachable loop", "exit\nja -1", nil, cfg.ErrUnreachable, 1},
		{"unreachable in subprogram", "call local f\nexit\nf: exit\nexit", nil, cfg.ErrUnreachable, 3},
		{"direct recursion", "call local f\nexit\nf: call local f\nexit", nil, cfg.ErrRecursion, 2},
		{"main calls itself", "mov %r0, 0\ncall local -2\nexit", nil, cfg.ErrRecursion, 1},
		{"indirect recursion", `
				call local f
				exit
			f:	call local g
				exit
			g:	call local f
				exit`, nil, cfg.ErrRecursion, 4},
		{"recursion through a callback", `
				call local f
				exit
			f:	lddw %r2, 0
				mov %r0, 0
				exit`, func(insns []isa.Instruction) { funcRef(insns, 2, 2) }, cfg.ErrRecursion, 2},
		{"jump out of program", "ja +5\nexit", nil, cfg.ErrJumpOutOfRange, 0},
		{"jump before program", "jeq %r1, 0, -3\nexit", nil, cfg.ErrJumpOutOfRange, 0},
		{"call out of program", "call local +9\nexit", nil, cfg.ErrJumpOutOfRange, 0},
		{"function reference out of program", "lddw %r1, 0\nexit", func(insns []isa.Instruction) {
			insns[0].Src, insns[0].Constant = isa.Register(isa.PseudoFunc), 40
		}, cfg.ErrJumpOutOfRange, 0},
		{"jump into lddw", "ja +1\nlddw %r0, 1\nexit", nil, cfg.ErrJumpIntoLDDW, 0},
		{"call into lddw", "call local +1\nlddw %r0, 1\nexit", nil, cfg.ErrJumpIntoLDDW, 0},
		{"jump into another function", "call local f\nja f\nf: exit", nil, cfg.ErrJumpOutOfRange, 1},
		{"jump out of a function", "call local f\nout: exit\nf: ja out", nil, cfg.ErrJumpOutOfRange, 2},
		{"falls off the end", "mov %r0, 0", nil, cfg.ErrFallOffEnd, 0},
		{"conditional jump last", "jeq %r1, 0, -1", nil, cfg.ErrFallOffEnd, 0},
		{"falls into a function", "call local f\nmov %r0, 0\nf: exit", nil, cfg.ErrFallOffEnd, 1},
		{"call last", "call local f\nf: exit", nil, cfg.ErrFallOffEnd, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var insns []isa.Instruction
			if tc.asm != "" {
				insns = assemble(t, tc.asm)
			}
			if tc.patch != nil {
				tc.patch(insns)
			}
			p, err := cfg.Build(insns)
			if !errors.Is(err, tc.err) {
				t.Fatalf("Build = %v, %v; want %v", p, err, tc.err)
			}
			var e *cfg.Error
			if !errors.As(err, &e) || e.Slot != tc.slot {
				t.Fatalf("Build = %v, want an *Error at slot %d", err, tc.slot)
			}
			t.Log(err)
		})
	}
}

func TestAllowUnreachable(t *testing.T) {
	// The shape of build/byteswap.o in the sample corpus: a jump left after an exit.
	insns := assemble(t, `
			jeq %r1, 0, next
			exit
			ja end
		next:	mov %r0, 1
			jeq %r0, 1, +1
			exit
		end:	exit`)
	if _, err := cfg.Build(insns); !errors.Is(err, cfg.ErrUnreachable) {
		t.Fatalf("Build = %v, want ErrUnreachable", err)
	}
	p, err := cfg.Options{AllowUnreachable: true}.Build(insns)
	if err != nil {
		t.Fatal(err)
	}
	checkWTO(t, p)
	f := p.Funcs[0]
	if !slices.Equal(f.Unreachable, []int{2}) {
		t.Errorf("Unreachable = %v, want [2]", f.Unreachable)
	}
	if got := f.Preds(6); len(got) != 1 || got[0].From != 4 {
		t.Errorf("Preds(6) = %v, want only the edge from 4", got)
	}
	if got := f.WTO.String(); got != "0 1 3 4 5 6" {
		t.Errorf("WTO = %s", got)
	}
	// A malformed jump in unreachable code is still refused.
	insns = assemble(t, "exit\nja +7")
	if _, err := (cfg.Options{AllowUnreachable: true}).Build(insns); !errors.Is(err, cfg.ErrJumpOutOfRange) {
		t.Errorf("Build = %v, want ErrJumpOutOfRange", err)
	}
}

func ExampleBuild() {
	insns, _ := isa.Assemble(`
		mov %r0, 0
		loop: add %r0, 1
		jlt %r0, 10, loop
		exit`)
	p, err := cfg.Build(insns)
	if err != nil {
		fmt.Println(err)
		return
	}
	f := p.Funcs[0]
	fmt.Println(f.WTO, f.WTO.Heads(), f.BackEdges())
	// Output: 0 (1 2) 3 [1] [{2 1 taken}]
}
