package verifier

import (
	"github.com/anybpf/anybpf/isa"
	"github.com/anybpf/anybpf/progtype"
	"github.com/anybpf/anybpf/verifier/internal/interval"
	"github.com/anybpf/anybpf/verifier/internal/zone"
)

// access describes a memory access through a pointer register.
type access struct {
	ptr   isa.Register
	off   int64 // the instruction's offset
	size  int
	write bool
}

// checkAccess proves that the access stays in the region its pointer points into and
// returns the offset range it touches (relative to the region's start; for the stack,
// to the frame's top).
func (a *analysis) checkAccess(i int, s *state, ac access) (lo, hi int64, err error) {
	p := s.regs[ac.ptr]
	if p.k == kUnion {
		// Every pointer the register may hold must allow the access.
		for _, alt := range p.alts {
			if alt.k == kCtx {
				return 0, 0, a.errorf(i, s, []int{int(ac.ptr)}, "r%d may be the context or another pointer; context fields need a known pointer", ac.ptr)
			}
			s.regs[ac.ptr] = alt
			_, _, err := a.checkAccess(i, s, ac)
			s.regs[ac.ptr] = p
			if err != nil {
				return 0, 0, err
			}
		}
		return 0, 0, nil
	}
	fail := func(format string, args ...any) (int64, int64, error) {
		return 0, 0, a.errorf(i, s, []int{int(ac.ptr)}, format, args...)
	}
	if p.nullable {
		return fail("access through a pointer that may be NULL (compare it with 0 first)")
	}
	size := int64(ac.size)
	switch p.k {
	case kUninit, kMixed:
		return fail("r%d is not a pointer", ac.ptr)
	case kNum:
		return fail("access through a number, not a pointer")
	case kMapPtr, kFunc, kOpaque:
		return fail("a %s cannot be dereferenced", p.k)
	case kKernel:
		if ac.write {
			return fail("write through a kernel pointer: tracing programs may only read kernel memory")
		}
		return fail("a kernel pointer is not memory a helper may use (copy from it with bpf_probe_read_kernel)")
	case kPacket:
		if ac.write && !progtype.PacketWritable(a.p.Type) {
			return fail("%s programs may not write into their packet", a.p.Type)
		}
		v := pktVar(ac.ptr)
		// meta <= off + ptr and ptr + off + size <= pkt_size.
		if !s.z.Entails(zMeta, v, ac.off) {
			return fail("packet access at offset %d may start before the packet", ac.off)
		}
		if !s.z.Entails(v, zPktSize, -(ac.off + size)) {
			return fail("packet access of %d bytes at offset %d may run past the packet's end (no bounds check proves it in range)", size, ac.off)
		}
		plo, phi := s.z.Bounds(v)
		return sat(plo, ac.off), sat(phi, ac.off+size), nil
	}
	lo = p.num.SMin()
	hi = p.num.SMax()
	if lo < -1<<40 || hi > 1<<40 {
		return fail("the pointer's offset %s is unbounded", p.num)
	}
	lo += ac.off
	hi += ac.off + size
	var limit int64
	switch p.k {
	case kStack:
		if lo < -stackSize || hi > 0 {
			return fail("stack access [%d, %d) is outside the %d-byte stack", lo, hi, stackSize)
		}
		return lo, hi, nil
	case kMapValue:
		limit = -1
		name := ""
		for _, mi := range mapsOf(p) {
			m := a.p.Maps[mi]
			if ac.write && m.ReadOnly {
				return fail("write to read-only map %s", m.Name)
			}
			if l := int64(m.SpinLockOffset); m.SpinLock && lo < l+4 && hi > l {
				return fail("access [%d, %d) touches the struct bpf_spin_lock of map %s's value (bytes [%d, %d)): only bpf_spin_lock and bpf_spin_unlock may", lo, hi, m.Name, l, l+4)
			}
			if limit < 0 || int64(m.ValueSize) < limit {
				limit, name = int64(m.ValueSize), m.Name
			}
		}
		if lo < 0 || hi > limit {
			return fail("access [%d, %d) is outside map %s's %d-byte value", lo, hi, name, limit)
		}
	case kMem:
		if lo < 0 || hi > p.size {
			return fail("access [%d, %d) is outside the %d-byte memory region", lo, hi, p.size)
		}
	case kCtx:
		// Checked against the context descriptor by the caller.
	}
	return lo, hi, nil
}

func sat(a, b int64) int64 {
	switch {
	case a == zone.Inf, a == zone.NegInf:
		return a
	}
	return a + b
}

// ldx is a load from memory.
func (a *analysis) ldx(i int, ins isa.Instruction, s *state) error {
	if err := a.readable(i, s, ins.Src); err != nil {
		return err
	}
	size := sizeOf(ins.OpCode)
	sx := ins.OpCode&0xe0 == isa.ModeMEMSX
	p := s.regs[ins.Src]
	if p.k == kCtx {
		if k := a.kernelCtx(); k != nil {
			return a.kernelArgLoad(i, ins, s, size, sx, k)
		}
		return a.ctxLoad(i, ins, s, size)
	}
	if p.k == kKernel {
		return a.kernelLoad(i, ins, s, size, sx)
	}
	if p.k == kUnion {
		if _, _, err := a.checkAccess(i, s, access{ptr: ins.Src, off: int64(ins.Offset), size: size}); err != nil {
			return err
		}
		err := a.stackRanges(i, s, ins.Src, int64(ins.Offset), size, func(f *frame, lo, hi int64) error {
			for b := lo; b < hi; b++ {
				if !f.init[b+stackSize] {
					return a.errorf(i, s, []int{int(ins.Src)}, "read of uninitialized stack byte at offset %d", b)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if sx {
			s.setReg(ins.Dst, number(interval.LoadSX(size)))
		} else {
			s.setReg(ins.Dst, number(interval.Load(size)))
		}
		return nil
	}
	lo, hi, err := a.checkAccess(i, s, access{ptr: ins.Src, off: int64(ins.Offset), size: size})
	if err != nil {
		return err
	}
	result := number(interval.Load(size))
	if sx {
		result = number(interval.LoadSX(size))
	}
	if p.k == kStack {
		f := s.frames[p.frame]
		// A whole spilled register comes back as it was.
		if size == 8 && lo == hi-8 && lo%8 == 0 {
			if sp := f.spill[(lo+stackSize)/8]; sp != nil {
				result = *sp
				if result.k == kPacket {
					lo, hi := result.endLo, result.endHi
					result.endLo, result.endHi = 0, 0 // in a register the zone holds it
					s.setReg(ins.Dst, result)
					s.z.AssignRange(pktVar(ins.Dst), result.num.SMin(), result.num.SMax())
					addDiffRange(s.z, pktVar(ins.Dst), zPktSize, lo, hi)
					return nil
				}
			}
		}
		for b := lo; b < hi; b++ {
			if !f.init[b+stackSize] {
				return a.errorf(i, s, []int{int(ins.Src)}, "read of uninitialized stack byte at offset %d", b)
			}
		}
	}
	s.setReg(ins.Dst, result)
	return nil
}

// ctxLoad reads a context field: packet pointers become packet registers, other fields
// numbers of the field's size.
func (a *analysis) ctxLoad(i int, ins isa.Instruction, s *state, size int) error {
	f, err := a.ctxField(i, s, ins.Src, int64(ins.Offset), size, false)
	if err != nil {
		return err
	}
	switch f.Kind {
	case progtype.PacketStart:
		s.setReg(ins.Dst, reg{k: kPacket})
		s.z.AssignConst(pktVar(ins.Dst), 0)
	case progtype.PacketEnd:
		s.setReg(ins.Dst, reg{k: kPacket})
		s.z.Assign(pktVar(ins.Dst), zPktSize, 0)
	case progtype.PacketMeta:
		s.setReg(ins.Dst, reg{k: kPacket})
		s.z.Assign(pktVar(ins.Dst), zMeta, 0)
	case progtype.Scalar:
		s.setReg(ins.Dst, number(interval.Load(size)))
	default:
		s.setReg(ins.Dst, reg{k: kOpaque, num: interval.Const(0)})
	}
	return nil
}

// ctxField finds the context field an access at a constant offset touches.
func (a *analysis) ctxField(i int, s *state, ptr isa.Register, off int64, size int, write bool) (*progtype.Field, error) {
	p := s.regs[ptr]
	c, ok := p.num.Const()
	if !ok {
		return nil, a.errorf(i, s, []int{int(ptr)}, "context access at a variable offset")
	}
	if a.ctx == nil {
		return nil, a.errorf(i, s, []int{int(ptr)}, "this program type has no context to access")
	}
	at := int64(c) + off
	f, ok := a.ctx.Field(int(at), size)
	if !ok {
		return nil, a.errorf(i, s, []int{int(ptr)}, "%d-byte access at offset %d of %s is not a field", size, at, a.ctx.Name)
	}
	if write && !f.Writable {
		return nil, a.errorf(i, s, []int{int(ptr)}, "field %s of %s is read-only", f.Name, a.ctx.Name)
	}
	if write && f.MinWrite > size {
		return nil, a.errorf(i, s, []int{int(ptr)}, "field %s of %s takes stores of %d bytes, not %d", f.Name, a.ctx.Name, f.MinWrite, size)
	}
	return f, nil
}

// store handles ST, STX and atomic operations.
func (a *analysis) store(i int, ins isa.Instruction, s *state) error {
	if err := a.readable(i, s, ins.Dst); err != nil {
		return err
	}
	size := sizeOf(ins.OpCode)
	var val reg
	if ins.Class() == isa.ClassSTX {
		if err := a.readable(i, s, ins.Src); err != nil {
			return err
		}
		val = s.regs[ins.Src]
		if val.k == kPacket {
			// A spilled packet pointer keeps its offset and its distance to the
			// packet's end (the zone variable stays with the register).
			lo, hi := s.z.Bounds(pktVar(ins.Src))
			val.num = signedRange(lo, hi)
			val.endLo, val.endHi = s.z.DiffBounds(pktVar(ins.Src), zPktSize)
		}
	} else {
		val = number(interval.Imm(ins.Imm()))
	}
	atomic := ins.OpCode&0xe0 == isa.ModeATOMIC
	if atomic && val.k != kNum {
		return a.errorf(i, s, []int{int(ins.Src)}, "atomic operation with a pointer operand")
	}
	p := s.regs[ins.Dst]
	if p.k == kUnion {
		if _, _, err := a.checkAccess(i, s, access{ptr: ins.Dst, off: int64(ins.Offset), size: size, write: true}); err != nil {
			return err
		}
		if val.k != kNum && !a.pointerLeaksAllowed() {
			return a.errorf(i, s, []int{int(ins.Src), int(ins.Dst)}, "store of a %s through a pointer that may point into a map would leak an address", val.k)
		}
		if atomic {
			return a.errorf(i, s, []int{int(ins.Dst)}, "atomic operation through a pointer of several kinds")
		}
		// The store may land in any of them: stack slots it may touch lose their spills
		// (nothing becomes initialized for sure).
		return a.stackRanges(i, s, ins.Dst, int64(ins.Offset), size, func(f *frame, lo, hi int64) error {
			f.dropSpills(lo, hi)
			return nil
		})
	}
	if p.k == kCtx {
		if atomic {
			return a.errorf(i, s, []int{int(ins.Dst)}, "atomic operation on the context")
		}
		if val.k != kNum {
			return a.errorf(i, s, []int{int(ins.Src)}, "store of a pointer into the context")
		}
		_, err := a.ctxField(i, s, ins.Dst, int64(ins.Offset), size, true)
		return err
	}
	lo, hi, err := a.checkAccess(i, s, access{ptr: ins.Dst, off: int64(ins.Offset), size: size, write: true})
	if err != nil {
		return err
	}
	if atomic {
		if p.k != kMapValue && p.k != kStack && p.k != kMem {
			return a.errorf(i, s, []int{int(ins.Dst)}, "atomic operation on %s memory", p.k)
		}
		if size != 4 && size != 8 {
			return a.errorf(i, nil, nil, "atomic operations are 4 or 8 bytes")
		}
		if ins.Imm()&isa.AtomicFetch != 0 {
			if ins.Imm() == isa.AtomicCmpXchg {
				if err := a.readable(i, s, 0); err != nil {
					return err
				}
				s.setReg(0, number(interval.Load(size)))
			} else {
				s.setReg(ins.Src, number(interval.Load(size)))
			}
		}
	}
	if p.k != kStack {
		if val.k != kNum && !a.pointerLeaksAllowed() {
			// Pointers stored into maps or packets would leak addresses.
			return a.errorf(i, s, []int{int(ins.Src), int(ins.Dst)}, "store of a %s into %s memory would leak an address", val.k, p.k)
		}
		return nil
	}
	f := s.frames[p.frame]
	f.dropSpills(lo, hi)
	if lo != hi-int64(size) {
		return nil // a store at a variable offset initializes nothing for sure
	}
	for b := lo; b < hi; b++ {
		f.init[b+stackSize] = true
	}
	if size == 8 && lo%8 == 0 && !atomic {
		v := val
		f.spill[(lo+stackSize)/8] = &v
	} else if val.k != kNum {
		return a.errorf(i, s, []int{int(ins.Src)}, "partial spill of a pointer to the stack")
	}
	return nil
}

// stackRanges calls fn with the frame and the byte range [lo, hi) that each stack pointer
// of the type set in register r touches with an access of size bytes at off.
func (a *analysis) stackRanges(i int, s *state, r isa.Register, off int64, size int, fn func(f *frame, lo, hi int64) error) error {
	set := s.regs[r]
	defer func() { s.regs[r] = set }()
	for _, alt := range set.alts {
		if alt.k != kStack {
			continue
		}
		s.regs[r] = alt
		lo, hi, err := a.checkAccess(i, s, access{ptr: r, off: off, size: size})
		if err != nil {
			return err
		}
		if err := fn(s.frames[alt.frame], lo, hi); err != nil {
			return err
		}
	}
	return nil
}
