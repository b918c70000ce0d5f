package verifier

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/anybpf/anybpf/isa"
	"github.com/anybpf/anybpf/progtype"
	"github.com/anybpf/anybpf/verifier/internal/cfg"
	"github.com/anybpf/anybpf/verifier/internal/interval"
	"github.com/anybpf/anybpf/verifier/internal/zone"
)

// maxFrames is the deepest chain of bpf-to-bpf calls, as in Linux.
const maxFrames = 8

// Zone variables: the packet's size, where its metadata starts (at or before offset 0),
// the packet offset of each register, and a scratch variable.
const (
	zPktSize zone.Var = iota + 1
	zMeta
	zReg0              // r0's packet offset; rN's is zReg0 + N
	zNum0 = zReg0 + 11 // r0's value as a signed number; rN's is zNum0 + N
	zTmp  = zNum0 + 11
	zTmp2 = zTmp + 1
	zTmp3 = zTmp + 2 // holds an operand across assignSum
	// zLoop0 is the first of the loop counters: how many times a loop head has been
	// reached. Loops past the last counter share them (a shared counter bounds the sum).
	zLoop0          = zTmp + 3
	numLoopCounters = 4
)

// maxPacket bounds the packet size a program can be given.
const maxPacket = 1 << 16

type analysis struct {
	p       *Program
	opts    Options
	prog    *cfg.Program
	ctx     *progtype.Context
	space   *zone.Space
	offs    []int // slot offset of each instruction
	mapRefs map[int]MapRef

	processed int
	nextID    int // null and reference ids
	loopVars  map[int]zone.Var
	warned    map[int]string
	// fragment analyzes a piece of code from a given state (PREVAIL's YAML tests): an
	// exit of the main function only checks that r0 is a number, and the exit at
	// fragmentEnd (where the code falls off its end) checks nothing.
	fragment    bool
	fragmentEnd int
	// kernel is what is known of a tracing program's attach target (kernelCtx).
	kernel *kernelInfo
}

// warnf records a warning about instruction i (once per instruction).
func (a *analysis) warnf(i int, format string, args ...any) {
	if a.warned == nil {
		a.warned = map[int]string{}
	}
	if _, ok := a.warned[i]; !ok {
		a.warned[i] = fmt.Sprintf("instruction %d (%s): %s", a.offs[i], a.p.Instructions[i], fmt.Sprintf(format, args...))
	}
}

// warnings returns the warnings in instruction order.
func (a *analysis) warnings() []string {
	idx := make([]int, 0, len(a.warned))
	for i := range a.warned {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	out := make([]string, len(idx))
	for j, i := range idx {
		out[j] = a.warned[i]
	}
	return out
}

// loopVar returns the counter of loop head h.
func (a *analysis) loopVar(h int) zone.Var {
	v, ok := a.loopVars[h]
	if !ok {
		v = zLoop0 + zone.Var(len(a.loopVars)%numLoopCounters)
		a.loopVars[h] = v
	}
	return v
}

func newAnalysis(p *Program, opts Options) (*analysis, error) {
	if opts.MaxInstructions == 0 {
		opts.MaxInstructions = 1_000_000
	}
	if opts.MaxLoopIterations == 0 {
		opts.MaxLoopIterations = 1 << 20
	}
	cp, err := cfg.Options{AllowUnreachable: opts.AllowUnreachable}.Build(p.Instructions)
	if err != nil {
		var ce *cfg.Error
		if errors.As(err, &ce) {
			e := &Error{Slot: ce.Slot, Message: err.Error()}
			if _, bySlot := isa.SlotIndex(p.Instructions); ce.Slot >= 0 && ce.Slot < len(bySlot)-1 && bySlot[ce.Slot] >= 0 {
				e.Instruction, e.Text = bySlot[ce.Slot], p.Instructions[bySlot[ce.Slot]].String()
			}
			return nil, e
		}
		return nil, fmt.Errorf("%w: %v", ErrUnverifiable, err)
	}
	a := &analysis{p: p, opts: opts, prog: cp, ctx: p.Context, mapRefs: map[int]MapRef{}, loopVars: map[int]zone.Var{}}
	if a.ctx == nil {
		a.ctx = progtype.ContextFor(p.Type, p.AttachType)
	}
	a.offs, _ = isa.SlotOffsets(p.Instructions)
	for _, r := range p.MapRefs {
		if r.Map < 0 || r.Map >= len(p.Maps) || r.Instruction < 0 || r.Instruction >= len(p.Instructions) {
			return nil, fmt.Errorf("%w: map reference %+v is out of range", ErrUnverifiable, r)
		}
		a.mapRefs[r.Instruction] = r
	}
	names := []string{"pkt_size", "meta"}
	for i := 0; i <= 10; i++ {
		names = append(names, fmt.Sprintf("r%d.pkt", i))
	}
	for i := 0; i <= 10; i++ {
		names = append(names, fmt.Sprintf("r%d", i))
	}
	names = append(names, "tmp", "tmp2", "tmp3")
	for i := 0; i < numLoopCounters; i++ {
		names = append(names, fmt.Sprintf("loop%d", i))
	}
	a.space = zone.NewSpace(names...)
	return a, nil
}

// errorf builds the error for instruction i.
func (a *analysis) errorf(i int, s *state, regs []int, format string, args ...any) *Error {
	e := &Error{Instruction: i, Slot: a.offs[i], Text: a.p.Instructions[i].String(), Message: fmt.Sprintf(format, args...)}
	if s != nil {
		var parts []string
		for _, r := range regs {
			if r >= 0 && r < len(s.regs) {
				parts = append(parts, fmt.Sprintf("r%d=%s", r, a.show(s, r)))
			}
		}
		e.State = strings.Join(parts, " ")
	}
	for j := range a.p.Lines {
		l := &a.p.Lines[j]
		if l.Instruction <= i {
			e.Source = l
		} else {
			break
		}
	}
	return e
}

// logState writes Options.Log's line for instruction i about to run in state s.
func (a *analysis) logState(i int, s *state) {
	var b strings.Builder
	fmt.Fprintf(&b, "%d: %s\t;", a.offs[i], a.p.Instructions[i])
	if len(s.frames) > 1 {
		fmt.Fprintf(&b, " frame %d", len(s.frames)-1)
	}
	for r := range s.regs {
		if s.regs[r].k != kUninit {
			fmt.Fprintf(&b, " r%d=%s", r, a.show(s, r))
		}
	}
	b.WriteByte('\n')
	io.WriteString(a.opts.Log, b.String())
}

// show describes register r, with the packet offset's relations for packet pointers.
func (a *analysis) show(s *state, r int) string {
	x := s.regs[r]
	if x.k != kPacket {
		return x.String()
	}
	lo, hi := s.z.Bounds(zReg0 + zone.Var(r))
	up := s.z.Upper(zReg0+zone.Var(r), zPktSize)
	rel := "unbounded"
	if up != zone.Inf {
		rel = fmt.Sprintf("off%+d <= pkt_size", -up)
		if up <= 0 {
			rel = fmt.Sprintf("off+%d <= pkt_size", -up)
		}
	}
	return fmt.Sprintf("packet+[%s,%s] (%s)", bound(lo), bound(hi), rel)
}

func bound(b int64) string {
	switch b {
	case zone.Inf:
		return "inf"
	case zone.NegInf:
		return "-inf"
	}
	return fmt.Sprint(b)
}

// entry returns the state the main function starts in.
func (a *analysis) entry() *state {
	s := &state{frames: []*frame{{}}, z: a.space.Top()}
	for i := range s.regs {
		s.regs[i] = uninit
	}
	s.regs[10] = reg{k: kStack, num: interval.Const(0), frame: 0}
	s.z.AssignRange(zPktSize, 0, maxPacket)
	if a.ctx != nil {
		s.regs[1] = reg{k: kCtx, num: interval.Const(0)}
	} else {
		// No context type: r1 and r2 are the address and size of the test-run data.
		s.regs[1] = reg{k: kPacket}
		s.z.AssignConst(zReg0+1, 0)
		s.setReg(2, number(interval.UnsignedRange(0, maxPacket)))
		s.z.Assign(zNum0+2, zPktSize, 0)
	}
	s.z.AssignRange(zMeta, -4096, 0)
	for i := 0; i < numLoopCounters; i++ {
		s.z.AssignConst(zLoop0+zone.Var(i), 0)
	}
	return s
}

// run analyzes the program and returns the join of its exit states.
func (a *analysis) run() (*state, error) {
	return a.function(a.prog.Funcs[0], a.entry())
}

// function analyzes f from the entry state and returns the join of its exit states.
func (a *analysis) function(f *cfg.Function, in *state) (*state, error) {
	n := f.End - f.Start
	fa := &funcAnalysis{a: a, f: f, entry: in, out: make([][]*state, n), taken: make([][]*state, n)}
	if err := fa.elements(f.WTO.Elements); err != nil {
		return nil, err
	}
	var exit *state
	for _, x := range f.Exits {
		for _, s := range fa.out[x-f.Start] {
			exit = joinState(exit, s, false)
		}
	}
	return exit, nil
}

// funcAnalysis holds the states of one analysis of one function.
//
// A program point holds a short list of states, a disjunction: the paths reaching it are
// in one of them. Paths that meet are joined into one state when that loses nothing the
// checks depend on (the same kinds in every register and spill slot, the same stack bytes
// initialized); otherwise they are kept apart, up to maxDisjuncts states, so that a
// register still goes with the stack bytes its path initialized (a size computed on a
// branch, a pointer to one of two buffers). Inside loops every point holds one state, as
// widening needs.
type funcAnalysis struct {
	a *analysis
	f *cfg.Function
	// entry is the state the function starts in; out the states after each instruction
	// on its fall-through (or only) edge, taken on a conditional jump's taken edge, both
	// indexed by instruction - f.Start. A nil list means unreachable.
	entry      *state
	out, taken [][]*state
}

// maxDisjuncts bounds the states kept apart at one program point.
const maxDisjuncts = 8

// incoming gathers the states flowing into instruction i from its predecessors (and the
// function's entry state into its first instruction), keeping them apart where joining
// would lose precision (see funcAnalysis). The result is the caller's to change.
func (fa *funcAnalysis) incoming(i int) []*state {
	preds := fa.f.Preds(i)
	if i != fa.f.Entry() && len(preds) == 1 {
		// The only edge in: nothing else reads the states it carries, so take them
		// instead of copying them.
		m, from := fa.out, preds[0].From-fa.f.Start
		if preds[0].Kind == cfg.Taken {
			m = fa.taken
		}
		ds := m[from]
		m[from] = nil
		if len(ds) > 0 && preds[0].Kind != cfg.Taken && len(fa.taken[from]) > 0 && &fa.taken[from][0] == &ds[0] {
			// A ja's states are also its taken states.
			c := make([]*state, len(ds))
			for j, s := range ds {
				c[j] = s.clone()
			}
			ds = c
		}
		return ds
	}
	single := fa.inLoop(i)
	var ds []*state
	add := func(s *state) {
		if s == nil || s.bottom {
			return
		}
		if single {
			if len(ds) == 0 {
				ds = []*state{s.clone()}
			} else {
				ds[0].joinWith(s, false)
			}
			return
		}
		ds = addDisjunct(ds, s)
	}
	if i == fa.f.Entry() {
		add(fa.entry)
	}
	for _, e := range preds {
		from := fa.out[e.From-fa.f.Start]
		if e.Kind == cfg.Taken {
			from = fa.taken[e.From-fa.f.Start]
		}
		for _, s := range from {
			add(s)
		}
	}
	return ds
}

// inLoop reports whether instruction i is a loop head or inside a loop.
func (fa *funcAnalysis) inLoop(i int) bool {
	return fa.f.WTO.IsHead(i) || fa.f.WTO.Parent(i) >= 0
}

// addDisjunct adds s (not changed) to the disjunction ds: joined into a state it differs
// from only in numbers, else kept apart, else (ds is full) joined into the state it
// differs from least.
func addDisjunct(ds []*state, s *state) []*state {
	best, bestDist := -1, 0
	for j, d := range ds {
		dist := distance(d, s)
		if dist == 0 {
			d.joinWith(s, false)
			return ds
		}
		if best < 0 || dist < bestDist {
			best, bestDist = j, dist
		}
	}
	if len(ds) < maxDisjuncts {
		return append(ds, s.clone())
	}
	ds[best].joinWith(s, false)
	return ds
}

// joinAll joins a disjunction into one state (nil when empty).
func joinAll(ds []*state) *state {
	switch len(ds) {
	case 0:
		return nil
	case 1:
		return ds[0]
	}
	s := ds[0]
	for _, d := range ds[1:] {
		s.joinWith(d, false)
	}
	return s
}

// distance counts what a join of a and b loses beyond numbers: registers and spill slots
// whose kinds (or nullness, frame, map, reference) differ, and stack bytes initialized
// in one but not the other. 0 means they can be joined.
func distance(a, b *state) int {
	d := 0
	for r := range a.regs {
		if !sameShape(a.regs[r], b.regs[r]) {
			d += 8
		} else if a.regs[r].k == kNum {
			x, okx := a.regs[r].num.Const()
			y, oky := b.regs[r].num.Const()
			if okx && oky && x != y {
				d++
			}
		}
	}
	if len(a.frames) != len(b.frames) {
		return d + 1<<20
	}
	for fi, fa := range a.frames {
		fb := b.frames[fi]
		if fa == fb {
			continue
		}
		if fa.init != fb.init {
			for k := range fa.init {
				if fa.init[k] != fb.init[k] {
					d++
				}
			}
		}
		for k := range fa.spill {
			x, y := fa.spill[k], fb.spill[k]
			if (x == nil) != (y == nil) || x != nil && !sameShape(*x, *y) {
				d += 8
			}
		}
	}
	if a.lock != b.lock || a.pktGen != b.pktGen || len(a.refs) != len(b.refs) {
		d += 8
	}
	return d
}

// sameShape reports whether x and y are the same kind of value, so that their join
// loses only numeric precision.
func sameShape(x, y reg) bool {
	if x.k != y.k {
		return false
	}
	switch x.k {
	case kUninit, kNum, kMixed:
		return true
	case kUnion:
		return x.leq(y) && y.leq(x)
	}
	return x.nullable == y.nullable && x.m == y.m && x.ms == y.ms && x.frame == y.frame && x.size == y.size && x.ref == y.ref && x.fn == y.fn
}

func (fa *funcAnalysis) elements(els []cfg.Element) error {
	for _, el := range els {
		if !el.Component {
			if err := fa.visit(el.Vertex, fa.incoming(el.Vertex), true); err != nil {
				return err
			}
			continue
		}
		if err := fa.loop(el); err != nil {
			return err
		}
	}
	return nil
}

// wideningDelay is how many rounds of a loop are walked exactly, each from the state
// the previous round left at the head (Linux walks loops the same way), before the
// rounds are joined and widened. Exact rounds prove loops bounded by a constant compared
// with != or through a truncation, where a join of the rounds loses the link between the
// counter and the exit test.
const wideningDelay = 1024

// loopExit is an edge leaving a component, and the states that left along it in every
// round so far.
type loopExit struct {
	from  int
	taken bool
	acc   []*state
}

// loop analyzes a component. The first rounds are walked exactly: the head is visited
// with the state reaching it from the previous round alone, so a loop that ends within
// wideningDelay rounds is analyzed as if unrolled. After that, the head joins the
// states reaching it with all earlier ones (widening) until they are stable, and the
// counter on the back edges must be bounded (see the package documentation on
// termination). The states leaving the loop are those of every round.
func (fa *funcAnalysis) loop(el cfg.Element) error {
	h := el.Vertex
	a := fa.a
	var exits []*loopExit
	for _, v := range fa.f.WTO.Component(h) {
		for _, e := range fa.f.Succs(v) {
			if !fa.f.WTO.InComponent(e.To, h) {
				exits = append(exits, &loopExit{from: v, taken: e.Kind == cfg.Taken})
			}
		}
	}
	// gather adds the states leaving the loop in the round just walked.
	gather := func() {
		for _, x := range exits {
			ds := fa.out[x.from-fa.f.Start]
			if x.taken {
				ds = fa.taken[x.from-fa.f.Start]
			}
			for _, s := range ds {
				if s != nil && !s.bottom {
					x.acc = addDisjunct(x.acc, s)
				}
			}
		}
	}
	// leave makes the states of every round those on the loop's exit edges.
	leave := func() {
		for _, x := range exits {
			if x.taken {
				fa.taken[x.from-fa.f.Start] = x.acc
			} else {
				fa.out[x.from-fa.f.Start] = x.acc
			}
		}
	}
	var head *state // exact rounds: the join of the states the head was visited with
	for iter := 0; iter < wideningDelay; iter++ {
		// The first round enters the loop; the others come from the round before.
		in := fa.joinPreds(h, iter > 0)
		if in == nil || in.bottom {
			// Every path has left the loop, within iter rounds.
			leave()
			if !a.opts.SkipTermination && iter > a.opts.MaxLoopIterations {
				return a.errorf(h, nil, nil, "the loop starting here may run %d times, more than the limit of %d", iter, a.opts.MaxLoopIterations)
			}
			return nil
		}
		in.z.Increment(a.loopVar(h), 1)
		if head == nil {
			head = in.clone()
		} else {
			head.joinWith(in, false)
		}
		if err := fa.visit(h, []*state{in}, true); err != nil {
			return err
		}
		if err := fa.elements(el.Body); err != nil {
			return err
		}
		gather()
	}
	for iter := wideningDelay; ; iter++ {
		in := joinAll(fa.incoming(h))
		if in != nil && !in.bottom {
			in.z.Increment(a.loopVar(h), 1)
		}
		if leqState(in, head) {
			leave()
			if a.opts.SkipTermination {
				return nil
			}
			return fa.checkBound(h)
		}
		head.joinWith(in, iter > wideningDelay)
		if err := fa.visit(h, []*state{head}, false); err != nil {
			return err
		}
		if err := fa.elements(el.Body); err != nil {
			return err
		}
		gather()
	}
}

// joinPreds joins the states reaching loop head h from inside its loop (back edges),
// or from outside it (with the function's entry state when h is the entry); nil when
// none does.
func (fa *funcAnalysis) joinPreds(h int, inside bool) *state {
	var s *state
	add := func(d *state) {
		switch {
		case d == nil || d.bottom:
		case s == nil:
			s = d.clone()
		default:
			s.joinWith(d, false)
		}
	}
	if !inside && h == fa.f.Entry() {
		add(fa.entry)
	}
	for _, e := range fa.f.Preds(h) {
		if fa.f.WTO.InComponent(e.From, h) != inside {
			continue
		}
		ds := fa.out[e.From-fa.f.Start]
		if e.Kind == cfg.Taken {
			ds = fa.taken[e.From-fa.f.Start]
		}
		for _, d := range ds {
			add(d)
		}
	}
	return s
}

// checkBound proves that loop head h is reached a bounded number of times: on every back
// edge the head's counter has an upper bound within Options.MaxLoopIterations.
func (fa *funcAnalysis) checkBound(h int) error {
	a := fa.a
	v := a.loopVar(h)
	for _, e := range fa.f.Preds(h) {
		if e.From != h && !fa.f.WTO.InComponent(e.From, h) {
			continue // an edge entering the loop
		}
		ds := fa.out[e.From-fa.f.Start]
		if e.Kind == cfg.Taken {
			ds = fa.taken[e.From-fa.f.Start]
		}
		for _, s := range ds {
			if s == nil || s.bottom {
				continue
			}
			z := s.z.Clone()
			z.Close()
			// A back edge taken hi times reaches the head hi+1 times.
			if _, hi := z.Bounds(v); hi == zone.Inf || hi+1 > int64(a.opts.MaxLoopIterations) {
				what := "is not proven to end"
				if hi != zone.Inf {
					what = fmt.Sprintf("may run %d times, more than the limit of %d", hi+1, a.opts.MaxLoopIterations)
				}
				return a.errorf(h, nil, nil, "the loop starting here %s", what)
			}
		}
	}
	return nil
}

// visit applies instruction i's transfer function to each state of ds, which it may
// change when owned.
func (fa *funcAnalysis) visit(i int, ds []*state, owned bool) error {
	var outs, takens []*state
	k := i - fa.f.Start
	for _, s := range ds {
		out, taken, err := fa.visitOne(i, s, owned)
		if err != nil {
			return err
		}
		if out != nil && !out.bottom {
			outs = append(outs, out)
		}
		if taken != nil && !taken.bottom {
			takens = append(takens, taken)
		}
	}
	ins := fa.a.p.Instructions[i]
	if ins.OpCode&0xf0 == isa.JmpJA && ins.Class().IsJump() {
		takens = outs
	}
	fa.out[k], fa.taken[k] = outs, takens
	return nil
}

// visitOne applies instruction i's transfer function to s and returns the states on
// its fall-through and taken edges.
func (fa *funcAnalysis) visitOne(i int, s *state, owned bool) (out, taken *state, err error) {
	a := fa.a
	if s == nil || s.bottom {
		return nil, nil, nil
	}
	a.processed++
	if a.processed > a.opts.MaxInstructions {
		return nil, nil, a.errorf(i, nil, nil, "the program is too complex: more than %d instructions processed", a.opts.MaxInstructions)
	}
	if a.opts.Log != nil {
		a.logState(i, s)
	}
	if !owned {
		s = s.clone()
	}
	ins := a.p.Instructions[i]
	if r, ok := isa.WrittenRegister(ins); ok && r == isa.R10 {
		return nil, nil, a.errorf(i, nil, nil, "r10, the frame pointer, is read-only")
	}
	if ins.IsJump() && ins.OpCode&0xf0 != isa.JmpJA {
		taken, fall, err := a.branch(i, ins, s)
		return fall, taken, err
	}
	if ins.IsLocalCall() {
		out, err := fa.call(i, ins, s)
		return out, nil, err
	}
	if err := a.step(i, ins, s); err != nil {
		return nil, nil, err
	}
	return s, nil, nil
}

// call analyzes a bpf-to-bpf call: the callee runs on a new stack frame with r1-r5 as
// its arguments; afterwards r0 is its result, r1-r5 are clobbered and r6-r9 are the
// caller's.
func (fa *funcAnalysis) call(i int, ins isa.Instruction, s *state) (*state, error) {
	a := fa.a
	if len(s.frames) >= maxFrames {
		return nil, a.errorf(i, nil, nil, "calls nested more than %d deep", maxFrames)
	}
	target, ok := a.prog.Index(a.offs[i] + 1 + int(ins.Imm()))
	if !ok {
		return nil, a.errorf(i, nil, nil, "call to a slot that is not an instruction")
	}
	callee := a.prog.FuncOf(target)
	in := s.clone()
	in.frames = append(in.frames, &frame{})
	for r := 6; r <= 9; r++ {
		in.setReg(isa.Register(r), uninit)
	}
	in.setReg(0, uninit)
	in.regs[10] = reg{k: kStack, num: interval.Const(0), frame: len(in.frames) - 1}
	out, err := a.function(callee, in)
	if err != nil {
		return nil, err
	}
	if out == nil {
		// The callee never returns (every path aborts): nothing follows.
		return &state{bottom: true, z: a.space.Bottom()}, nil
	}
	res := out.clone()
	res.frames = res.frames[:len(s.frames)]
	for r := 6; r <= 10; r++ {
		res.regs[r] = s.regs[r]
		// The callee used the zone variables of r6-r9 for its own registers.
		res.z.Forget(numVar(isa.Register(r)))
		if s.regs[r].k == kNum {
			res.boundNum(isa.Register(r))
		}
		if s.regs[r].k != kPacket {
			continue
		}
		// Give the caller's packet pointers back their offsets and distance to the
		// packet's end as they were before the call, unless the callee changed the packet.
		v := zReg0 + zone.Var(r)
		res.z.Forget(v)
		if out.pktGen != s.pktGen {
			res.regs[r] = uninit
			continue
		}
		lo, hi := s.z.Bounds(v)
		res.z.AddLower(v, lo)
		res.z.AddUpper(v, hi)
		res.z.AddConstraint(v, zPktSize, s.z.Upper(v, zPktSize))
		res.z.AddConstraint(zMeta, v, s.z.Upper(zMeta, v))
	}
	for r := isa.Register(1); r <= 5; r++ {
		res.setReg(r, uninit)
	}
	if res.regs[0].k == kStack && res.regs[0].frame >= len(s.frames) {
		return nil, a.errorf(i, out, []int{0}, "function returns a pointer to its own stack")
	}
	return res, nil
}
