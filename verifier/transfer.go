package verifier

import (
	"github.com/anybpf/anybpf/isa"
	"github.com/anybpf/anybpf/progtype"
	"github.com/anybpf/anybpf/verifier/internal/interval"
	"github.com/anybpf/anybpf/verifier/internal/zone"
	"math"
)

var aluOps = map[uint8]interval.Op{
	isa.AluAdd: interval.Add, isa.AluSub: interval.Sub, isa.AluMul: interval.Mul,
	isa.AluDiv: interval.Div, isa.AluOr: interval.Or, isa.AluAnd: interval.And,
	isa.AluLsh: interval.Lsh, isa.AluRsh: interval.Rsh, isa.AluNeg: interval.Neg,
	isa.AluMod: interval.Mod, isa.AluXor: interval.Xor, isa.AluMov: interval.Mov,
	isa.AluArsh: interval.Arsh,
}

func sizeOf(op uint8) int {
	switch op & 0x18 {
	case isa.SizeB:
		return 1
	case isa.SizeH:
		return 2
	case isa.SizeW:
		return 4
	}
	return 8
}

// pktVar is the zone variable of register r's packet offset.
func pktVar(r isa.Register) zone.Var { return zReg0 + zone.Var(r) }

// numVar is the zone variable of register r's value as a signed number.
func numVar(r isa.Register) zone.Var { return zNum0 + zone.Var(r) }

// setReg writes register r, forgetting the zone variables of what it held; a number's
// bounds go into the zone.
func (s *state) setReg(r isa.Register, v reg) {
	s.z.Forget(pktVar(r))
	s.z.Forget(numVar(r))
	s.regs[r] = v
	if v.k == kNum {
		s.boundNum(r)
	}
}

// boundNum adds the interval bounds of number register r to the zone.
func (s *state) boundNum(r isa.Register) {
	v := s.regs[r].num
	if v.IsBottom() {
		return
	}
	s.z.AddLower(numVar(r), v.SMin())
	s.z.AddUpper(numVar(r), v.SMax())
}

// assignSum sets x := y + z in the zone, where y and z are variables with the given
// bounds (x may be y or z): x − y lies in z's bounds and x − z in y's.
func (s *state) assignSum(x, y, z zone.Var, ylo, yhi, zlo, zhi int64) {
	s.z.Assign(zTmp, y, 0)
	s.z.Assign(zTmp2, z, 0)
	s.z.Forget(x)
	addDiffRange(s.z, x, zTmp, zlo, zhi)
	addDiffRange(s.z, x, zTmp2, ylo, yhi)
	s.z.Forget(zTmp)
	s.z.Forget(zTmp2)
}

// addDiffRange adds lo <= x − y <= hi, skipping infinite bounds.
func addDiffRange(d *zone.DBM, x, y zone.Var, lo, hi int64) {
	if hi < 1<<62 {
		d.AddConstraint(x, y, hi)
	}
	if lo > -1<<62 {
		d.AddConstraint(y, x, -lo)
	}
}

// step applies the transfer function of an instruction that is not a conditional jump
// or a local call.
func (a *analysis) step(i int, ins isa.Instruction, s *state) error {
	switch ins.Class() {
	case isa.ClassALU, isa.ClassALU64:
		return a.alu(i, ins, s)
	case isa.ClassLD:
		return a.ld(i, ins, s)
	case isa.ClassLDX:
		return a.ldx(i, ins, s)
	case isa.ClassST, isa.ClassSTX:
		return a.store(i, ins, s)
	case isa.ClassJMP, isa.ClassJMP32:
		switch {
		case ins.IsExit():
			return a.exit(i, s)
		case ins.IsHelperCall():
			return a.helperCall(i, ins, s)
		case ins.OpCode == isa.OpCall:
			return a.errorf(i, nil, nil, "calls of kernel functions (kfuncs) are not supported")
		case ins.OpCode == isa.OpCallX:
			return a.callx(i, ins, s)
		}
		return nil // ja
	}
	return a.errorf(i, nil, nil, "unknown instruction class")
}

// callx checks a call of the helper whose id is in the instruction's dst register (the
// bpf_conformance "callx" group): the register must hold one known id, and the call is
// then checked as a call of that helper.
func (a *analysis) callx(i int, ins isa.Instruction, s *state) error {
	r := ins.Dst
	if err := a.readable(i, s, r); err != nil {
		return err
	}
	x := s.regs[r]
	if x.k != kNum {
		return a.errorf(i, s, []int{int(r)}, "callx target r%d is a %s, not a helper id", r, x.k)
	}
	id, ok := x.num.Const()
	if !ok || id > math.MaxInt32 {
		return a.errorf(i, s, []int{int(r)}, "callx target r%d is not one known helper id", r)
	}
	return a.helperCall(i, isa.Instruction{OpCode: isa.OpCall, Constant: int64(id)}, s)
}

// readable checks that register r may be read.
func (a *analysis) readable(i int, s *state, r isa.Register) error {
	switch s.regs[r].k {
	case kUninit:
		return a.errorf(i, s, []int{int(r)}, "r%d is read before it is written", r)
	case kMixed:
		return a.errorf(i, s, []int{int(r)}, "r%d holds values of different kinds on different paths", r)
	}
	return nil
}

func (a *analysis) alu(i int, ins isa.Instruction, s *state) error {
	is64 := ins.Class() == isa.ClassALU64
	op := ins.OpCode & 0xf0
	dst := ins.Dst
	if op == isa.AluEnd {
		if err := a.readable(i, s, dst); err != nil {
			return err
		}
		if s.regs[dst].k != kNum {
			return a.errorf(i, s, []int{int(dst)}, "byte swap of a pointer")
		}
		v := s.regs[dst].num
		if is64 { // bswap
			v = v.Bswap(int(ins.Imm()))
		} else {
			v = v.End(int(ins.Imm()), ins.OpCode&isa.SrcX != 0)
		}
		s.setReg(dst, number(v))
		return nil
	}
	// The source operand.
	var src reg
	srcReg := -1
	if ins.OpCode&isa.SrcX != 0 {
		if err := a.readable(i, s, ins.Src); err != nil {
			return err
		}
		src, srcReg = s.regs[ins.Src], int(ins.Src)
	} else {
		src = number(interval.Imm(ins.Imm()))
	}
	if op == isa.AluMov {
		if ins.Offset != 0 { // movsx
			if src.k != kNum {
				return a.errorf(i, s, []int{srcReg}, "sign extension of a pointer")
			}
			v := src.num.SignExtend(int(ins.Offset))
			if !is64 {
				v = interval.ALU32(interval.Mov, v, v)
			}
			s.setReg(dst, number(v))
			return nil
		}
		if !is64 {
			if src.k != kNum {
				if !a.pointerLeaksAllowed() {
					return a.errorf(i, s, []int{srcReg}, "32-bit copy of a pointer would leak its address")
				}
				// Linux turns a 32-bit copy of a pointer into an unknown number.
				src = number(interval.UnsignedRange(0, 1<<32-1))
			}
			s.setReg(dst, number(interval.ALU32(interval.Mov, src.num, src.num)))
			return nil
		}
		if src.k == kPacket {
			s.regs[dst] = src
			s.z.Assign(pktVar(dst), pktVar(ins.Src), 0)
			s.z.Forget(numVar(dst))
			return nil
		}
		s.setReg(dst, src)
		if src.k == kNum && srcReg >= 0 && isa.Register(srcReg) != dst {
			s.z.Assign(numVar(dst), numVar(ins.Src), 0)
		}
		return nil
	}
	if err := a.readable(i, s, dst); err != nil {
		return err
	}
	d := s.regs[dst]
	iop, ok := aluOps[op]
	if !ok {
		return a.errorf(i, nil, nil, "unknown ALU operation")
	}
	if ins.Offset == 1 { // sdiv, smod
		switch iop {
		case interval.Div:
			iop = interval.SDiv
		case interval.Mod:
			iop = interval.SMod
		}
	}
	if d.k == kNum && src.k == kNum {
		divisor := src.num
		if !is64 {
			divisor = interval.ALU32(interval.Mov, divisor, divisor)
		}
		switch {
		case !divisor.Contains(0):
		case iop == interval.Div || iop == interval.SDiv:
			a.warnf(i, "%s by a value that may be 0 (the result is then 0)", iop)
		case iop == interval.Mod || iop == interval.SMod:
			a.warnf(i, "%s by a value that may be 0 (the result is then the dividend)", iop)
		}
		var v interval.Value
		if is64 {
			v = interval.ALU64(iop, d.num, src.num)
		} else {
			v = interval.ALU32(iop, d.num, src.num)
		}
		// Sums and differences that cannot wrap keep their relations in the zone.
		if is64 && (iop == interval.Add || iop == interval.Sub) && noWrap(iop, d.num, src.num) {
			old := d.num
			s.regs[dst] = number(v)
			if srcReg < 0 {
				c := int64(ins.Imm())
				if iop == interval.Sub {
					c = -c
				}
				s.z.Increment(numVar(dst), c)
			} else if iop == interval.Add {
				s.assignSum(numVar(dst), numVar(dst), numVar(ins.Src), old.SMin(), old.SMax(), src.num.SMin(), src.num.SMax())
			} else {
				s.z.Forget(numVar(dst))
			}
			s.boundNum(dst)
			return nil
		}
		s.setReg(dst, number(v))
		return nil
	}
	// Pointer arithmetic: pointer ± number, number + pointer, pointer − pointer.
	if !is64 {
		return a.errorf(i, s, []int{int(dst), srcReg}, "32-bit arithmetic on a pointer")
	}
	switch {
	case d.k != kNum && src.k == kNum && (iop == interval.Add || iop == interval.Sub):
		nv := zone.Var(-1)
		if srcReg >= 0 {
			nv = numVar(ins.Src)
		}
		return a.movePointer(i, s, dst, iop, src.num, nv)
	case d.k == kNum && src.k != kNum && iop == interval.Add:
		// number + pointer: the pointer moves by the number.
		n := d.num
		s.z.Assign(zTmp3, numVar(dst), 0)
		s.regs[dst] = src
		s.z.Forget(numVar(dst))
		if src.k == kPacket {
			s.z.Assign(pktVar(dst), pktVar(ins.Src), 0)
		}
		err := a.movePointer(i, s, dst, interval.Add, n, zTmp3)
		s.z.Forget(zTmp3)
		return err
	case d.k == src.k && iop == interval.Sub && d.k != kNum:
		return a.pointerDiff(i, s, dst, ins.Src)
	}
	return a.errorf(i, s, []int{int(dst), srcReg}, "%s on a pointer is not allowed", iop)
}

// movePointer adds (or subtracts) n to the pointer in dst; nv is the zone variable
// holding n (or -1 for a constant).
func (a *analysis) movePointer(i int, s *state, dst isa.Register, op interval.Op, n interval.Value, nv zone.Var) error {
	p := s.regs[dst]
	switch p.k {
	case kMapPtr, kFunc, kOpaque, kMixed:
		return a.errorf(i, s, []int{int(dst)}, "arithmetic on a %s", p.k)
	case kUnion:
		alts := make([]reg, len(p.alts))
		for j, alt := range p.alts {
			alt.num = interval.ALU64(op, alt.num, n)
			alts[j] = alt
		}
		s.regs[dst] = reg{k: kUnion, alts: alts}
		return nil
	}
	if p.nullable {
		return a.errorf(i, s, []int{int(dst)}, "arithmetic on a pointer that may be NULL (check it first)")
	}
	if p.k == kPacket {
		v := pktVar(dst)
		lo, hi := n.SMin(), n.SMax()
		if op == interval.Sub {
			lo, hi = -hi, -lo
			if n.SMin() == -1<<63 {
				lo, hi = -1<<63+1, 1<<63-1
			}
		}
		if lo == hi {
			s.z.Increment(v, lo)
		} else if nv >= 0 && op == interval.Add {
			plo, phi := s.z.Bounds(v)
			s.assignSum(v, v, nv, plo, phi, lo, hi)
		} else {
			s.z.Assign(zTmp, v, 0)
			s.z.Forget(v)
			if hi != 1<<63-1 {
				s.z.AddConstraint(v, zTmp, hi)
			}
			if lo != -1<<63 {
				s.z.AddConstraint(zTmp, v, -lo)
			}
			s.z.Forget(zTmp)
		}
		return nil
	}
	p.num = interval.ALU64(op, p.num, n)
	s.regs[dst] = p
	return nil
}

// pointerDiff is dst −= src for two pointers of the same kind: a number.
func (a *analysis) pointerDiff(i int, s *state, dst, src isa.Register) error {
	d, o := s.regs[dst], s.regs[src]
	var v interval.Value
	switch {
	case d.k == kPacket:
		lo, hi := s.z.DiffBounds(pktVar(dst), pktVar(src))
		v = signedRange(lo, hi)
		// The difference is dst's offset minus src's: keep its relation to dst's
		// offset (to the packet's size, for data_end − data), within src's bounds.
		slo, shi := s.z.Bounds(pktVar(src))
		s.z.Assign(zTmp3, pktVar(dst), 0)
		s.setReg(dst, number(v))
		if slo != zone.NegInf && shi != zone.Inf && !v.IsBottom() {
			addDiffRange(s.z, numVar(dst), zTmp3, -shi, -slo)
		}
		s.z.Forget(zTmp3)
		return nil
	case (d.k == kStack || d.k == kCtx) && d.frame == o.frame:
		// One region: the difference of the offsets is the difference of the pointers.
		// (Two map values or records may be different allocations, whose difference
		// would be an address the analysis does not know.)
		v = interval.ALU64(interval.Sub, d.num, o.num)
	default:
		return a.errorf(i, s, []int{int(dst), int(src)}, "subtraction of pointers into different regions")
	}
	s.setReg(dst, number(v))
	return nil
}

// signedRange turns zone bounds into an interval.
func signedRange(lo, hi int64) interval.Value {
	if lo == zone.NegInf || lo < -1<<62 {
		lo = -1 << 63
	}
	if hi == zone.Inf || hi > 1<<62 {
		hi = 1<<63 - 1
	}
	if lo > hi {
		return interval.Bottom()
	}
	return interval.SignedRange(lo, hi)
}

// ld handles 64-bit immediate loads (numbers, maps, map values, functions) and the
// legacy packet loads.
func (a *analysis) ld(i int, ins isa.Instruction, s *state) error {
	if !ins.IsLDDW() {
		// LD_ABS / LD_IND: the packet of an skb program, checked at run time; r0 is the
		// loaded number and r1-r5 are clobbered.
		if a.ctx == nil || a.ctx.Name != progtype.SKBuffContext.Name {
			return a.errorf(i, nil, nil, "legacy packet loads are only for socket filter and tc programs")
		}
		if s.regs[6].k != kCtx {
			return a.errorf(i, s, []int{6}, "legacy packet loads need the context in r6")
		}
		if ins.OpCode&0xe0 == isa.ModeIND {
			if err := a.readable(i, s, ins.Src); err != nil {
				return err
			}
		}
		for r := isa.Register(1); r <= 5; r++ {
			s.setReg(r, uninit)
		}
		s.setReg(0, number(interval.Load(sizeOf(ins.OpCode))))
		return nil
	}
	if ref, ok := a.mapRefs[i]; ok {
		m := a.p.Maps[ref.Map]
		if ref.Value {
			if ref.Offset < 0 || ref.Offset >= int64(m.ValueSize) {
				return a.errorf(i, nil, nil, "value address %d is outside map %s's %d-byte value", ref.Offset, m.Name, m.ValueSize)
			}
			s.setReg(ins.Dst, reg{k: kMapValue, m: ref.Map, num: interval.Const(uint64(ref.Offset))})
		} else {
			s.setReg(ins.Dst, reg{k: kMapPtr, m: ref.Map, num: interval.Const(0)})
		}
		return nil
	}
	switch uint8(ins.Src) {
	case isa.PseudoNone:
		s.setReg(ins.Dst, number(interval.Const(uint64(ins.Constant))))
	case isa.PseudoFunc:
		target, ok := a.prog.Index(a.offs[i] + 1 + int(ins.Imm()))
		if !ok {
			return a.errorf(i, nil, nil, "function address of a slot that is not an instruction")
		}
		s.setReg(ins.Dst, reg{k: kFunc, fn: target, num: interval.Const(0)})
	default:
		return a.errorf(i, nil, nil, "64-bit load of a map or object the program was not given")
	}
	return nil
}

func (a *analysis) exit(i int, s *state) error {
	if len(s.frames) > 1 {
		// Returning from a function: r0 must be set.
		return a.readable(i, s, 0)
	}
	if a.fragment && i == a.fragmentEnd {
		return nil
	}
	if err := a.readable(i, s, 0); err != nil {
		return err
	}
	if s.regs[0].k != kNum {
		return a.errorf(i, s, []int{0}, "the program returns a pointer")
	}
	if a.fragment {
		return nil
	}
	if lo, hi, ok := returnRange(a.p.Type, a.p.AttachType, a.p.Windows); ok {
		v := s.regs[0].num
		if v.U32Min() < lo || v.U32Max() > hi {
			return a.errorf(i, s, []int{0}, "%s programs return a value from %d to %d", a.p.Type, lo, hi)
		}
	}
	if s.lock != noLock {
		return a.errorf(i, s, nil, "the program exits with a spin lock held")
	}
	for id := range s.refs {
		return a.errorf(i, s, nil, "the program exits holding reference %d (a ring buffer record not submitted or discarded, or a socket not released)", id)
	}
	return nil
}

// noWrap reports whether dst op src (add or sub) cannot overflow a signed 64-bit number.
func noWrap(op interval.Op, d, s interval.Value) bool {
	const lim = 1 << 62
	in := func(v interval.Value) bool { return v.SMin() > -lim && v.SMax() < lim }
	return in(d) && in(s)
}
