package cfg

import (
	"math"
	"strings"
)

// WTO is a weak topological order of a function's graph (Bourdoncle, "Efficient chaotic
// iteration strategies with widenings", 1993): a hierarchical ordering of the instructions
// into nested components, each a strongly connected part of the graph entered through its
// first element, the head. Every edge goes forward in the order except edges to the head
// of a component containing their source. Iterating components until they stabilize, with
// widening at heads, reaches a fixpoint of the whole graph.
type WTO struct {
	// Elements are the top-level elements in order.
	Elements []Element

	start  int   // the function's first instruction
	order  []int // instructions in order
	pos    []int // position in order, by instruction − start
	end    []int // for a head, the position after its component
	parent []int // innermost head of a component strictly containing the node, or -1
	head   []bool
	heads  []int
}

// Element is a node of a WTO: a single instruction, or a component made of a head and the
// elements of its body.
type Element struct {
	// Vertex is the instruction, or the component's head.
	Vertex int
	// Component says the element is a component (a loop) headed by Vertex.
	Component bool
	// Body are the elements of the component after its head (empty when the loop is a
	// single instruction jumping to itself).
	Body []Element
}

// Order returns the instructions in the order of the WTO (each reachable one exactly once). The slice
// must not be modified.
func (w *WTO) Order() []int { return w.order }

// Position returns the position of instruction i in Order, or -1 when i is not in the
// function or not reachable.
func (w *WTO) Position(i int) int {
	if k := i - w.start; k >= 0 && k < len(w.pos) {
		return w.pos[k]
	}
	return -1
}

// IsHead reports whether instruction i heads a component, a loop head where the analysis
// widens.
func (w *WTO) IsHead(i int) bool {
	k := i - w.start
	return k >= 0 && k < len(w.head) && w.head[k]
}

// Heads returns the heads of all components in order, outer heads before the heads they
// contain. The slice must not be modified.
func (w *WTO) Heads() []int { return w.heads }

// Component returns the instructions of the component headed by h, the head first, in
// order; nil when h is not a head. The slice must not be modified.
func (w *WTO) Component(h int) []int {
	if !w.IsHead(h) {
		return nil
	}
	k := h - w.start
	return w.order[w.pos[k]:w.end[k]]
}

// InComponent reports whether instruction i belongs to the component headed by h.
func (w *WTO) InComponent(i, h int) bool {
	if !w.IsHead(h) {
		return false
	}
	p, k := w.Position(i), h-w.start
	return p >= w.pos[k] && p < w.end[k]
}

// Parent returns the head of the innermost component strictly containing instruction i
// (for a head, the component around its own), or -1 when there is none.
func (w *WTO) Parent(i int) int {
	k := i - w.start
	if k < 0 || k >= len(w.parent) {
		return -1
	}
	return w.parent[k]
}

// Nesting returns the heads of the components containing instruction i, outermost first;
// it includes i itself when i is a head. Its length is i's loop depth.
func (w *WTO) Nesting(i int) []int {
	var out []int
	if w.IsHead(i) {
		out = append(out, i)
	}
	for h := w.Parent(i); h >= 0; h = w.Parent(h) {
		out = append(out, h)
	}
	for a, b := 0, len(out)-1; a < b; a, b = a+1, b-1 {
		out[a], out[b] = out[b], out[a]
	}
	return out
}

// String returns the WTO in Bourdoncle's notation, instruction indices with components in
// parentheses: "0 1 (2 3 (4 5)) 6".
func (w *WTO) String() string {
	var b strings.Builder
	var write func(els []Element)
	write = func(els []Element) {
		for k, e := range els {
			if k > 0 {
				b.WriteByte(' ')
			}
			if !e.Component {
				b.WriteString(itoa(e.Vertex))
				continue
			}
			b.WriteByte('(')
			b.WriteString(itoa(e.Vertex))
			if len(e.Body) > 0 {
				b.WriteByte(' ')
				write(e.Body)
			}
			b.WriteByte(')')
		}
	}
	write(w.Elements)
	return b.String()
}

// computeWTO runs Bourdoncle's recursive algorithm on f's graph from its entry, with an
// explicit stack so that long functions cannot exhaust the goroutine stack. Successors are
// visited last edge first (the jump target before the fall-through), so that straight-line
// code and if/else keep program order.
// It returns nil when the ordering needs more than maxWork visits (see workLimit).
func computeWTO(f *Function) *WTO {
	n := f.End - f.Start
	succ := func(v, k int) (int, bool) { // k-th successor of local vertex v, in visiting order
		s := f.succ[v]
		if k >= len(s) {
			return 0, false
		}
		return s[len(s)-1-k].To - f.Start, true
	}
	return bourdoncle(n, succ, f.Start, workLimit(n))
}

// workLimit bounds the visits Bourdoncle's algorithm may make on n vertices. Each vertex
// is visited once more for every component around it, so the work is n times the loop
// nesting depth: real programs stay far below 64 levels, while a crafted graph with a
// component nested in every vertex would take quadratic time.
func workLimit(n int) int { return 64*n + 1<<16 }

// bourdoncle computes the WTO of the vertices 0..n-1 reachable from 0, numbering them
// start+v in the result, or returns nil after maxWork visits.
func bourdoncle(n int, succ func(v, k int) (int, bool), start, maxWork int) *WTO {
	const inf = math.MaxInt
	dfn := make([]int, n)
	var vstack []int
	num := 0
	type frame struct {
		v, next, head int
		target        int // frame index of the component collecting the result, -1 for the top
		fresh, wait   bool
		loop          bool
		comp          bool      // the frame runs component(v)
		part          []Element // for comp frames: the component's body, reversed
		ret           int       // for comp frames: what the visit that started it returns
	}
	var top []Element // reversed
	frames := []frame{{v: 0, target: -1, fresh: true}}
	emit := func(target int, e Element) {
		if target < 0 {
			top = append(top, e)
		} else {
			frames[target].part = append(frames[target].part, e)
		}
	}
	ret := 0
	for len(frames) > 0 {
		idx := len(frames) - 1
		f := &frames[idx]
		if f.comp {
			if w, ok := succ(f.v, f.next); ok {
				f.next++
				if dfn[w] == 0 {
					frames = append(frames, frame{v: w, target: idx, fresh: true})
				}
				continue
			}
			reverse(f.part)
			emit(f.target, Element{Vertex: start + f.v, Component: true, Body: f.part})
			ret = f.ret
			frames = frames[:idx]
			continue
		}
		if f.fresh {
			if maxWork--; maxWork < 0 {
				return nil
			}
			f.fresh = false
			vstack = append(vstack, f.v)
			num++
			dfn[f.v] = num
			f.head = num
		}
		if f.wait {
			f.wait = false
			if ret <= f.head {
				f.head, f.loop = ret, true
			}
		}
		if w, ok := succ(f.v, f.next); ok {
			f.next++
			if dfn[w] == 0 {
				f.wait = true
				frames = append(frames, frame{v: w, target: f.target, fresh: true})
				continue
			}
			if dfn[w] <= f.head {
				f.head, f.loop = dfn[w], true
			}
			continue
		}
		if f.head == dfn[f.v] {
			dfn[f.v] = inf
			e := vstack[len(vstack)-1]
			vstack = vstack[:len(vstack)-1]
			if f.loop {
				for e != f.v {
					dfn[e] = 0
					e = vstack[len(vstack)-1]
					vstack = vstack[:len(vstack)-1]
				}
				*f = frame{v: f.v, target: f.target, comp: true, ret: f.head}
				continue
			}
			emit(f.target, Element{Vertex: start + f.v})
		}
		ret = f.head
		frames = frames[:idx]
	}
	reverse(top)
	w := &WTO{
		Elements: top,
		start:    start,
		order:    make([]int, 0, n),
		pos:      make([]int, n),
		end:      make([]int, n),
		parent:   make([]int, n),
		head:     make([]bool, n),
	}
	for k := range w.pos {
		w.pos[k] = -1
	}
	w.flatten(top, -1)
	return w
}

func (w *WTO) flatten(els []Element, parent int) {
	for _, e := range els {
		k := e.Vertex - w.start
		w.pos[k] = len(w.order)
		w.parent[k] = parent
		w.order = append(w.order, e.Vertex)
		if e.Component {
			w.head[k] = true
			w.heads = append(w.heads, e.Vertex)
			w.flatten(e.Body, e.Vertex)
		}
		w.end[k] = len(w.order)
	}
}

func reverse(els []Element) {
	for a, b := 0, len(els)-1; a < b; a, b = a+1, b-1 {
		els[a], els[b] = els[b], els[a]
	}
}
