// Package cfg builds the control-flow graphs of a linked eBPF program for the verifier.
//
// A linked program is its main function followed by the bpf-to-bpf functions it calls
// (local calls) or whose address it takes (lddw with src 4, callbacks for helpers such as
// bpf_loop). Build splits the program into functions at those entry points, gives each
// function its own graph whose nodes are instructions, checks the structure Linux checks
// before verification (every jump stays inside its function and lands on an instruction,
// no function can run off its end, no instruction is unreachable, no recursion), records
// the call graph, and computes for each function a weak topological order (Bourdoncle
// 1993), the iteration order of the abstract interpreter, whose component heads are the
// loop heads where the interpreter widens.
//
// Nodes are identified by their index in the program's instruction slice; Program.Slot
// turns an index into the slot offset diagnostics should name.
package cfg

import (
	"fmt"

	"github.com/anybpf/anybpf/isa"
)

// EdgeKind says why control flows along an edge.
type EdgeKind uint8

// Edge kinds.
const (
	// Next is the fall-through of an instruction that is not a jump (calls included).
	Next EdgeKind = iota
	// Taken is the edge of a conditional jump whose condition holds.
	Taken
	// NotTaken is the fall-through of a conditional jump whose condition fails.
	NotTaken
	// Goto is the edge of an unconditional jump (ja, ja32).
	Goto
)

var edgeKindNames = [...]string{"next", "taken", "not taken", "goto"}

// String returns the kind's name: "next", "taken", "not taken" or "goto".
func (k EdgeKind) String() string {
	if int(k) < len(edgeKindNames) {
		return edgeKindNames[k]
	}
	return fmt.Sprintf("EdgeKind(%d)", uint8(k))
}

// Edge is a control-flow edge between two instructions (indices into Program.Insns).
type Edge struct {
	From, To int
	Kind     EdgeKind
}

// CallKind says how a function refers to another.
type CallKind uint8

// Call kinds.
const (
	// LocalCall is a bpf-to-bpf call instruction.
	LocalCall CallKind = iota
	// Callback is an lddw with src 4 loading a function's address, for a helper to call.
	Callback
)

// String returns "call" or "callback".
func (k CallKind) String() string {
	if k == Callback {
		return "callback"
	}
	return "call"
}

// Call is an edge of the call graph.
type Call struct {
	// Site is the index of the call instruction or lddw.
	Site int
	// Caller and Callee are indices into Program.Funcs.
	Caller, Callee int
	Kind           CallKind
}

// Program is a linked program split into functions, each with its control-flow graph.
type Program struct {
	// Insns are the program's instructions.
	Insns []isa.Instruction
	// Funcs are the functions in program order; Funcs[0] is the main function.
	Funcs []*Function
	// Calls is the call graph, in order of call site (including sites in unreachable code).
	Calls []Call

	slots  []int // slot offset of each instruction
	bySlot []int // instruction starting at each slot, -1 inside an lddw
	funcOf []int // function index of each instruction
}

// Slot returns the slot offset of instruction i, or -1 when i is out of range.
func (p *Program) Slot(i int) int {
	if i < 0 || i >= len(p.slots) {
		return -1
	}
	return p.slots[i]
}

// Index returns the index of the instruction starting at a slot offset.
func (p *Program) Index(slot int) (int, bool) {
	if slot < 0 || slot >= len(p.bySlot)-1 || p.bySlot[slot] < 0 {
		return 0, false
	}
	return p.bySlot[slot], true
}

// FuncOf returns the function containing instruction i, or nil when i is out of range.
func (p *Program) FuncOf(i int) *Function {
	if i < 0 || i >= len(p.funcOf) {
		return nil
	}
	return p.Funcs[p.funcOf[i]]
}

// BottomUp returns the functions with every callee before its callers (a reverse
// topological order of the call graph, which has no cycles).
func (p *Program) BottomUp() []*Function {
	out := make([]*Function, 0, len(p.Funcs))
	done := make([]bool, len(p.Funcs))
	type item struct{ fn, next int }
	for root := range p.Funcs {
		if done[root] {
			continue
		}
		done[root] = true
		stack := []item{{root, 0}}
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			calls := p.Funcs[top.fn].Calls
			if top.next < len(calls) {
				c := calls[top.next].Callee
				top.next++
				if !done[c] {
					done[c] = true
					stack = append(stack, item{c, 0})
				}
				continue
			}
			out = append(out, p.Funcs[top.fn])
			stack = stack[:len(stack)-1]
		}
	}
	return out
}

// Function is one function of a program: a contiguous range of instructions with a single
// entry at its first instruction.
type Function struct {
	// Index is the function's position in Program.Funcs.
	Index int
	// Start and End delimit the function's instructions, indices [Start, End) into
	// Program.Insns. Start is the entry.
	Start, End int
	// Called says the function is the target of a local call; Callback that its address
	// is loaded by an lddw with src 4.
	Called, Callback bool
	// Exits are the function's reachable exit instructions, in program order.
	Exits []int
	// Unreachable lists the instructions not reachable from the entry, in program order;
	// it is empty unless Options.AllowUnreachable was set.
	Unreachable []int
	// Calls are the calls and callback references the function makes.
	Calls []Call
	// WTO is the weak topological order of the function's graph.
	WTO *WTO

	succ, pred [][]Edge // indexed by instruction − Start
}

// Entry returns the function's entry instruction.
func (f *Function) Entry() int { return f.Start }

// Contains reports whether instruction i belongs to the function.
func (f *Function) Contains(i int) bool { return i >= f.Start && i < f.End }

// Succs returns the edges leaving instruction i: none for an exit or an unreachable
// instruction, one to the next
// instruction or jump target, or NotTaken followed by Taken for a conditional jump (both
// to the same instruction when the offset is 0). It returns nil when i is not in f.
func (f *Function) Succs(i int) []Edge {
	if !f.Contains(i) {
		return nil
	}
	return f.succ[i-f.Start]
}

// Preds returns the edges entering instruction i, or nil when i is not in f.
func (f *Function) Preds(i int) []Edge {
	if !f.Contains(i) {
		return nil
	}
	return f.pred[i-f.Start]
}

// BackEdges returns the edges that go backward (or stay in place) in the weak topological
// order. Each goes to the head of a loop component containing its source, and every cycle
// of the graph contains one: removing them leaves the graph acyclic. They are the edges
// across which the verifier must show progress toward termination.
func (f *Function) BackEdges() []Edge {
	var out []Edge
	for i := f.Start; i < f.End; i++ {
		for _, e := range f.succ[i-f.Start] {
			if f.WTO.Position(e.To) <= f.WTO.Position(e.From) {
				out = append(out, e)
			}
		}
	}
	return out
}
