package isa

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrSyntax is wrapped by every assembler error.
var ErrSyntax = errors.New("syntax error")

// AsmError is an assembler error with the 1-based source line it refers to.
type AsmError struct {
	Line int
	Text string
	Err  error
}

func (e *AsmError) Error() string {
	return fmt.Sprintf("line %d: %q: %v", e.Line, e.Text, e.Err)
}

func (e *AsmError) Unwrap() error { return e.Err }

func syntaxErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrSyntax, fmt.Sprintf(format, args...))
}

// Assemble assembles text in the bpf_conformance dialect ("mov %r0, 1", "ldxw %r1,
// [%r2+4]", "jeq %r1, 0, label", "lock fetch add [%r10-8], %r1", "call local func",
// "lddw %r2, func label" or "lddw %r2, func +3" for a function's address, ...).
// Comments start with '#'; a line "name:" defines a label; the first "exit" is also the
// label "exit". Immediates must fit their fields: 32 bits (signed decimal or hex up to
// 0xffffffff) and 16-bit signed offsets.
func Assemble(src string) ([]Instruction, error) {
	a := assembler{labels: map[string]int{}}
	sc := bufio.NewScanner(strings.NewReader(src))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		text = strings.TrimSpace(text)
		for text != "" {
			// A leading "label:" may be followed by an instruction on the same line.
			first, rest, _ := strings.Cut(text, " ")
			if !strings.HasSuffix(first, ":") {
				break
			}
			name := strings.TrimSuffix(first, ":")
			if !isLabel(name) {
				return nil, &AsmError{line, text, syntaxErr("invalid label %q", name)}
			}
			if _, dup := a.labels[name]; dup {
				return nil, &AsmError{line, text, syntaxErr("duplicate label %q", name)}
			}
			a.labels[name] = a.slot
			text = strings.TrimSpace(rest)
		}
		if text == "" {
			continue
		}
		if err := a.statement(text); err != nil {
			return nil, &AsmError{line, text, err}
		}
		a.lines = append(a.lines, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("assemble: %w", err)
	}
	if err := a.fixups(); err != nil {
		return nil, err
	}
	return a.out, nil
}

type fixup struct {
	index int    // instruction index in out
	label string // target label
	line  int    // source line
}

type assembler struct {
	out      []Instruction
	lines    []int // source line of each instruction
	slot     int   // slot of the next instruction
	labels   map[string]int
	pending  []fixup
	sawExit  bool
	curLabel string // label of a jump target in the current statement
}

func isLabel(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func (a *assembler) emit(ins Instruction) {
	if a.curLabel != "" {
		a.pending = append(a.pending, fixup{index: len(a.out), label: a.curLabel})
		a.curLabel = ""
	}
	a.out = append(a.out, ins)
	a.slot += ins.Slots()
}

func (a *assembler) fixups() error {
	offs, _ := SlotOffsets(a.out)
	for _, f := range a.pending {
		target, ok := a.labels[f.label]
		ins := &a.out[f.index]
		if !ok {
			return &AsmError{a.lines[f.index], ins.Format(SyntaxConformance), syntaxErr("undefined label %q", f.label)}
		}
		rel := target - offs[f.index] - 1
		if ins.OpCode == OpJA32 || ins.IsLocalCall() || ins.IsLDDW() {
			ins.Constant = int64(rel)
			continue
		}
		if rel < math.MinInt16 || rel > math.MaxInt16 {
			return &AsmError{a.lines[f.index], ins.Format(SyntaxConformance), syntaxErr("jump to %q is out of 16-bit range", f.label)}
		}
		ins.Offset = int16(rel)
	}
	return nil
}

// operands splits "a, b, c" into its comma-separated operands, with the spaces inside
// brackets removed.
func splitOperands(s string) []string {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	var b strings.Builder
	depth := 0
	for _, c := range s {
		switch {
		case c == '[':
			depth++
		case c == ']':
			depth--
		case depth > 0 && (c == ' ' || c == '\t'):
			continue
		}
		b.WriteRune(c)
	}
	parts := strings.Split(b.String(), ",")
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		out = append(out, strings.TrimSpace(p))
	}
	return out
}

var asmAluOps = map[string]uint8{
	"add": AluAdd, "sub": AluSub, "mul": AluMul, "div": AluDiv, "sdiv": AluDiv, "or": AluOr,
	"and": AluAnd, "lsh": AluLsh, "rsh": AluRsh, "neg": AluNeg, "mod": AluMod, "smod": AluMod,
	"xor": AluXor, "mov": AluMov, "arsh": AluArsh,
}

var asmJmpOps = map[string]uint8{
	"jeq": JmpJEQ, "jgt": JmpJGT, "jge": JmpJGE, "jset": JmpJSET, "jne": JmpJNE, "jsgt": JmpJSGT,
	"jsge": JmpJSGE, "jlt": JmpJLT, "jle": JmpJLE, "jslt": JmpJSLT, "jsle": JmpJSLE,
}

var asmSizes = map[string]uint8{"b": SizeB, "h": SizeH, "w": SizeW, "dw": SizeDW}

var asmAtomicOps = map[string]int32{
	"add": AtomicAdd, "or": AtomicOr, "and": AtomicAnd, "xor": AtomicXor,
	"xchg": AtomicXchg, "cmpxchg": AtomicCmpXchg,
}

func wantOperands(mnemonic string, ops []string, n int) error {
	if len(ops) != n {
		return syntaxErr("%s takes %d operands, got %d", mnemonic, n, len(ops))
	}
	return nil
}

func (a *assembler) statement(text string) error {
	mnemonic, rest, _ := strings.Cut(text, " ")
	mnemonic = strings.ToLower(strings.TrimSpace(mnemonic))
	rest = strings.TrimSpace(rest)

	switch {
	case mnemonic == "exit":
		if rest != "" {
			return syntaxErr("exit takes no operands")
		}
		if !a.sawExit {
			a.sawExit = true
			if _, ok := a.labels["exit"]; !ok {
				a.labels["exit"] = a.slot
			}
		}
		a.emit(Instruction{OpCode: OpExit})
		return nil
	case mnemonic == "lock":
		return a.atomic(rest)
	case mnemonic == "call":
		return a.call(rest)
	case mnemonic == "lddw":
		ops := splitOperands(rest)
		if err := wantOperands(mnemonic, ops, 2); err != nil {
			return err
		}
		dst, err := parseRegister(ops[0])
		if err != nil {
			return err
		}
		if name, ok := strings.CutPrefix(ops[1], "func "); ok {
			// The address of a function (a callback): a label or a relative "+N"/"-N"
			// slot offset, resolved like "call local".
			off, err := a.jumpTarget(strings.TrimSpace(name), true)
			if err != nil {
				return err
			}
			a.emit(Instruction{OpCode: OpLDDW, Dst: dst, Src: Register(PseudoFunc), Constant: int64(off)})
			return nil
		}
		v, err := parseImm64(ops[1])
		if err != nil {
			return err
		}
		a.emit(Instruction{OpCode: OpLDDW, Dst: dst, Constant: v})
		return nil
	case mnemonic == "ja" || mnemonic == "ja32":
		ops := splitOperands(rest)
		if err := wantOperands(mnemonic, ops, 1); err != nil {
			return err
		}
		target, err := a.jumpTarget(ops[0], mnemonic == "ja32")
		if err != nil {
			return err
		}
		if mnemonic == "ja32" {
			a.emit(Instruction{OpCode: OpJA32, Constant: int64(target)})
		} else {
			a.emit(Instruction{OpCode: OpJA, Offset: int16(target)})
		}
		return nil
	}

	if op, ok := asmJmpOps[strings.TrimSuffix(mnemonic, "32")]; ok {
		class := ClassJMP
		if strings.HasSuffix(mnemonic, "32") {
			class = ClassJMP32
		}
		ops := splitOperands(rest)
		if err := wantOperands(mnemonic, ops, 3); err != nil {
			return err
		}
		ins := Instruction{OpCode: uint8(class) | op}
		var err error
		if ins.Dst, err = parseRegister(ops[0]); err != nil {
			return err
		}
		if err := setSource(&ins, ops[1]); err != nil {
			return err
		}
		off, err := a.jumpTarget(ops[2], false)
		if err != nil {
			return err
		}
		ins.Offset = int16(off)
		a.emit(ins)
		return nil
	}

	for _, prefix := range []string{"ldxs", "ldx", "ldabs", "ldind", "stx", "st"} {
		if !strings.HasPrefix(mnemonic, prefix) {
			continue
		}
		size, ok := asmSizes[mnemonic[len(prefix):]]
		if !ok {
			continue
		}
		return a.memory(prefix, size, mnemonic, splitOperands(rest))
	}
	return a.alu(mnemonic, splitOperands(rest))
}

func (a *assembler) memory(prefix string, size uint8, mnemonic string, ops []string) error {
	switch prefix {
	case "ldx", "ldxs":
		if err := wantOperands(mnemonic, ops, 2); err != nil {
			return err
		}
		mode := ModeMEM
		if prefix == "ldxs" {
			if size == SizeDW {
				return syntaxErr("unknown mnemonic %q", mnemonic)
			}
			mode = ModeMEMSX
		}
		dst, err := parseRegister(ops[0])
		if err != nil {
			return err
		}
		src, off, err := parseMem(ops[1])
		if err != nil {
			return err
		}
		a.emit(Instruction{OpCode: uint8(ClassLDX) | mode | size, Dst: dst, Src: src, Offset: off})
	case "st", "stx":
		if err := wantOperands(mnemonic, ops, 2); err != nil {
			return err
		}
		dst, off, err := parseMem(ops[0])
		if err != nil {
			return err
		}
		if prefix == "st" {
			imm, err := parseImm32(ops[1])
			if err != nil {
				return err
			}
			a.emit(Instruction{OpCode: uint8(ClassST) | ModeMEM | size, Dst: dst, Offset: off, Constant: int64(imm)})
			return nil
		}
		src, err := parseRegister(ops[1])
		if err != nil {
			return err
		}
		a.emit(Instruction{OpCode: uint8(ClassSTX) | ModeMEM | size, Dst: dst, Src: src, Offset: off})
	case "ldabs", "ldind":
		if size == SizeDW {
			return syntaxErr("unknown mnemonic %q", mnemonic)
		}
		ins := Instruction{OpCode: uint8(ClassLD) | ModeABS | size}
		immOp := 0
		if prefix == "ldind" {
			if err := wantOperands(mnemonic, ops, 2); err != nil {
				return err
			}
			src, err := parseRegister(ops[0])
			if err != nil {
				return err
			}
			ins.OpCode, ins.Src, immOp = uint8(ClassLD)|ModeIND|size, src, 1
		} else if err := wantOperands(mnemonic, ops, 1); err != nil {
			return err
		}
		imm, err := parseImm32(ops[immOp])
		if err != nil {
			return err
		}
		ins.Constant = int64(imm)
		a.emit(ins)
	}
	return nil
}

func (a *assembler) alu(mnemonic string, ops []string) error {
	// Byte swaps: be16, le32, swap64, bswap16 ...
	for _, p := range []struct {
		prefix string
		opcode uint8
	}{
		{"bswap", uint8(ClassALU64) | AluEnd},
		{"swap", uint8(ClassALU64) | AluEnd},
		{"be", uint8(ClassALU) | AluEnd | SrcX},
		{"le", uint8(ClassALU) | AluEnd},
	} {
		if !strings.HasPrefix(mnemonic, p.prefix) {
			continue
		}
		width := mnemonic[len(p.prefix):]
		if width != "16" && width != "32" && width != "64" {
			continue
		}
		if err := wantOperands(mnemonic, ops, 1); err != nil {
			return err
		}
		dst, err := parseRegister(ops[0])
		if err != nil {
			return err
		}
		w, _ := strconv.Atoi(width)
		a.emit(Instruction{OpCode: p.opcode, Dst: dst, Constant: int64(w)})
		return nil
	}

	name, class := mnemonic, ClassALU64
	if strings.HasSuffix(name, "32") {
		name, class = strings.TrimSuffix(name, "32"), ClassALU
	} else {
		name = strings.TrimSuffix(name, "64")
	}
	var offset int16
	if strings.HasPrefix(name, "movsx") {
		bits, err := strconv.Atoi(name[len("movsx"):])
		if err != nil || !(bits == 8 || bits == 16 || bits == 32 && class == ClassALU64) {
			return syntaxErr("unknown mnemonic %q", mnemonic)
		}
		name, offset = "movsx", int16(bits)
	}
	if name == "sdiv" || name == "smod" {
		offset = 1
	}
	op, ok := asmAluOps[name]
	if !ok && name != "movsx" {
		return syntaxErr("unknown mnemonic %q", mnemonic)
	}
	if name == "movsx" {
		op = AluMov
	}
	ins := Instruction{OpCode: uint8(class) | op, Offset: offset}
	if op == AluNeg {
		if err := wantOperands(mnemonic, ops, 1); err != nil {
			return err
		}
		dst, err := parseRegister(ops[0])
		if err != nil {
			return err
		}
		ins.Dst = dst
		a.emit(ins)
		return nil
	}
	if err := wantOperands(mnemonic, ops, 2); err != nil {
		return err
	}
	var err error
	if ins.Dst, err = parseRegister(ops[0]); err != nil {
		return err
	}
	if err := setSource(&ins, ops[1]); err != nil {
		return err
	}
	if name == "movsx" && ins.OpCode&SrcX == 0 {
		return syntaxErr("movsx needs a register source")
	}
	a.emit(ins)
	return nil
}

func (a *assembler) atomic(rest string) error {
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return syntaxErr("lock needs an operation and two operands")
	}
	fetch := false
	if fields[0] == "fetch" {
		fetch = true
		fields = fields[1:]
	}
	if len(fields) == 0 {
		return syntaxErr("lock needs an operation and two operands")
	}
	name := strings.ToLower(fields[0])
	size := SizeDW
	if strings.HasSuffix(name, "32") {
		name, size = strings.TrimSuffix(name, "32"), SizeW
	}
	imm, ok := asmAtomicOps[name]
	if !ok {
		return syntaxErr("unknown atomic operation %q", fields[0])
	}
	if fetch {
		imm |= AtomicFetch
	}
	ops := splitOperands(strings.Join(fields[1:], " "))
	if len(ops) != 2 {
		return syntaxErr("lock %s takes 2 operands, got %d", fields[0], len(ops))
	}
	dst, off, err := parseMem(ops[0])
	if err != nil {
		return err
	}
	src, err := parseRegister(ops[1])
	if err != nil {
		return err
	}
	a.emit(Instruction{OpCode: uint8(ClassSTX) | ModeATOMIC | size, Dst: dst, Src: src, Offset: off, Constant: int64(imm)})
	return nil
}

func (a *assembler) call(rest string) error {
	fields := strings.Fields(strings.ReplaceAll(rest, ",", " "))
	mode := "helper"
	if len(fields) == 2 {
		mode, fields = fields[0], fields[1:]
	}
	if len(fields) != 1 {
		return syntaxErr("call takes [helper|local|runtime] and a target")
	}
	target := fields[0]
	switch mode {
	case "helper":
		if strings.HasPrefix(target, "%") {
			r, err := parseRegister(target)
			if err != nil {
				return err
			}
			a.emit(Instruction{OpCode: OpCallX, Dst: r})
			return nil
		}
		imm, err := parseImm32(target)
		if err != nil {
			return err
		}
		a.emit(Instruction{OpCode: OpCall, Constant: int64(imm)})
	case "local":
		off, err := a.jumpTarget(target, true)
		if err != nil {
			return err
		}
		a.emit(Instruction{OpCode: OpCall, Src: Register(CallLocal), Constant: int64(off)})
	case "runtime":
		imm, err := parseImm32(target)
		if err != nil {
			return err
		}
		a.emit(Instruction{OpCode: OpCall, Src: Register(CallHelperBTF), Constant: int64(imm)})
	default:
		return syntaxErr("unknown call mode %q", mode)
	}
	return nil
}

// jumpTarget parses "+N", "-N" or a label (resolved later). wide allows 32-bit offsets.
func (a *assembler) jumpTarget(s string, wide bool) (int, error) {
	if strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-") {
		if wide {
			v, err := parseImm32(strings.TrimPrefix(s, "+"))
			return int(v), err
		}
		v, err := parseOffset(strings.TrimPrefix(s, "+"))
		return int(v), err
	}
	if !isLabel(s) {
		return 0, syntaxErr("invalid jump target %q", s)
	}
	a.curLabel = s
	return 0, nil
}

func setSource(ins *Instruction, op string) error {
	if strings.HasPrefix(op, "%") {
		r, err := parseRegister(op)
		if err != nil {
			return err
		}
		ins.OpCode |= SrcX
		ins.Src = r
		return nil
	}
	imm, err := parseImm32(op)
	if err != nil {
		return err
	}
	ins.Constant = int64(imm)
	return nil
}

func parseRegister(s string) (Register, error) {
	if !strings.HasPrefix(s, "%r") {
		return 0, syntaxErr("expected a register, got %q", s)
	}
	n, err := strconv.Atoi(s[2:])
	if err != nil || n < 0 || n > int(MaxRegister) || s[2:] != strconv.Itoa(n) {
		return 0, syntaxErr("invalid register %q", s)
	}
	return Register(n), nil
}

// parseMem parses "[%rN+off]", "[%rN-off]" or "[%rN]".
func parseMem(s string) (Register, int16, error) {
	if !strings.HasPrefix(s, "[") || !strings.HasSuffix(s, "]") {
		return 0, 0, syntaxErr("expected a memory operand [%%rN+off], got %q", s)
	}
	inner := s[1 : len(s)-1]
	i := strings.IndexAny(inner, "+-")
	if i < 0 {
		r, err := parseRegister(inner)
		return r, 0, err
	}
	r, err := parseRegister(inner[:i])
	if err != nil {
		return 0, 0, err
	}
	off := inner[i:]
	if off[0] == '+' {
		off = off[1:]
	}
	o, err := parseOffset(off)
	return r, o, err
}

func parseSigned(s string) (neg bool, mag uint64, hex bool, err error) {
	t := s
	if strings.HasPrefix(t, "-") {
		neg, t = true, t[1:]
	}
	if strings.HasPrefix(t, "0x") || strings.HasPrefix(t, "0X") {
		hex = true
		mag, err = strconv.ParseUint(t[2:], 16, 64)
	} else {
		mag, err = strconv.ParseUint(t, 10, 64)
	}
	if err != nil {
		return false, 0, false, syntaxErr("invalid number %q", s)
	}
	return neg, mag, hex, nil
}

// parseImm32 accepts a signed decimal in int32 range or hex up to 0xffffffff.
func parseImm32(s string) (int32, error) {
	neg, mag, hex, err := parseSigned(s)
	if err != nil {
		return 0, err
	}
	switch {
	case hex && !neg && mag <= math.MaxUint32:
		return int32(uint32(mag)), nil
	case !neg && !hex && mag <= math.MaxInt32:
		return int32(mag), nil
	case neg && mag <= -math.MinInt32:
		return int32(-int64(mag)), nil
	}
	return 0, syntaxErr("immediate %s is out of 32-bit range", s)
}

// parseOffset accepts a signed 16-bit decimal or hex up to 0xffff.
func parseOffset(s string) (int16, error) {
	neg, mag, hex, err := parseSigned(s)
	if err != nil {
		return 0, err
	}
	switch {
	case hex && !neg && mag <= math.MaxUint16:
		return int16(uint16(mag)), nil
	case !neg && mag <= math.MaxInt16:
		return int16(mag), nil
	case neg && mag <= -math.MinInt16:
		return int16(-int64(mag)), nil
	}
	return 0, syntaxErr("offset %s is out of 16-bit range", s)
}

// parseImm64 accepts any 64-bit value: hex (unsigned) or decimal (signed or unsigned).
func parseImm64(s string) (int64, error) {
	neg, mag, _, err := parseSigned(s)
	if err != nil {
		return 0, err
	}
	if neg {
		if mag > 1<<63 {
			return 0, syntaxErr("immediate %s is out of 64-bit range", s)
		}
		return int64(-mag), nil
	}
	return int64(mag), nil
}
