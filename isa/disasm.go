package isa

import (
	"fmt"
	"strings"
)

// Syntax selects a text form for instructions.
type Syntax int

const (
	// SyntaxLLVM is the C-like syntax of llvm-objdump and bpftool: "r0 += r1".
	SyntaxLLVM Syntax = iota
	// SyntaxConformance is the bpf_conformance (uBPF) assembler dialect: "add %r0, %r1".
	SyntaxConformance
)

// String returns the instruction in llvm-objdump syntax.
func (ins Instruction) String() string { return ins.Format(SyntaxLLVM) }

// Format returns the instruction in the given syntax. Jump targets are shown as
// pc-relative offsets in slots.
func (ins Instruction) Format(syntax Syntax) string {
	if syntax == SyntaxConformance {
		return formatConformance(ins)
	}
	return formatLLVM(ins)
}

// Disassemble formats a program one instruction per line, each prefixed by its slot
// number.
func Disassemble(insns []Instruction, syntax Syntax) string {
	var sb strings.Builder
	offs, _ := SlotOffsets(insns)
	for i, ins := range insns {
		fmt.Fprintf(&sb, "%4d: %s\n", offs[i], ins.Format(syntax))
	}
	return sb.String()
}

var llvmAluOps = map[uint8]string{
	AluAdd: "+=", AluSub: "-=", AluMul: "*=", AluDiv: "/=", AluOr: "|=", AluAnd: "&=",
	AluLsh: "<<=", AluRsh: ">>=", AluMod: "%=", AluXor: "^=", AluMov: "=", AluArsh: "s>>=",
}

var llvmJmpOps = map[uint8]string{
	JmpJEQ: "==", JmpJGT: ">", JmpJGE: ">=", JmpJSET: "&", JmpJNE: "!=", JmpJSGT: "s>",
	JmpJSGE: "s>=", JmpJLT: "<", JmpJLE: "<=", JmpJSLT: "s<", JmpJSLE: "s<=",
}

var sizeTypes = map[uint8]string{SizeB: "u8", SizeH: "u16", SizeW: "u32", SizeDW: "u64"}

func memOperand(r Register, off int16) string {
	if off < 0 {
		return fmt.Sprintf("r%d - %d", r, -int(off))
	}
	return fmt.Sprintf("r%d + %d", r, off)
}

func regName(r Register, wide bool) string {
	if wide {
		return fmt.Sprintf("r%d", r)
	}
	return fmt.Sprintf("w%d", r)
}

func formatLLVM(ins Instruction) string {
	class := ins.Class()
	op := ins.OpCode & 0xf0
	x := ins.OpCode&SrcX != 0
	switch class {
	case ClassALU, ClassALU64:
		wide := class == ClassALU64
		dst := regName(ins.Dst, wide)
		src := fmt.Sprint(ins.Imm())
		if x {
			src = regName(ins.Src, wide)
		}
		switch op {
		case AluNeg:
			return fmt.Sprintf("%s = -%s", dst, dst)
		case AluEnd:
			name := "le"
			if wide {
				name = "bswap"
			} else if x {
				name = "be"
			}
			return fmt.Sprintf("%s = %s%d %s", regName(ins.Dst, true), name, ins.Imm(), regName(ins.Dst, true))
		case AluMov:
			if x && ins.Offset != 0 {
				return fmt.Sprintf("%s = (s%d)%s", dst, ins.Offset, src)
			}
		case AluDiv, AluMod:
			if ins.Offset == 1 {
				return fmt.Sprintf("%s s%s %s", dst, llvmAluOps[op], src)
			}
		}
		return fmt.Sprintf("%s %s %s", dst, llvmAluOps[op], src)
	case ClassJMP, ClassJMP32:
		switch op {
		case JmpJA:
			if class == ClassJMP32 {
				return fmt.Sprintf("gotol %+d", ins.Imm())
			}
			return fmt.Sprintf("goto %+d", ins.Offset)
		case JmpCall:
			if x {
				return fmt.Sprintf("callx r%d", ins.Dst)
			}
			switch uint8(ins.Src) {
			case CallLocal:
				return fmt.Sprintf("call pc%+d", ins.Imm())
			case CallHelperBTF:
				return fmt.Sprintf("call kfunc#%d", ins.Imm())
			}
			return fmt.Sprintf("call %d", ins.Imm())
		case JmpExit:
			return "exit"
		}
		wide := class == ClassJMP
		src := fmt.Sprint(ins.Imm())
		if x {
			src = regName(ins.Src, wide)
		}
		return fmt.Sprintf("if %s %s %s goto %+d", regName(ins.Dst, wide), llvmJmpOps[op], src, ins.Offset)
	case ClassLD:
		size := ins.OpCode & 0x18
		switch ins.OpCode & 0xe0 {
		case ModeABS:
			return fmt.Sprintf("r0 = *(%s *)skb[%d]", sizeTypes[size], ins.Imm())
		case ModeIND:
			return fmt.Sprintf("r0 = *(%s *)skb[r%d + %d]", sizeTypes[size], ins.Src, ins.Imm())
		}
		lo, hi := uint32(ins.Constant), uint32(uint64(ins.Constant)>>32)
		switch uint8(ins.Src) {
		case PseudoMapFD:
			return fmt.Sprintf("r%d = map[fd:%d] ll", ins.Dst, lo)
		case PseudoMapValue:
			return fmt.Sprintf("r%d = map[fd:%d][0]+%d ll", ins.Dst, lo, hi)
		case PseudoBTFID:
			return fmt.Sprintf("r%d = btf_id(%d) ll", ins.Dst, lo)
		case PseudoFunc:
			return fmt.Sprintf("r%d = func(pc%+d) ll", ins.Dst, int32(lo))
		case PseudoMapIdx:
			return fmt.Sprintf("r%d = map[idx:%d] ll", ins.Dst, lo)
		case PseudoMapIdxValue:
			return fmt.Sprintf("r%d = map[idx:%d][0]+%d ll", ins.Dst, lo, hi)
		}
		return fmt.Sprintf("r%d = %#x ll", ins.Dst, uint64(ins.Constant))
	case ClassLDX:
		size := ins.OpCode & 0x18
		t := sizeTypes[size]
		if ins.OpCode&0xe0 == ModeMEMSX {
			t = "s" + t[1:]
		}
		return fmt.Sprintf("r%d = *(%s *)(%s)", ins.Dst, t, memOperand(ins.Src, ins.Offset))
	case ClassST:
		return fmt.Sprintf("*(%s *)(%s) = %d", sizeTypes[ins.OpCode&0x18], memOperand(ins.Dst, ins.Offset), ins.Imm())
	case ClassSTX:
		size := ins.OpCode & 0x18
		mem := memOperand(ins.Dst, ins.Offset)
		if ins.OpCode&0xe0 != ModeATOMIC {
			return fmt.Sprintf("*(%s *)(%s) = r%d", sizeTypes[size], mem, ins.Src)
		}
		wide := size == SizeDW
		src := regName(ins.Src, wide)
		switch ins.Imm() {
		case AtomicXchg:
			if !wide {
				return fmt.Sprintf("%s = xchg32_32(%s, %s)", src, mem, src)
			}
			return fmt.Sprintf("%s = xchg_64(%s, %s)", src, mem, src)
		case AtomicCmpXchg:
			r0 := regName(R0, wide)
			if !wide {
				return fmt.Sprintf("%s = cmpxchg32_32(%s, %s, %s)", r0, mem, r0, src)
			}
			return fmt.Sprintf("%s = cmpxchg_64(%s, %s, %s)", r0, mem, r0, src)
		}
		aop := uint8(ins.Imm() &^ AtomicFetch)
		names := map[uint8]string{AluAdd: "add", AluOr: "or", AluAnd: "and", AluXor: "xor"}
		if ins.Imm()&AtomicFetch != 0 {
			return fmt.Sprintf("%s = atomic_fetch_%s((%s *)(%s), %s)", src, names[aop], sizeTypes[size], mem, src)
		}
		return fmt.Sprintf("lock *(%s *)(%s) %s %s", sizeTypes[size], mem, llvmAluOps[aop], src)
	}
	return fmt.Sprintf("<invalid %#02x>", ins.OpCode)
}

var confAluNames = map[uint8]string{
	AluAdd: "add", AluSub: "sub", AluMul: "mul", AluDiv: "div", AluOr: "or", AluAnd: "and",
	AluLsh: "lsh", AluRsh: "rsh", AluNeg: "neg", AluMod: "mod", AluXor: "xor", AluMov: "mov", AluArsh: "arsh",
}

var confJmpNames = map[uint8]string{
	JmpJEQ: "jeq", JmpJGT: "jgt", JmpJGE: "jge", JmpJSET: "jset", JmpJNE: "jne", JmpJSGT: "jsgt",
	JmpJSGE: "jsge", JmpJLT: "jlt", JmpJLE: "jle", JmpJSLT: "jslt", JmpJSLE: "jsle",
}

var confSizeSuffix = map[uint8]string{SizeB: "b", SizeH: "h", SizeW: "w", SizeDW: "dw"}

func confMem(r Register, off int16) string {
	if off < 0 {
		return fmt.Sprintf("[%%r%d-%d]", r, -int(off))
	}
	return fmt.Sprintf("[%%r%d+%d]", r, off)
}

func formatConformance(ins Instruction) string {
	class := ins.Class()
	op := ins.OpCode & 0xf0
	x := ins.OpCode&SrcX != 0
	switch class {
	case ClassALU, ClassALU64:
		suffix := ""
		if class == ClassALU {
			suffix = "32"
		}
		dst := fmt.Sprintf("%%r%d", ins.Dst)
		switch op {
		case AluNeg:
			return fmt.Sprintf("neg%s %s", suffix, dst)
		case AluEnd:
			name := "le"
			if class == ClassALU64 {
				name = "bswap"
			} else if x {
				name = "be"
			}
			return fmt.Sprintf("%s%d %s", name, ins.Imm(), dst)
		}
		name := confAluNames[op]
		if (op == AluDiv || op == AluMod) && ins.Offset == 1 {
			name = "s" + name
		}
		if op == AluMov && x && ins.Offset != 0 {
			name = fmt.Sprintf("movsx%d", ins.Offset)
			if suffix == "" {
				suffix = "64"
			}
		}
		if x {
			return fmt.Sprintf("%s%s %s, %%r%d", name, suffix, dst, ins.Src)
		}
		return fmt.Sprintf("%s%s %s, %d", name, suffix, dst, ins.Imm())
	case ClassJMP, ClassJMP32:
		switch op {
		case JmpJA:
			if class == ClassJMP32 {
				return fmt.Sprintf("ja32 %+d", ins.Imm())
			}
			return fmt.Sprintf("ja %+d", ins.Offset)
		case JmpCall:
			if x {
				return fmt.Sprintf("call %%r%d", ins.Dst)
			}
			switch uint8(ins.Src) {
			case CallLocal:
				return fmt.Sprintf("call local %+d", ins.Imm())
			case CallHelperBTF:
				return fmt.Sprintf("call runtime %d", ins.Imm())
			}
			return fmt.Sprintf("call %d", ins.Imm())
		case JmpExit:
			return "exit"
		}
		suffix := ""
		if class == ClassJMP32 {
			suffix = "32"
		}
		src := fmt.Sprint(ins.Imm())
		if x {
			src = fmt.Sprintf("%%r%d", ins.Src)
		}
		return fmt.Sprintf("%s%s %%r%d, %s, %+d", confJmpNames[op], suffix, ins.Dst, src, ins.Offset)
	case ClassLD:
		size := ins.OpCode & 0x18
		switch ins.OpCode & 0xe0 {
		case ModeABS:
			return fmt.Sprintf("ldabs%s %d", confSizeSuffix[size], ins.Imm())
		case ModeIND:
			return fmt.Sprintf("ldind%s %%r%d, %d", confSizeSuffix[size], ins.Src, ins.Imm())
		}
		if ins.Src == Register(PseudoFunc) && ins.Constant == int64(ins.Imm()) {
			return fmt.Sprintf("lddw %%r%d, func %+d", ins.Dst, ins.Imm())
		}
		if ins.Src != 0 {
			return fmt.Sprintf("lddw %%r%d, %#x # pseudo src %d", ins.Dst, uint64(ins.Constant), ins.Src)
		}
		return fmt.Sprintf("lddw %%r%d, %#x", ins.Dst, uint64(ins.Constant))
	case ClassLDX:
		name := "ldx"
		if ins.OpCode&0xe0 == ModeMEMSX {
			name = "ldxs"
		}
		return fmt.Sprintf("%s%s %%r%d, %s", name, confSizeSuffix[ins.OpCode&0x18], ins.Dst, confMem(ins.Src, ins.Offset))
	case ClassST:
		return fmt.Sprintf("st%s %s, %d", confSizeSuffix[ins.OpCode&0x18], confMem(ins.Dst, ins.Offset), ins.Imm())
	case ClassSTX:
		size := ins.OpCode & 0x18
		mem := confMem(ins.Dst, ins.Offset)
		if ins.OpCode&0xe0 != ModeATOMIC {
			return fmt.Sprintf("stx%s %s, %%r%d", confSizeSuffix[size], mem, ins.Src)
		}
		suffix := ""
		if size == SizeW {
			suffix = "32"
		}
		var name string
		switch ins.Imm() {
		case AtomicXchg:
			name = "xchg"
		case AtomicCmpXchg:
			name = "cmpxchg"
		default:
			name = map[int32]string{AtomicAdd: "add", AtomicOr: "or", AtomicAnd: "and", AtomicXor: "xor"}[ins.Imm()&^AtomicFetch]
			if ins.Imm()&AtomicFetch != 0 {
				name = "fetch " + name
			}
		}
		return fmt.Sprintf("lock %s%s %s, %%r%d", name, suffix, mem, ins.Src)
	}
	return fmt.Sprintf("<invalid %#02x>", ins.OpCode)
}
