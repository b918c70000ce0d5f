package verifier

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/anybpf/anybpf/helpers"
	"github.com/anybpf/anybpf/isa"
)

// This file reads the assembly syntax of PREVAIL's YAML test cases (its own printing of
// eBPF, plus the pseudo-instructions "assume COND", map_by_idx/map_val, skb[...]) into
// eBPF instructions, for the test in prevail_yaml_test.go.

// prevailProgram is a YAML test case's code as eBPF.
type prevailProgram struct {
	insns   []isa.Instruction
	mapRefs []MapRef
	// assumes are the indexes of the jumps that stand for "assume" lines.
	assumes map[int]bool
}

// Map indexes of the test's maps (prevailMaps).
const (
	prevailTestMap  = 0
	prevailProgsMap = 1
)

var (
	reReg     = `([rw])(\d+)`
	reOperand = `([rw]\d+|-?(?:0x[0-9a-fA-F]+|\d+))`
	reMem     = `\*\(([us])(8|16|32|64) \*\)\(` + reReg + ` ?([+-]) ?(\d+)\)`

	rxIf      = regexp.MustCompile(`^if ` + reReg + ` (==|!=|<|<=|>|>=|s<|s<=|s>|s>=|&==|&!=) ` + reOperand + ` goto <(\w+)>$`)
	rxAssume  = regexp.MustCompile(`^assume ` + reReg + ` (==|!=|<|<=|>|>=|s<|s<=|s>|s>=|&==|&!=) ` + reOperand + `$`)
	rxGoto    = regexp.MustCompile(`^goto <(\w+)>$`)
	rxCallLoc = regexp.MustCompile(`^call <(\w+)>$`)
	rxCall    = regexp.MustCompile(`^call (\d+)$`)
	rxCallx   = regexp.MustCompile(`^callx ` + reReg + `$`)
	rxLoad    = regexp.MustCompile(`^` + reReg + ` = ` + reMem + `$`)
	rxStore   = regexp.MustCompile(`^` + reMem + ` = ` + reOperand + `$`)
	rxAtomic  = regexp.MustCompile(`^lock ` + reMem + ` (\+|\||&|\^|x|cx)= ` + reReg + `( fetch)?$`)
	rxSkb     = regexp.MustCompile(`^` + reReg + ` = \*\(u(8|16|32) \*\)skb\[` + reOperand + `\]$`)
	rxMapIdx  = regexp.MustCompile(`^` + reReg + ` = (?:map_by_idx\((\d+)\)|map_fd (\d+))$`)
	rxMapVal  = regexp.MustCompile(`^` + reReg + ` = (?:map_val\((\d+)\)|mva\(map_by_idx\((\d+)\)\)) \+ (\d+)$`)
	rxLDDW    = regexp.MustCompile(`^` + reReg + ` = (-?\d+)ll$`)
	rxNeg     = regexp.MustCompile(`^` + reReg + ` = - ?` + reReg + `$`)
	rxSwap    = regexp.MustCompile(`^` + reReg + ` = (be|le|swap)(16|32|64) ` + reReg + `$`)
	rxMovsx   = regexp.MustCompile(`^` + reReg + ` s(8|16|32)= ` + reReg + `$`)
	rxALU     = regexp.MustCompile(`^` + reReg + ` ?(=|\+=|-=|\*=|/=|%=|\|=|&=|\^=|<<=|>>=|s>>=|s/=|s%=) ?` + reOperand + `$`)
)

var prevailJumps = map[string]uint8{
	"==": isa.JmpJEQ, "!=": isa.JmpJNE, "<": isa.JmpJLT, "<=": isa.JmpJLE, ">": isa.JmpJGT,
	">=": isa.JmpJGE, "s<": isa.JmpJSLT, "s<=": isa.JmpJSLE, "s>": isa.JmpJSGT, "s>=": isa.JmpJSGE,
	"&==": isa.JmpJSET,
}

var prevailNegations = map[string]string{
	"==": "!=", "!=": "==", "<": ">=", ">=": "<", "<=": ">", ">": "<=",
	"s<": "s>=", "s>=": "s<", "s<=": "s>", "s>": "s<=", "&==": "&!=", "&!=": "&==",
}

var prevailALU = map[string]uint8{
	"=": isa.AluMov, "+=": isa.AluAdd, "-=": isa.AluSub, "*=": isa.AluMul, "/=": isa.AluDiv,
	"%=": isa.AluMod, "|=": isa.AluOr, "&=": isa.AluAnd, "^=": isa.AluXor, "<<=": isa.AluLsh,
	">>=": isa.AluRsh, "s>>=": isa.AluArsh, "s/=": isa.AluDiv, "s%=": isa.AluMod,
}

var prevailSizes = map[string]uint8{"8": isa.SizeB, "16": isa.SizeH, "32": isa.SizeW, "64": isa.SizeDW}

// pending is an instruction whose jump offset waits for its label.
type pending struct {
	insn  int
	label string
	local bool // a local call: the offset is in Constant
}

// assemblePrevail translates the labelled blocks of a test case. The last instruction
// is an exit that blocks falling off their end reach, and that "assume" lines jump to
// when their condition fails.
func assemblePrevail(blocks []prevailBlock) (*prevailProgram, error) {
	p := &prevailProgram{assumes: map[int]bool{}}
	labels := map[string]int{}
	var fix []pending
	emit := func(ins isa.Instruction) int {
		p.insns = append(p.insns, ins)
		return len(p.insns) - 1
	}
	for _, b := range blocks {
		labels[strings.Trim(b.label, "<>")] = len(p.insns)
		for _, line := range b.lines {
			if i := strings.IndexByte(line, ';'); i >= 0 {
				line = line[:i]
			}
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			if err := p.statement(line, emit, &fix); err != nil {
				return nil, fmt.Errorf("%q: %w", line, err)
			}
		}
	}
	labels["__end"] = emit(isa.Instruction{OpCode: isa.OpExit})
	if _, ok := labels["exit"]; !ok {
		labels["exit"] = labels["__end"]
	}
	slots, _ := isa.SlotOffsets(p.insns)
	for _, f := range fix {
		target, ok := labels[f.label]
		if !ok {
			return nil, fmt.Errorf("unknown label <%s>", f.label)
		}
		off := slots[target] - slots[f.insn] - 1
		if f.local {
			p.insns[f.insn].Constant = int64(off)
		} else {
			p.insns[f.insn].Offset = int16(off)
		}
	}
	return p, nil
}

func regNum(kind, num string) (isa.Register, bool, error) {
	n, err := strconv.Atoi(num)
	if err != nil || n > 10 {
		return 0, false, fmt.Errorf("bad register %s%s", kind, num)
	}
	return isa.Register(n), kind == "w", nil
}

// operand sets the source of ins from a register or an immediate.
func operand(ins *isa.Instruction, s string) error {
	if s[0] == 'r' || s[0] == 'w' {
		r, _, err := regNum(s[:1], s[1:])
		if err != nil {
			return err
		}
		ins.OpCode |= isa.SrcX
		ins.Src = r
		return nil
	}
	v, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		u, uerr := strconv.ParseUint(s, 0, 64)
		if uerr != nil {
			return fmt.Errorf("bad immediate %s", s)
		}
		v = int64(u)
	}
	if v < -1<<31 || v > 1<<32-1 {
		return fmt.Errorf("immediate %s does not fit 32 bits", s)
	}
	ins.Constant = int64(int32(v))
	return nil
}

func (p *prevailProgram) statement(line string, emit func(isa.Instruction) int, fix *[]pending) error {
	jump := func(m []string, op string, label string) error {
		dst, w, err := regNum(m[1], m[2])
		if err != nil {
			return err
		}
		class := isa.ClassJMP
		if w {
			class = isa.ClassJMP32
		}
		if op == "&!=" {
			// Jump when no bit is set: skip a jump to the label when one is.
			ins := isa.Instruction{OpCode: uint8(class) | isa.JmpJSET, Dst: dst, Offset: 1}
			if err := operand(&ins, m[4]); err != nil {
				return err
			}
			emit(ins)
			*fix = append(*fix, pending{insn: emit(isa.Instruction{OpCode: isa.OpJA}), label: label})
			return nil
		}
		ins := isa.Instruction{OpCode: uint8(class) | prevailJumps[op], Dst: dst}
		if err := operand(&ins, m[4]); err != nil {
			return err
		}
		*fix = append(*fix, pending{insn: emit(ins), label: label})
		return nil
	}
	mem := func(sign, bits, kind, reg, pm, off string) (size uint8, r isa.Register, o int16, err error) {
		r, _, err = regNum(kind, reg)
		if err != nil {
			return
		}
		n, _ := strconv.Atoi(off)
		if pm == "-" {
			n = -n
		}
		return prevailSizes[bits], r, int16(n), nil
	}
	if line == "exit" {
		emit(isa.Instruction{OpCode: isa.OpExit})
		return nil
	}
	if m := rxGoto.FindStringSubmatch(line); m != nil {
		*fix = append(*fix, pending{insn: emit(isa.Instruction{OpCode: isa.OpJA}), label: m[1]})
		return nil
	}
	if m := rxIf.FindStringSubmatch(line); m != nil {
		return jump(m, m[3], m[5])
	}
	if m := rxAssume.FindStringSubmatch(line); m != nil {
		start := len(p.insns)
		if err := jump(m, prevailNegations[m[3]], "__end"); err != nil {
			return err
		}
		for i := start; i < len(p.insns); i++ {
			p.assumes[i] = true
		}
		return nil
	}
	if m := rxCallLoc.FindStringSubmatch(line); m != nil {
		*fix = append(*fix, pending{insn: emit(isa.Instruction{OpCode: isa.OpCall, Src: isa.Register(isa.CallLocal)}), label: m[1], local: true})
		return nil
	}
	if m := rxCall.FindStringSubmatch(line); m != nil {
		id, _ := strconv.Atoi(m[1])
		emit(isa.Instruction{OpCode: isa.OpCall, Constant: int64(helpers.ID(id))})
		return nil
	}
	if m := rxCallx.FindStringSubmatch(line); m != nil {
		r, _, err := regNum(m[1], m[2])
		if err != nil {
			return err
		}
		emit(isa.Instruction{OpCode: isa.OpCallX, Dst: r})
		return nil
	}
	if m := rxLoad.FindStringSubmatch(line); m != nil {
		dst, _, err := regNum(m[1], m[2])
		if err != nil {
			return err
		}
		size, src, off, err := mem(m[3], m[4], m[5], m[6], m[7], m[8])
		if err != nil {
			return err
		}
		mode := isa.ModeMEM
		if m[3] == "s" {
			mode = isa.ModeMEMSX
		}
		emit(isa.Instruction{OpCode: uint8(isa.ClassLDX) | mode | size, Dst: dst, Src: src, Offset: off})
		return nil
	}
	if m := rxStore.FindStringSubmatch(line); m != nil {
		size, dst, off, err := mem(m[1], m[2], m[3], m[4], m[5], m[6])
		if err != nil {
			return err
		}
		ins := isa.Instruction{OpCode: uint8(isa.ClassST) | isa.ModeMEM | size, Dst: dst, Offset: off}
		if err := operand(&ins, m[7]); err != nil {
			return err
		}
		if ins.OpCode&isa.SrcX != 0 {
			ins.OpCode = uint8(isa.ClassSTX) | isa.ModeMEM | size
		}
		emit(ins)
		return nil
	}
	if m := rxAtomic.FindStringSubmatch(line); m != nil {
		size, dst, off, err := mem(m[1], m[2], m[3], m[4], m[5], m[6])
		if err != nil {
			return err
		}
		src, _, err := regNum(m[8], m[9])
		if err != nil {
			return err
		}
		imm := map[string]int32{"+": isa.AtomicAdd, "|": isa.AtomicOr, "&": isa.AtomicAnd, "^": isa.AtomicXor, "x": isa.AtomicXchg, "cx": isa.AtomicCmpXchg}[m[7]]
		if m[10] != "" {
			imm |= isa.AtomicFetch
		}
		emit(isa.Instruction{OpCode: uint8(isa.ClassSTX) | isa.ModeATOMIC | size, Dst: dst, Src: src, Offset: off, Constant: int64(imm)})
		return nil
	}
	if m := rxSkb.FindStringSubmatch(line); m != nil {
		ins := isa.Instruction{OpCode: uint8(isa.ClassLD) | isa.ModeABS | prevailSizes[m[3]]}
		if m[4][0] == 'r' {
			r, _, err := regNum("r", m[4][1:])
			if err != nil {
				return err
			}
			ins.OpCode, ins.Src = uint8(isa.ClassLD)|isa.ModeIND|prevailSizes[m[3]], r
		} else if err := operand(&ins, m[4]); err != nil {
			return err
		}
		emit(ins)
		return nil
	}
	if m := rxMapIdx.FindStringSubmatch(line); m != nil {
		dst, _, err := regNum(m[1], m[2])
		if err != nil {
			return err
		}
		// PREVAIL's harness has one map, index 0, which every fd describes; other
		// indexes refer to nothing.
		ref := prevailTestMap
		if idx, _ := strconv.Atoi(m[3]); m[3] != "" && idx != 0 {
			ref = 1 << 20
		}
		p.mapRefs = append(p.mapRefs, MapRef{Instruction: emit(isa.Instruction{OpCode: isa.OpLDDW, Dst: dst, Src: 1}), Map: ref})
		return nil
	}
	if m := rxMapVal.FindStringSubmatch(line); m != nil {
		dst, _, err := regNum(m[1], m[2])
		if err != nil {
			return err
		}
		off, _ := strconv.ParseInt(m[5], 10, 64)
		p.mapRefs = append(p.mapRefs, MapRef{Instruction: emit(isa.Instruction{OpCode: isa.OpLDDW, Dst: dst, Src: 2}), Map: prevailTestMap, Value: true, Offset: off})
		return nil
	}
	if m := rxLDDW.FindStringSubmatch(line); m != nil {
		dst, _, err := regNum(m[1], m[2])
		if err != nil {
			return err
		}
		v, err := strconv.ParseInt(m[3], 10, 64)
		if err != nil {
			u, uerr := strconv.ParseUint(m[3], 10, 64)
			if uerr != nil {
				return err
			}
			v = int64(u)
		}
		emit(isa.Instruction{OpCode: isa.OpLDDW, Dst: dst, Constant: v})
		return nil
	}
	if m := rxNeg.FindStringSubmatch(line); m != nil {
		dst, w, err := regNum(m[1], m[2])
		if err != nil {
			return err
		}
		src, _, _ := regNum(m[3], m[4])
		class := isa.ClassALU64
		if w {
			class = isa.ClassALU
		}
		if src != dst {
			emit(isa.Instruction{OpCode: uint8(class) | isa.AluMov | isa.SrcX, Dst: dst, Src: src})
		}
		emit(isa.Instruction{OpCode: uint8(class) | isa.AluNeg, Dst: dst})
		return nil
	}
	if m := rxSwap.FindStringSubmatch(line); m != nil {
		dst, _, err := regNum(m[1], m[2])
		if err != nil {
			return err
		}
		width, _ := strconv.Atoi(m[4])
		op := map[string]uint8{"be": uint8(isa.ClassALU) | isa.AluEnd | isa.SrcX, "le": uint8(isa.ClassALU) | isa.AluEnd, "swap": uint8(isa.ClassALU64) | isa.AluEnd}[m[3]]
		emit(isa.Instruction{OpCode: op, Dst: dst, Constant: int64(width)})
		return nil
	}
	if m := rxMovsx.FindStringSubmatch(line); m != nil {
		dst, w, err := regNum(m[1], m[2])
		if err != nil {
			return err
		}
		src, _, err := regNum(m[4], m[5])
		if err != nil {
			return err
		}
		class := isa.ClassALU64
		if w {
			class = isa.ClassALU
		}
		bits, _ := strconv.Atoi(m[3])
		emit(isa.Instruction{OpCode: uint8(class) | isa.AluMov | isa.SrcX, Dst: dst, Src: src, Offset: int16(bits)})
		return nil
	}
	if m := rxALU.FindStringSubmatch(line); m != nil {
		dst, w, err := regNum(m[1], m[2])
		if err != nil {
			return err
		}
		class := isa.ClassALU64
		if w {
			class = isa.ClassALU
		}
		ins := isa.Instruction{OpCode: uint8(class) | prevailALU[m[3]], Dst: dst}
		if strings.HasPrefix(m[3], "s/") || strings.HasPrefix(m[3], "s%") {
			ins.Offset = 1
		}
		if err := operand(&ins, m[4]); err != nil {
			if m[3] == "=" && m[4][0] != 'r' && m[4][0] != 'w' {
				// A 64-bit constant: LDDW.
				v, perr := strconv.ParseInt(m[4], 0, 64)
				if perr != nil {
					return err
				}
				emit(isa.Instruction{OpCode: isa.OpLDDW, Dst: dst, Constant: v})
				return nil
			}
			return err
		}
		emit(ins)
		return nil
	}
	return fmt.Errorf("unknown statement")
}
