package verifier

import (
	"github.com/anybpf/anybpf/isa"
	"github.com/anybpf/anybpf/verifier/internal/interval"
	"github.com/anybpf/anybpf/verifier/internal/zone"
)

var conds = map[uint8]interval.Cond{
	isa.JmpJEQ: interval.JEQ, isa.JmpJNE: interval.JNE, isa.JmpJGT: interval.JGT,
	isa.JmpJGE: interval.JGE, isa.JmpJLT: interval.JLT, isa.JmpJLE: interval.JLE,
	isa.JmpJSGT: interval.JSGT, isa.JmpJSGE: interval.JSGE, isa.JmpJSLT: interval.JSLT,
	isa.JmpJSLE: interval.JSLE, isa.JmpJSET: interval.JSET,
}

// branch returns the states on the taken and the fall-through edge of a conditional
// jump (nil for an edge no execution takes).
func (a *analysis) branch(i int, ins isa.Instruction, s *state) (taken, fall *state, err error) {
	c, ok := conds[ins.OpCode&0xf0]
	if !ok {
		return nil, nil, a.errorf(i, nil, nil, "unknown jump")
	}
	jmp32 := ins.Class() == isa.ClassJMP32
	if err := a.readable(i, s, ins.Dst); err != nil {
		return nil, nil, err
	}
	d := s.regs[ins.Dst]
	var src reg
	isReg := ins.OpCode&isa.SrcX != 0
	if isReg {
		if err := a.readable(i, s, ins.Src); err != nil {
			return nil, nil, err
		}
		src = s.regs[ins.Src]
	} else {
		src = number(interval.Imm(ins.Imm()))
	}
	taken, fall = s, s.clone()

	// A pointer that may be NULL compared with 0.
	if d.nullable && src.k == kNum && !jmp32 && (c == interval.JEQ || c == interval.JNE) {
		if z, ok := src.num.Const(); ok && z == 0 {
			isNull, notNull := taken, fall
			if c == interval.JNE {
				isNull, notNull = fall, taken
			}
			markNull(isNull, ins.Dst, true)
			markNull(notNull, ins.Dst, false)
			return taken, fall, nil
		}
	}
	// A pointer that cannot be NULL is not 0 (the regions anybpf gives programs never
	// start at address 0; Linux decides these branches the same way).
	if nonNull(d) && src.k == kNum && !jmp32 {
		if z, ok := src.num.Const(); ok && z == 0 {
			switch c {
			case interval.JEQ, interval.JLE, interval.JLT:
				return nil, fall, nil
			case interval.JNE, interval.JGT:
				return taken, nil, nil
			}
		}
	}
	switch {
	case d.k == kNum && src.k == kNum:
		tp, fp := interval.Refine(c, jmp32, d.num, src.num)
		if isReg && !jmp32 && ins.Dst != ins.Src {
			numberCompare(c, taken, fall, ins, d.num, src.num)
		}
		if !apply(taken, ins, isReg, tp) {
			taken = nil
		}
		if !apply(fall, ins, isReg, fp) {
			fall = nil
		}
	case d.k == kPacket && src.k == kPacket && !jmp32:
		packetCompare(c, taken, fall, ins)
		if taken.z.IsBottom() || !numbersFromZone(taken) {
			taken = nil
		}
		if fall.z.IsBottom() || !numbersFromZone(fall) {
			fall = nil
		}
	}
	return taken, fall, nil
}

// numbersFromZone narrows every number register to the bounds the zone now gives its
// value: a bounds check on data + i + 1 bounds i itself, which a loop counter's
// widening then keeps. It returns false when a register has no value left (the edge
// cannot be taken).
func numbersFromZone(s *state) bool {
	for r := range s.regs {
		if s.regs[r].k != kNum {
			continue
		}
		lo, hi := s.z.Bounds(numVar(isa.Register(r)))
		if lo == zone.NegInf && hi == zone.Inf {
			continue
		}
		v := interval.Meet(s.regs[r].num, interval.SignedRange(lo, hi))
		if v.IsBottom() {
			return false
		}
		s.regs[r].num = v
	}
	return true
}

// apply stores refined operand values; it returns false when the edge is impossible.
func apply(s *state, ins isa.Instruction, isReg bool, p interval.Pair) bool {
	if p.Dst.IsBottom() || p.Src.IsBottom() {
		return false
	}
	s.regs[ins.Dst].num = p.Dst
	s.boundNum(ins.Dst)
	if isReg {
		s.regs[ins.Src].num = p.Src
		s.boundNum(ins.Src)
	}
	return !s.z.IsBottom()
}

// packetCompare adds to each edge the order of two packet pointers the jump implies.
func packetCompare(c interval.Cond, taken, fall *state, ins isa.Instruction) {
	d, o := pktVar(ins.Dst), pktVar(ins.Src)
	lt := func(s *state, x, y isa.Register, strict bool) { // x < y (or <=)
		k := int64(0)
		if strict {
			k = -1
		}
		s.z.AddConstraint(pktVar(x), pktVar(y), k)
	}
	switch c {
	case interval.JGT, interval.JSGT:
		lt(taken, ins.Src, ins.Dst, true)
		lt(fall, ins.Dst, ins.Src, false)
	case interval.JGE, interval.JSGE:
		lt(taken, ins.Src, ins.Dst, false)
		lt(fall, ins.Dst, ins.Src, true)
	case interval.JLT, interval.JSLT:
		lt(taken, ins.Dst, ins.Src, true)
		lt(fall, ins.Src, ins.Dst, false)
	case interval.JLE, interval.JSLE:
		lt(taken, ins.Dst, ins.Src, false)
		lt(fall, ins.Src, ins.Dst, true)
	case interval.JEQ:
		taken.z.AddEqual(d, o, 0)
		notEqual(fall, d, o)
	case interval.JNE:
		fall.z.AddEqual(d, o, 0)
		notEqual(taken, d, o)
	}
}

// numberCompare adds to each edge the order of two number registers the jump implies,
// for signed comparisons, and for unsigned ones when both are non-negative as signed
// numbers (the zone holds values as signed numbers).
func numberCompare(c interval.Cond, taken, fall *state, ins isa.Instruction, dv, sv interval.Value) {
	switch c {
	case interval.JGT, interval.JGE, interval.JLT, interval.JLE:
		if dv.SMin() < 0 || sv.SMin() < 0 {
			return
		}
	case interval.JSET:
		return
	}
	d, o := numVar(ins.Dst), numVar(ins.Src)
	switch c {
	case interval.JGT, interval.JSGT:
		taken.z.AddConstraint(o, d, -1)
		fall.z.AddConstraint(d, o, 0)
	case interval.JGE, interval.JSGE:
		taken.z.AddConstraint(o, d, 0)
		fall.z.AddConstraint(d, o, -1)
	case interval.JLT, interval.JSLT:
		taken.z.AddConstraint(d, o, -1)
		fall.z.AddConstraint(o, d, 0)
	case interval.JLE, interval.JSLE:
		taken.z.AddConstraint(d, o, 0)
		fall.z.AddConstraint(o, d, -1)
	case interval.JEQ:
		taken.z.AddEqual(d, o, 0)
		notEqual(fall, d, o)
	case interval.JNE:
		fall.z.AddEqual(d, o, 0)
		notEqual(taken, d, o)
	}
}

// notEqual adds x ≠ y to s where the zone already orders x and y: x ≤ y becomes x < y
// (as data ≠ data_end means the packet is not empty).
func notEqual(s *state, x, y zone.Var) {
	switch {
	case s.z.Upper(x, y) <= 0:
		s.z.AddConstraint(x, y, -1)
	case s.z.Upper(y, x) <= 0:
		s.z.AddConstraint(y, x, -1)
	}
}

// nonNull reports whether r is a pointer that is never NULL.
func nonNull(r reg) bool {
	switch r.k {
	case kCtx, kStack, kPacket:
		return true
	case kMapValue, kMem:
		return !r.nullable
	case kUnion:
		for _, x := range r.alts {
			if !nonNull(x) {
				return false
			}
		}
		return true
	}
	return false
}

// markNull sets every register and spill with p's null id to NULL (a number 0) or to
// the pointer, not NULL.
func markNull(s *state, which isa.Register, null bool) {
	p := s.regs[which]
	same := func(r reg) bool {
		return r.nullable && r.k == p.k && r.nullID == p.nullID && p.nullID > 0
	}
	fix := func(r *reg) {
		if null {
			if r.ref != 0 {
				delete(s.refs, r.ref) // a NULL record holds no reference
			}
			*r = number(interval.Const(0))
		} else {
			r.nullable = false
		}
	}
	for i := range s.regs {
		if i == int(which) || same(s.regs[i]) {
			fix(&s.regs[i])
		}
	}
	for _, f := range s.frames {
		for j := range f.spill {
			if f.spill[j] != nil && same(*f.spill[j]) {
				v := *f.spill[j]
				fix(&v)
				f.spill[j] = &v
			}
		}
	}
}
