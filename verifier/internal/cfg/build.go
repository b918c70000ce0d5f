package cfg

import (
	"slices"
	"strings"

	"github.com/anybpf/anybpf/isa"
)

// Options adjust Build.
type Options struct {
	// AllowUnreachable accepts instructions that cannot be reached from their function's
	// entry, as PREVAIL does (Linux refuses them). They are listed in
	// Function.Unreachable, have no edges, and are not in the WTO. Their jumps must still
	// be well formed.
	AllowUnreachable bool
}

// Build splits a linked program into functions, builds their control-flow graphs and weak
// topological orders, and checks the program's structure. It returns an *Error naming the
// first defect found, in this order: an empty program; a jump, call or function reference
// that leaves the program or lands inside an lddw; a jump that leaves its function; a
// function that can run off its end; an unreachable instruction; recursion; loops nested
// too deeply to order in reasonable time.
func Build(insns []isa.Instruction) (*Program, error) {
	return Options{}.Build(insns)
}

// Build is the package's Build with the options o.
func (o Options) Build(insns []isa.Instruction) (*Program, error) {
	if len(insns) == 0 {
		return nil, errorAt(0, ErrEmpty, "no instructions")
	}
	p := &Program{Insns: insns}
	p.slots, p.bySlot = isa.SlotIndex(insns)
	if err := p.splitFunctions(); err != nil {
		return nil, err
	}
	for _, f := range p.Funcs {
		if err := p.buildGraph(f); err != nil {
			return nil, err
		}
	}
	for _, f := range p.Funcs {
		if err := p.checkReachable(f, o.AllowUnreachable); err != nil {
			return nil, err
		}
	}
	if err := p.checkRecursion(); err != nil {
		return nil, err
	}
	for _, f := range p.Funcs {
		if f.WTO = computeWTO(f); f.WTO == nil {
			return nil, errorAt(p.slots[f.Start], ErrTooComplex, "the loops of the function nest too deeply to order (more than %d visits)", workLimit(f.End-f.Start))
		}
	}
	return p, nil
}

// target returns the instruction a jump, local call or function reference at index i
// leads to.
func (p *Program) target(i int) (int, error) {
	ins := p.Insns[i]
	off := ins.JumpOffset()
	what := "jumps to"
	if ins.IsLDDW() {
		off, what = int(ins.Imm()), "refers to"
	} else if ins.IsLocalCall() {
		what = "calls"
	}
	total := len(p.bySlot) - 1
	slot := p.slots[i] + 1 + off
	switch {
	case slot < 0 || slot >= total:
		return 0, errorAt(p.slots[i], ErrJumpOutOfRange, "%s slot %d, outside the program (slots 0 to %d)", what, slot, total-1)
	case p.bySlot[slot] < 0:
		return 0, errorAt(p.slots[i], ErrJumpIntoLDDW, "%s slot %d, the second half of the lddw at slot %d", what, slot, slot-1)
	}
	return p.bySlot[slot], nil
}

func isFuncRef(ins isa.Instruction) bool {
	return ins.IsLDDW() && ins.Src == isa.Register(isa.PseudoFunc)
}

// splitFunctions finds the function entries (instruction 0, local call targets and
// function references), checks every target, and creates the functions and call graph.
func (p *Program) splitFunctions() error {
	called := map[int]bool{}
	referenced := map[int]bool{}
	for i, ins := range p.Insns {
		if !ins.IsJump() && !ins.IsLocalCall() && !isFuncRef(ins) {
			continue
		}
		t, err := p.target(i)
		if err != nil {
			return err
		}
		switch {
		case ins.IsLocalCall():
			called[t] = true
		case isFuncRef(ins):
			referenced[t] = true
		}
	}
	entries := []int{0}
	for t := range called {
		entries = append(entries, t)
	}
	for t := range referenced {
		entries = append(entries, t)
	}
	slices.Sort(entries)
	entries = slices.Compact(entries)
	p.funcOf = make([]int, len(p.Insns))
	for k, start := range entries {
		end := len(p.Insns)
		if k+1 < len(entries) {
			end = entries[k+1]
		}
		f := &Function{Index: k, Start: start, End: end, Called: called[start], Callback: referenced[start]}
		for i := start; i < end; i++ {
			p.funcOf[i] = k
		}
		p.Funcs = append(p.Funcs, f)
	}
	for i, ins := range p.Insns {
		kind := LocalCall
		switch {
		case ins.IsLocalCall():
		case isFuncRef(ins):
			kind = Callback
		default:
			continue
		}
		t, _ := p.target(i) // checked above
		c := Call{Site: i, Caller: p.funcOf[i], Callee: p.funcOf[t], Kind: kind}
		p.Calls = append(p.Calls, c)
		caller := p.Funcs[c.Caller]
		caller.Calls = append(caller.Calls, c)
	}
	return nil
}

// buildGraph creates f's edges and checks that no jump leaves f and f cannot run off its
// end.
func (p *Program) buildGraph(f *Function) error {
	n := f.End - f.Start
	f.succ = make([][]Edge, n)
	f.pred = make([][]Edge, n)
	// One backing array for all edges: at most two per instruction.
	edges := make([]Edge, 0, 2*n)
	for i := f.Start; i < f.End; i++ {
		ins := p.Insns[i]
		first := len(edges)
		switch {
		case ins.IsExit():
			f.Exits = append(f.Exits, i)
		case ins.IsJump():
			t, _ := p.target(i) // checked by splitFunctions
			if !f.Contains(t) {
				return errorAt(p.slots[i], ErrJumpOutOfRange, "jumps to slot %d, outside its function (slots %s)", p.slots[t], p.slotRange(f))
			}
			if ins.OpCode == isa.OpJA || ins.OpCode == isa.OpJA32 {
				edges = append(edges, Edge{i, t, Goto})
				break
			}
			if i+1 >= f.End {
				return p.fallOff(f, i)
			}
			edges = append(edges, Edge{i, i + 1, NotTaken}, Edge{i, t, Taken})
		default:
			if i+1 >= f.End {
				return p.fallOff(f, i)
			}
			edges = append(edges, Edge{i, i + 1, Next})
		}
		f.succ[i-f.Start] = edges[first:len(edges):len(edges)]
	}
	// Predecessors, again in one backing array, in order of source instruction.
	count := make([]int, n)
	for _, e := range edges {
		count[e.To-f.Start]++
	}
	preds := make([]Edge, len(edges))
	at := 0
	for k, c := range count {
		f.pred[k] = preds[at : at : at+c]
		at += c
	}
	for _, e := range edges {
		k := e.To - f.Start
		f.pred[k] = append(f.pred[k], e)
	}
	return nil
}

func (p *Program) slotRange(f *Function) string {
	last := p.slots[f.End-1] + p.Insns[f.End-1].Slots() - 1
	return itoa(p.slots[f.Start]) + " to " + itoa(last)
}

func (p *Program) fallOff(f *Function, i int) error {
	if f.End == len(p.Insns) {
		return errorAt(p.slots[i], ErrFallOffEnd, "the last instruction is neither exit nor an unconditional jump")
	}
	return errorAt(p.slots[i], ErrFallOffEnd, "execution can continue into the function at slot %d", p.slots[f.End])
}

// checkReachable reports the first instruction of f not reachable from its entry, or, when
// allowed, records the unreachable instructions and removes their edges.
func (p *Program) checkReachable(f *Function, allow bool) error {
	seen := make([]bool, f.End-f.Start)
	stack := []int{f.Start}
	seen[0] = true
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, e := range f.Succs(v) {
			if k := e.To - f.Start; !seen[k] {
				seen[k] = true
				stack = append(stack, e.To)
			}
		}
	}
	for k, ok := range seen {
		if ok {
			continue
		}
		if !allow {
			return errorAt(p.slots[f.Start+k], ErrUnreachable, "not reachable from the entry of its function at slot %d", p.slots[f.Start])
		}
		f.Unreachable = append(f.Unreachable, f.Start+k)
	}
	if len(f.Unreachable) == 0 {
		return nil
	}
	for k := range f.succ {
		if !seen[k] {
			f.succ[k], f.pred[k] = nil, nil
			continue
		}
		kept := f.pred[k][:0]
		for _, e := range f.pred[k] {
			if seen[e.From-f.Start] {
				kept = append(kept, e)
			}
		}
		f.pred[k] = kept
	}
	f.Exits = slices.DeleteFunc(f.Exits, func(i int) bool { return !seen[i-f.Start] })
	return nil
}

// checkRecursion reports a cycle in the call graph, naming the call that closes it.
func (p *Program) checkRecursion() error {
	const (
		white = iota
		grey
		black
	)
	color := make([]uint8, len(p.Funcs))
	type item struct{ fn, next int }
	for root := range p.Funcs {
		if color[root] != white {
			continue
		}
		color[root] = grey
		stack := []item{{root, 0}}
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			calls := p.Funcs[top.fn].Calls
			if top.next >= len(calls) {
				color[top.fn] = black
				stack = stack[:len(stack)-1]
				continue
			}
			c := calls[top.next]
			top.next++
			switch color[c.Callee] {
			case white:
				color[c.Callee] = grey
				stack = append(stack, item{c.Callee, 0})
			case grey:
				// The cycle is the stack from the callee's frame to the top, closed by c.
				var path []string
				for k := len(stack) - 1; k >= 0; k-- {
					path = append(path, itoa(p.slots[p.Funcs[stack[k].fn].Start]))
					if stack[k].fn == c.Callee {
						break
					}
				}
				slices.Reverse(path)
				path = append(path, itoa(p.slots[p.Funcs[c.Callee].Start]))
				return errorAt(p.slots[c.Site], ErrRecursion, "%s of the function at slot %d closes the cycle of functions at slots %s",
					c.Kind, p.slots[p.Funcs[c.Callee].Start], strings.Join(path, " -> "))
			}
		}
	}
	return nil
}
