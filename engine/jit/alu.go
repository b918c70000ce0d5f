//go:build amd64 && linux

package jit

import (
	"fmt"

	"golang.org/x/sys/cpu"

	"github.com/anybpf/anybpf/isa"
)

// aluOps and shiftOps map eBPF ALU operations (opcode bits 4-7) to x86 operations.
var (
	aluOps   = [16]int{isa.AluAdd >> 4: aluAdd, isa.AluSub >> 4: aluSub, isa.AluOr >> 4: aluOr, isa.AluAnd >> 4: aluAnd, isa.AluXor >> 4: aluXor}
	shiftOps = [16]int{isa.AluLsh >> 4: shShl, isa.AluRsh >> 4: shShr, isa.AluArsh >> 4: shSar}
)

func (c *compiler) alu(ins isa.Instruction) error {
	a := &c.a
	size := s32
	if ins.Class() == isa.ClassALU64 {
		size = s64
	}
	x := ins.OpCode&isa.SrcX != 0
	dst, src := regMap[ins.Dst], regMap[ins.Src]
	imm := ins.Imm()
	op := ins.OpCode & 0xf0
	switch op {
	case isa.AluAdd, isa.AluSub, isa.AluOr, isa.AluAnd, isa.AluXor:
		if x {
			a.aluRR(size, aluOps[op>>4], dst, src)
		} else {
			a.aluRI(size, aluOps[op>>4], dst, imm)
		}
	case isa.AluMul:
		if x {
			a.imulRR(size, dst, src)
		} else {
			a.imulRI(size, dst, imm)
		}
	case isa.AluDiv, isa.AluMod:
		c.divMod(size, ins.Offset == 1, op == isa.AluMod, dst, src, !x, imm)
	case isa.AluLsh, isa.AluRsh, isa.AluArsh:
		if x {
			c.shiftX(size, shiftOps[op>>4], dst, src)
			break
		}
		n := uint8(imm) & uint8(8*size-1)
		if n != 0 {
			a.shiftRI(size, shiftOps[op>>4], dst, n)
		} else if size == s32 {
			a.movRR(s32, dst, dst)
		}
	case isa.AluNeg:
		a.unary(size, unNeg, dst)
	case isa.AluMov:
		switch {
		case x && ins.Offset != 0:
			a.movsx(size, int(ins.Offset)/8, dst, src)
		case x:
			a.movRR(size, dst, src)
		case size == s64:
			a.movRI(dst, uint64(int64(imm)))
		default:
			a.movRI(dst, uint64(uint32(imm)))
		}
	case isa.AluEnd:
		swap := size == s64 || x
		switch {
		case imm == 16 && swap:
			a.rol16(dst, 8)
			a.movzx16(dst, dst)
		case imm == 16:
			a.movzx16(dst, dst)
		case imm == 32 && swap:
			a.bswap(s32, dst)
		case imm == 32:
			a.movRR(s32, dst, dst)
		case swap:
			a.bswap(s64, dst)
		}
	default:
		return fmt.Errorf("%w: alu operation %#x", isa.ErrInvalidOpcode, op)
	}
	return nil
}

// useBMI2 says whether shifts by a register use BMI2's shlx/shrx/sarx (as Linux's JIT
// does where the CPU has them), which take the count in any register.
var useBMI2 = cpu.X86.HasBMI2

// shiftX emits a shift of dst by src, which x86 wants in cl unless BMI2 is there.
func (c *compiler) shiftX(size, op, dst, src int) {
	a := &c.a
	if useBMI2 {
		a.shiftRX(size, op, dst, src)
		return
	}
	switch {
	case src == rcx:
		a.shiftRCL(size, op, dst)
	case dst == rcx:
		a.movRR(s64, r11, rcx)
		a.movRR(s64, rcx, src)
		a.shiftRCL(size, op, r11)
		a.movRR(s64, rcx, r11)
	default:
		a.movRR(s64, r11, rcx)
		a.movRR(s64, rcx, src)
		a.shiftRCL(size, op, dst)
		a.movRR(s64, rcx, r11)
	}
	if size == s32 {
		a.movRR(s32, dst, dst) // a shift by 0 need not clear the upper half
	}
}

// divMod emits dst = dst / divisor or dst % divisor with eBPF's results for a zero
// divisor (quotient 0, remainder dst) and, signed, for -1 (quotient -dst, remainder 0,
// which x86 would trap on for the most negative dividend). The divisor is src, or imm
// if k.
func (c *compiler) divMod(size int, signed, mod bool, dst, src int, k bool, imm int32) {
	a := &c.a
	done := a.newLabel()
	if k {
		switch {
		case imm == 0:
			c.divByZero(size, mod, dst)
			return
		case signed && imm == -1:
			c.divByMinusOne(size, mod, dst)
			return
		case size == s64:
			a.movRI(r11, uint64(int64(imm)))
		default:
			a.movRI(r11, uint64(uint32(imm)))
		}
	} else {
		a.movRR(size, r11, src)
		nonZero := a.newLabel()
		a.testRR(size, r11, r11)
		a.jcc(ccNE, nonZero)
		c.divByZero(size, mod, dst)
		a.jmp(done)
		a.bind(nonZero)
		if signed {
			general := a.newLabel()
			a.aluRI(size, aluCmp, r11, -1)
			a.jcc(ccNE, general)
			c.divByMinusOne(size, mod, dst)
			a.jmp(done)
			a.bind(general)
		}
	}
	// r11 holds the divisor; rax and rdx are saved around the division.
	a.store(s64, at(r9, offTmp), rdx)
	a.movRR(s64, r10, rax)
	if dst != rax {
		a.movRR(s64, rax, dst)
	}
	if signed {
		a.cqo(size)
		a.unary(size, unIDiv, r11)
	} else {
		a.aluRR(s32, aluXor, rdx, rdx)
		a.unary(size, unDiv, r11)
	}
	if mod {
		a.movRR(s64, r11, rdx)
	} else {
		a.movRR(s64, r11, rax)
	}
	a.movRR(s64, rax, r10)
	a.load(s64, rdx, at(r9, offTmp))
	a.movRR(s64, dst, r11)
	a.bind(done)
}

func (c *compiler) divByZero(size int, mod bool, dst int) {
	switch {
	case !mod:
		c.a.aluRR(s32, aluXor, dst, dst)
	case size == s32:
		c.a.movRR(s32, dst, dst)
	}
}

func (c *compiler) divByMinusOne(size int, mod bool, dst int) {
	if mod {
		c.a.aluRR(s32, aluXor, dst, dst)
		return
	}
	c.a.unary(size, unNeg, dst)
}
