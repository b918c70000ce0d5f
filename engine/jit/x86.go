//go:build amd64 && linux

package jit

import (
	"encoding/binary"
	"slices"
)

// x86-64 general-purpose registers, numbered as in their encodings.
const (
	rax = iota
	rcx
	rdx
	rbx
	rsp
	rbp
	rsi
	rdi
	r8
	r9
	r10
	r11
	r12
	r13
	r14
	r15
)

// noIndex marks a memory operand without an index register.
const noIndex = -1

// mem is a memory operand [base + index*scale + disp].
type mem struct {
	base  int
	index int
	scale uint8 // 1, 2, 4 or 8
	disp  int32
}

// at returns the operand [base+disp].
func at(base int, disp int32) mem { return mem{base: base, index: noIndex, scale: 1, disp: disp} }

// Operand sizes.
const (
	s8  = 1
	s16 = 2
	s32 = 4
	s64 = 8
)

// asm accumulates machine code. Labels are integers; jumps to them are rel32 and are
// patched when the labels are bound.
type asm struct {
	b      []byte
	labels []int // offset of each label, -1 while unbound
	fixups []fixup
}

type fixup struct {
	at    int // offset of the rel32 field; the displacement counts from at+4
	label int
}

// room extends the code by n bytes and returns them. Only the length is stored back
// when the buffer has room (a self-slicing), so emitting code needs no write barrier.
func (a *asm) room(n int) []byte {
	l := len(a.b)
	if cap(a.b)-l < n {
		a.b = slices.Grow(a.b, n)
	}
	a.b = a.b[:l+n]
	return a.b[l : l+n]
}

func (a *asm) byte1(v ...byte) { copy(a.room(len(v)), v) }

func (a *asm) byte2(x, y byte) {
	r := a.room(2)
	r[0], r[1] = x, y
}

func (a *asm) imm32(v int32) { binary.LittleEndian.PutUint32(a.room(4), uint32(v)) }

func (a *asm) imm16(v int16) { binary.LittleEndian.PutUint16(a.room(2), uint16(v)) }

func (a *asm) imm64(v uint64) { binary.LittleEndian.PutUint64(a.room(8), v) }

// newLabel returns a fresh unbound label.
func (a *asm) newLabel() int {
	a.labels = append(a.labels, -1)
	return len(a.labels) - 1
}

// bind sets a label to the current offset.
func (a *asm) bind(l int) { a.labels[l] = len(a.b) }

// rel32 emits a 32-bit displacement to label l, counted from the end of the field.
func (a *asm) rel32(l int) {
	a.fixups = append(a.fixups, fixup{at: len(a.b), label: l})
	a.imm32(0)
}

// resolve patches every displacement. It reports false if a label was never bound.
func (a *asm) resolve() bool {
	for _, f := range a.fixups {
		target := a.labels[f.label]
		if target < 0 {
			return false
		}
		binary.LittleEndian.PutUint32(a.b[f.at:], uint32(int32(target-(f.at+4))))
	}
	return true
}

// prefix emits the operand-size prefix and REX prefix for an instruction with operand
// size size, ModRM reg field reg, and rm/index/base registers. byteRegs forces a REX
// prefix so that registers 4..7 mean SPL..DIL in byte operations.
func (a *asm) prefix(size int, reg, index, base int, byteRegs bool) {
	if size == s16 {
		a.byte1(0x66)
	}
	rex := byte(0x40)
	if size == s64 {
		rex |= 8
	}
	if reg >= 8 {
		rex |= 4
	}
	if index >= 8 {
		rex |= 2
	}
	if base >= 8 {
		rex |= 1
	}
	if rex != 0x40 || (byteRegs && (reg >= 4 || base >= 4)) {
		a.byte1(rex)
	}
}

// rr emits "opcode reg, rm" with both operands registers (ModRM mod=11).
func (a *asm) rr(size int, op []byte, reg, rm int) {
	a.prefix(size, reg, 0, rm, size == s8)
	a.byte1(op...)
	a.byte1(0xc0 | byte(reg&7)<<3 | byte(rm&7))
}

// rm emits "opcode reg, [m]". For byte operations, byteReg marks reg as a byte register.
func (a *asm) rm(size int, op []byte, reg int, m mem, byteReg bool) {
	index := 0
	if m.index != noIndex {
		index = m.index
	}
	a.prefix(size, reg, index, m.base, byteReg && reg >= 4 && reg < 8)
	a.byte1(op...)
	a.modrm(reg, m)
}

// modrm emits the ModRM byte, SIB byte and displacement of a memory operand.
func (a *asm) modrm(reg int, m mem) {
	var mod byte
	switch {
	case m.disp == 0 && m.base&7 != rbp:
		mod = 0
	case m.disp >= -128 && m.disp <= 127:
		mod = 1
	default:
		mod = 2
	}
	r := byte(reg&7) << 3
	if m.index == noIndex && m.base&7 != rsp {
		a.byte1(mod<<6 | r | byte(m.base&7))
	} else {
		idx := byte(rsp) // no index
		if m.index != noIndex {
			idx = byte(m.index & 7)
		}
		var ss byte
		switch m.scale {
		case 2:
			ss = 1
		case 4:
			ss = 2
		case 8:
			ss = 3
		}
		a.byte1(mod<<6|r|4, ss<<6|idx<<3|byte(m.base&7))
	}
	switch mod {
	case 1:
		a.byte1(byte(int8(m.disp)))
	case 2:
		a.imm32(m.disp)
	}
}

// ALU operations of the 0x01..0x3b family and their /digit for the 0x81 immediate form.
const (
	aluAdd = 0
	aluOr  = 1
	aluAnd = 4
	aluSub = 5
	aluXor = 6
	aluCmp = 7
)

// aluRR emits "op dst, src" (add, or, and, sub, xor, cmp).
func (a *asm) aluRR(size, op, dst, src int) { a.rr(size, []byte{byte(op<<3 | 1)}, src, dst) }

// aluRI emits "op dst, imm" with a sign-extended immediate.
func (a *asm) aluRI(size, op, dst int, imm int32) {
	if imm >= -128 && imm <= 127 {
		a.rr(size, []byte{0x83}, op, dst)
		a.byte1(byte(int8(imm)))
		return
	}
	a.rr(size, []byte{0x81}, op, dst)
	a.imm32(imm)
}

// aluMR emits "op [m], src"; lock adds the LOCK prefix.
func (a *asm) aluMR(size, op int, m mem, src int, lock bool) {
	if lock {
		a.byte1(0xf0)
	}
	a.rm(size, []byte{byte(op<<3 | 1)}, src, m, false)
}

// aluMI emits "op qword [m], imm" with a sign-extended immediate.
func (a *asm) aluMI(op int, m mem, imm int32) {
	a.rm(s64, []byte{0x81}, op, m, false)
	a.imm32(imm)
}

// aluRM emits "op dst, [m]".
func (a *asm) aluRM(size, op, dst int, m mem) { a.rm(size, []byte{byte(op<<3 | 3)}, dst, m, false) }

// movRR emits "mov dst, src"; with size s32 it zero-extends into the full register.
func (a *asm) movRR(size, dst, src int) { a.rr(size, []byte{0x89}, src, dst) }

// movRI32 emits "mov dst32, imm", zero-extending into the full register.
func (a *asm) movRI32(dst int, imm uint32) {
	if dst >= 8 {
		a.byte1(0x41)
	}
	a.byte1(0xb8 | byte(dst&7))
	a.imm32(int32(imm))
}

// movRI emits the shortest move of a 64-bit constant into dst.
func (a *asm) movRI(dst int, v uint64) {
	switch {
	case v == 0:
		a.aluRR(s32, aluXor, dst, dst)
	case v <= 0xffffffff:
		a.movRI32(dst, uint32(v))
	case int64(v) >= -1<<31 && int64(v) < 1<<31:
		a.rr(s64, []byte{0xc7}, 0, dst)
		a.imm32(int32(v))
	default:
		a.prefix(s64, 0, 0, dst, false)
		a.byte1(0xb8 | byte(dst&7))
		a.imm64(v)
	}
}

// load emits a zero-extending load of size bytes from m into dst.
func (a *asm) load(size, dst int, m mem) {
	switch size {
	case s8:
		a.rm(s32, []byte{0x0f, 0xb6}, dst, m, false)
	case s16:
		a.rm(s32, []byte{0x0f, 0xb7}, dst, m, false)
	default:
		a.rm(size, []byte{0x8b}, dst, m, false)
	}
}

// loadSX emits a sign-extending load of size bytes (1, 2 or 4) from m into the 64-bit dst.
func (a *asm) loadSX(size, dst int, m mem) {
	switch size {
	case s8:
		a.rm(s64, []byte{0x0f, 0xbe}, dst, m, false)
	case s16:
		a.rm(s64, []byte{0x0f, 0xbf}, dst, m, false)
	default:
		a.rm(s64, []byte{0x63}, dst, m, false)
	}
}

// store emits a store of the low size bytes of src to m.
func (a *asm) store(size int, m mem, src int) {
	if size == s8 {
		a.rm(s8, []byte{0x88}, src, m, true)
		return
	}
	a.rm(size, []byte{0x89}, src, m, false)
}

// storeImm emits a store of an immediate (sign-extended to 8 bytes for s64) to m.
func (a *asm) storeImm(size int, m mem, imm int32) {
	switch size {
	case s8:
		a.rm(s8, []byte{0xc6}, 0, m, false)
		a.byte1(byte(imm))
	case s16:
		a.rm(s16, []byte{0xc7}, 0, m, false)
		a.imm16(int16(imm))
	default:
		a.rm(size, []byte{0xc7}, 0, m, false)
		a.imm32(imm)
	}
}

// lea emits "lea dst, [m]".
func (a *asm) lea(dst int, m mem) { a.rm(s64, []byte{0x8d}, dst, m, false) }

// leaLabel emits "lea dst, [rip+label]".
func (a *asm) leaLabel(dst int, l int) {
	a.prefix(s64, dst, 0, 0, false)
	a.byte1(0x8d, byte(dst&7)<<3|5)
	a.rel32(l)
}

// Unary group 3 operations (0xf7 /digit).
const (
	unNot  = 2
	unNeg  = 3
	unMul  = 4
	unDiv  = 6
	unIDiv = 7
)

// unary emits a group 3 operation on a register.
func (a *asm) unary(size, op, r int) { a.rr(size, []byte{0xf7}, op, r) }

// testRR emits "test a, b".
func (a *asm) testRR(size, x, y int) { a.rr(size, []byte{0x85}, y, x) }

// testRI emits "test r, imm" with a sign-extended immediate.
func (a *asm) testRI(size, r int, imm int32) {
	a.rr(size, []byte{0xf7}, 0, r)
	a.imm32(imm)
}

// imulRR emits "imul dst, src".
func (a *asm) imulRR(size, dst, src int) { a.rr(size, []byte{0x0f, 0xaf}, dst, src) }

// imulRI emits "imul dst, dst, imm".
func (a *asm) imulRI(size, dst int, imm int32) {
	if imm >= -128 && imm <= 127 {
		a.rr(size, []byte{0x6b}, dst, dst)
		a.byte1(byte(int8(imm)))
		return
	}
	a.rr(size, []byte{0x69}, dst, dst)
	a.imm32(imm)
}

// Shift operations (group 2 /digit).
const (
	shRol = 0
	shRor = 1
	shShl = 4
	shShr = 5
	shSar = 7
)

// shiftRI emits a shift of r by an immediate count.
func (a *asm) shiftRI(size, op, r int, n uint8) {
	a.rr(size, []byte{0xc1}, op, r)
	a.byte1(n)
}

// shiftRCL emits a shift of r by CL.
func (a *asm) shiftRCL(size, op, r int) { a.rr(size, []byte{0xd3}, op, r) }

// shiftRX emits "shlx/shrx/sarx dst, dst, count" (BMI2): a shift of dst by a count in
// any register, masked like shiftRCL's; the 32-bit forms clear the upper half.
func (a *asm) shiftRX(size, op, dst, count int) {
	var pp byte // the implied prefix: 66 shlx, f3 sarx, f2 shrx
	switch op {
	case shShl:
		pp = 1
	case shSar:
		pp = 2
	default:
		pp = 3
	}
	var w byte
	if size == s64 {
		w = 1
	}
	ext := byte(^dst>>3) & 1 // VEX.R and VEX.B, inverted: dst is both reg and rm
	a.byte1(0xc4, ext<<7|1<<6|ext<<5|0x02, w<<7|byte(^count&15)<<3|pp, 0xf7, 0xc0|byte(dst&7)<<3|byte(dst&7))
}

// movzx16 emits "movzx dst32, src16".
func (a *asm) movzx16(dst, src int) { a.rr(s32, []byte{0x0f, 0xb7}, dst, src) }

// movsx emits a sign extension of the low from bytes of src into dst (size s32 or s64).
func (a *asm) movsx(size, from, dst, src int) {
	switch from {
	case s8:
		a.prefix(size, dst, 0, src, src >= 4)
		a.byte1(0x0f, 0xbe, 0xc0|byte(dst&7)<<3|byte(src&7))
	case s16:
		a.rr(size, []byte{0x0f, 0xbf}, dst, src)
	default:
		a.rr(s64, []byte{0x63}, dst, src)
	}
}

// bswap emits a byte swap of the 32- or 64-bit register r.
func (a *asm) bswap(size, r int) {
	a.prefix(size, 0, 0, r, false)
	a.byte1(0x0f, 0xc8|byte(r&7))
}

// rol16 emits "rol r16, n".
func (a *asm) rol16(r int, n uint8) {
	a.rr(s16, []byte{0xc1}, shRol, r)
	a.byte1(n)
}

// Condition codes for jcc.
const (
	ccB  = 0x2
	ccAE = 0x3
	ccE  = 0x4
	ccNE = 0x5
	ccBE = 0x6
	ccA  = 0x7
	ccL  = 0xc
	ccGE = 0xd
	ccLE = 0xe
	ccG  = 0xf
)

// short returns the 8-bit displacement of a jump of n bytes (opcode and displacement)
// to label l, if l is bound and close enough.
func (a *asm) short(l, n int) (int8, bool) {
	target := a.labels[l]
	if target < 0 {
		return 0, false
	}
	d := target - (len(a.b) + n)
	return int8(d), d >= -128 && d <= 127
}

// jcc emits a conditional jump to label l.
func (a *asm) jcc(cc byte, l int) {
	if d, ok := a.short(l, 2); ok {
		a.byte2(0x70|cc, byte(d))
		return
	}
	a.byte2(0x0f, 0x80|cc)
	a.rel32(l)
}

// jmp emits an unconditional jump to label l.
func (a *asm) jmp(l int) {
	if d, ok := a.short(l, 2); ok {
		a.byte2(0xeb, byte(d))
		return
	}
	a.byte1(0xe9)
	a.rel32(l)
}

// jmpMem emits "jmp qword [m]".
func (a *asm) jmpMem(m mem) { a.rm(s32, []byte{0xff}, 4, m, false) }

// ret emits "ret".
func (a *asm) ret() { a.byte1(0xc3) }

// xadd emits "lock xadd [m], r".
func (a *asm) xadd(size int, m mem, r int) {
	a.byte1(0xf0)
	a.rm(size, []byte{0x0f, 0xc1}, r, m, false)
}

// xchg emits "xchg [m], r" (implicitly locked).
func (a *asm) xchg(size int, m mem, r int) { a.rm(size, []byte{0x87}, r, m, false) }

// cmpxchg emits "lock cmpxchg [m], r".
func (a *asm) cmpxchg(size int, m mem, r int) {
	a.byte1(0xf0)
	a.rm(size, []byte{0x0f, 0xb1}, r, m, false)
}

// cqo emits "cqo" (size s64) or "cdq" (size s32).
func (a *asm) cqo(size int) {
	if size == s64 {
		a.byte1(0x48)
	}
	a.byte1(0x99)
}
