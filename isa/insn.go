package isa

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// InstructionSize is the size in bytes of one instruction slot.
const InstructionSize = 8

// Sentinel errors wrapped by DecodeError, for use with errors.Is.
var (
	// ErrInvalidOpcode means the opcode byte names no instruction.
	ErrInvalidOpcode = errors.New("invalid opcode")
	// ErrReservedField means a field the instruction does not use is not zero.
	ErrReservedField = errors.New("reserved field not zero")
	// ErrInvalidRegister means a register number above 10.
	ErrInvalidRegister = errors.New("invalid register")
	// ErrInvalidField means a used field holds a value the instruction does not define.
	ErrInvalidField = errors.New("invalid field value")
	// ErrTruncated means the bytes end in the middle of an instruction.
	ErrTruncated = errors.New("truncated instruction")
	// ErrInvalidProgram means the instructions do not form a well-structured program
	// (jump out of range, empty program, write to r10, ...).
	ErrInvalidProgram = errors.New("invalid program")
)

// Instruction is one decoded eBPF instruction. A 64-bit immediate load (LDDW) is one
// Instruction that occupies two 8-byte slots.
type Instruction struct {
	OpCode uint8
	Dst    Register
	Src    Register
	Offset int16
	// Constant is the immediate, sign-extended from 32 bits; for LDDW it is the whole
	// 64-bit value (the second slot's immediate in the upper half).
	Constant int64
}

// Imm returns the 32-bit immediate field (for LDDW, the first slot's immediate).
func (ins Instruction) Imm() int32 { return int32(ins.Constant) }

// Class returns the instruction's class.
func (ins Instruction) Class() Class { return ClassOf(ins.OpCode) }

// IsLDDW reports whether the instruction is a 64-bit immediate load.
func (ins Instruction) IsLDDW() bool { return ins.OpCode == OpLDDW }

// Slots returns the number of 8-byte slots the instruction occupies (1, or 2 for LDDW).
func (ins Instruction) Slots() int {
	if ins.IsLDDW() {
		return 2
	}
	return 1
}

// IsExit reports whether the instruction is an exit.
func (ins Instruction) IsExit() bool { return ins.OpCode == OpExit }

// IsLocalCall reports whether the instruction is a bpf-to-bpf call.
func (ins Instruction) IsLocalCall() bool {
	return ins.OpCode == OpCall && ins.Src == Register(CallLocal)
}

// IsHelperCall reports whether the instruction calls a helper by static id.
func (ins Instruction) IsHelperCall() bool {
	return ins.OpCode == OpCall && ins.Src == Register(CallHelper)
}

// IsJump reports whether the instruction is a conditional or unconditional jump within the
// function (not a call or exit).
func (ins Instruction) IsJump() bool {
	if !ins.Class().IsJump() {
		return false
	}
	op := ins.OpCode & 0xf0
	return op != JmpCall && op != JmpExit
}

// JumpOffset returns the pc-relative jump distance in slots of a jump, ja32 (imm) or local
// call (imm).
func (ins Instruction) JumpOffset() int {
	if ins.OpCode == OpJA32 || ins.IsLocalCall() {
		return int(ins.Imm())
	}
	return int(ins.Offset)
}

// Encode appends the instruction's little-endian encoding (8 or 16 bytes) to b.
func (ins Instruction) Encode(b []byte) []byte {
	b = binary.LittleEndian.AppendUint64(b, encodeSlot(ins.OpCode, ins.Dst, ins.Src, ins.Offset, int32(ins.Constant)))
	if ins.IsLDDW() {
		b = binary.LittleEndian.AppendUint64(b, encodeSlot(0, 0, 0, 0, int32(ins.Constant>>32)))
	}
	return b
}

func encodeSlot(op uint8, dst, src Register, off int16, imm int32) uint64 {
	return uint64(op) | uint64(dst&0xf)<<8 | uint64(src&0xf)<<12 | uint64(uint16(off))<<16 | uint64(uint32(imm))<<32
}

// Encode returns the encoding of a sequence of instructions.
func Encode(insns []Instruction) []byte {
	b := make([]byte, 0, len(insns)*InstructionSize)
	for _, ins := range insns {
		b = ins.Encode(b)
	}
	return b
}

// DecodeError describes an instruction that failed to decode. It wraps one of the
// package's sentinel errors.
type DecodeError struct {
	Slot   int    // index of the 8-byte slot
	Raw    uint64 // the slot as a little-endian word
	Field  string // the offending field: "opcode", "dst", "src", "offset", "imm", "next"
	Detail string
	Err    error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("instruction %d (%#016x, opcode %#02x): %s: %v", e.Slot, e.Raw, uint8(e.Raw), e.Detail, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

type rawSlot struct {
	op  uint8
	dst uint8
	src uint8
	off int16
	imm int32
}

func splitSlot(w uint64) rawSlot {
	return rawSlot{
		op:  uint8(w),
		dst: uint8(w>>8) & 0xf,
		src: uint8(w>>12) & 0xf,
		off: int16(uint16(w >> 16)),
		imm: int32(uint32(w >> 32)),
	}
}

// Decode decodes a whole program, validating every field of every instruction. Jump
// targets are not checked here; see Validate.
func Decode(b []byte) ([]Instruction, error) {
	if len(b)%InstructionSize != 0 {
		return nil, &DecodeError{Slot: len(b) / InstructionSize, Field: "length",
			Detail: fmt.Sprintf("%d bytes is not a multiple of %d", len(b), InstructionSize), Err: ErrTruncated}
	}
	n := len(b) / InstructionSize
	insns := make([]Instruction, 0, n)
	for slot := 0; slot < n; {
		ins, slots, err := decodeAt(b, slot)
		if err != nil {
			return nil, err
		}
		insns = append(insns, ins)
		slot += slots
	}
	return insns, nil
}

// DecodeOne decodes the instruction at the start of b and returns it with the number of
// slots it occupies.
func DecodeOne(b []byte) (Instruction, int, error) {
	if len(b) < InstructionSize {
		return Instruction{}, 0, &DecodeError{Field: "length", Detail: "fewer than 8 bytes", Err: ErrTruncated}
	}
	return decodeAt(b, 0)
}

func decodeAt(b []byte, slot int) (Instruction, int, error) {
	w := binary.LittleEndian.Uint64(b[slot*InstructionSize:])
	s := splitSlot(w)
	fail := func(field string, err error, format string, args ...any) (Instruction, int, error) {
		return Instruction{}, 0, &DecodeError{Slot: slot, Raw: w, Field: field, Detail: fmt.Sprintf(format, args...), Err: err}
	}
	if field, detail, err := checkFields(s); err != nil {
		return fail(field, err, "%s", detail)
	}
	ins := Instruction{OpCode: s.op, Dst: Register(s.dst), Src: Register(s.src), Offset: s.off, Constant: int64(s.imm)}
	if s.op != OpLDDW {
		return ins, 1, nil
	}
	if (slot+2)*InstructionSize > len(b) {
		return fail("next", ErrTruncated, "lddw is missing its second slot")
	}
	w2 := binary.LittleEndian.Uint64(b[(slot+1)*InstructionSize:])
	n := splitSlot(w2)
	switch {
	case n.op != 0:
		return fail("next", ErrReservedField, "lddw second slot opcode must be 0, is %#02x", n.op)
	case n.dst != 0:
		return fail("next", ErrReservedField, "lddw second slot dst must be 0, is %d", n.dst)
	case n.src != 0:
		return fail("next", ErrReservedField, "lddw second slot src must be 0, is %d", n.src)
	case n.off != 0:
		return fail("next", ErrReservedField, "lddw second slot offset must be 0, is %d", n.off)
	}
	ins.Constant = int64(uint64(uint32(s.imm)) | uint64(uint32(n.imm))<<32)
	return ins, 2, nil
}

// checkFields validates one slot against RFC 9669. It returns the offending field, a
// description and a sentinel error, or a nil error.
func checkFields(s rawSlot) (field, detail string, err error) {
	mustZero := func(name string, v int64) bool {
		if v != 0 {
			field, detail, err = name, fmt.Sprintf("%s must be 0, is %d", name, v), ErrReservedField
			return false
		}
		return true
	}
	reg := func(name string, r uint8) bool {
		if r > uint8(MaxRegister) {
			field, detail, err = name, fmt.Sprintf("%s register r%d does not exist", name, r), ErrInvalidRegister
			return false
		}
		return true
	}
	invalid := func(why string) (string, string, error) {
		return "opcode", why, ErrInvalidOpcode
	}
	// operands checks the K/X source convention shared by ALU and conditional jumps.
	operands := func() bool {
		if s.op&SrcX != 0 {
			return reg("dst", s.dst) && reg("src", s.src) && mustZero("imm", int64(s.imm))
		}
		return reg("dst", s.dst) && mustZero("src", int64(s.src))
	}

	class := ClassOf(s.op)
	switch class {
	case ClassALU, ClassALU64:
		op := s.op & 0xf0
		switch op {
		case AluAdd, AluSub, AluMul, AluOr, AluAnd, AluLsh, AluRsh, AluXor, AluArsh:
			if !operands() || !mustZero("offset", int64(s.off)) {
				return
			}
		case AluDiv, AluMod:
			if !operands() {
				return
			}
			if s.off != 0 && s.off != 1 {
				return "offset", fmt.Sprintf("offset of div/mod must be 0 (unsigned) or 1 (signed), is %d", s.off), ErrInvalidField
			}
		case AluNeg:
			if s.op&SrcX != 0 {
				return invalid("neg has no register-source form")
			}
			if !reg("dst", s.dst) || !mustZero("src", int64(s.src)) || !mustZero("offset", int64(s.off)) || !mustZero("imm", int64(s.imm)) {
				return
			}
		case AluMov:
			if !operands() {
				return
			}
			if s.op&SrcX == 0 || s.off == 0 {
				if !mustZero("offset", int64(s.off)) {
					return
				}
				break
			}
			if !(s.off == 8 || s.off == 16 || (s.off == 32 && class == ClassALU64)) {
				return "offset", fmt.Sprintf("offset must be 0 (mov) or 8, 16, 32 (movsx; 32 only in alu64), is %d", s.off), ErrReservedField
			}
		case AluEnd:
			if class == ClassALU64 && s.op&SrcX != 0 {
				return invalid("bswap has no register-source form")
			}
			if !reg("dst", s.dst) || !mustZero("src", int64(s.src)) || !mustZero("offset", int64(s.off)) {
				return
			}
			if s.imm != 16 && s.imm != 32 && s.imm != 64 {
				return "imm", fmt.Sprintf("byte swap width must be 16, 32 or 64, is %d", s.imm), ErrInvalidField
			}
		default:
			return invalid(fmt.Sprintf("no ALU operation %#02x", op))
		}
	case ClassJMP, ClassJMP32:
		op := s.op & 0xf0
		switch op {
		case JmpJA:
			if s.op&SrcX != 0 {
				return invalid("ja has no register-source form")
			}
			if !mustZero("dst", int64(s.dst)) || !mustZero("src", int64(s.src)) {
				return
			}
			if class == ClassJMP {
				mustZero("imm", int64(s.imm))
			} else {
				mustZero("offset", int64(s.off))
			}
		case JmpJEQ, JmpJGT, JmpJGE, JmpJSET, JmpJNE, JmpJSGT, JmpJSGE, JmpJLT, JmpJLE, JmpJSLT, JmpJSLE:
			operands()
		case JmpCall:
			if class == ClassJMP32 {
				return invalid("call exists only in the jmp class")
			}
			if !mustZero("offset", int64(s.off)) {
				return
			}
			if s.op&SrcX != 0 { // callx: the register holding the target is in dst
				if !reg("dst", s.dst) || !mustZero("src", int64(s.src)) || !mustZero("imm", int64(s.imm)) {
					return
				}
				break
			}
			if !mustZero("dst", int64(s.dst)) {
				return
			}
			if s.src > CallHelperBTF {
				return "src", fmt.Sprintf("call src must be 0 (helper), 1 (local) or 2 (kfunc), is %d", s.src), ErrInvalidField
			}
		case JmpExit:
			if class == ClassJMP32 {
				return invalid("exit exists only in the jmp class")
			}
			if s.op&SrcX != 0 {
				return invalid("exit has no register-source form")
			}
			_ = mustZero("dst", int64(s.dst)) && mustZero("src", int64(s.src)) &&
				mustZero("offset", int64(s.off)) && mustZero("imm", int64(s.imm))
		default:
			return invalid(fmt.Sprintf("no jump operation %#02x", op))
		}
	case ClassLD:
		mode, size := s.op&0xe0, s.op&0x18
		switch mode {
		case ModeIMM:
			if size != SizeDW {
				return invalid("64-bit immediate load must have size dw")
			}
			if !reg("dst", s.dst) || !mustZero("offset", int64(s.off)) {
				return
			}
			if s.src > PseudoMapIdxValue {
				return "src", fmt.Sprintf("lddw src must be 0..6, is %d", s.src), ErrInvalidField
			}
		case ModeABS, ModeIND:
			if size == SizeDW {
				return invalid("legacy packet load cannot have size dw")
			}
			if !mustZero("dst", int64(s.dst)) || !mustZero("offset", int64(s.off)) {
				return
			}
			if mode == ModeABS {
				mustZero("src", int64(s.src))
			} else {
				reg("src", s.src)
			}
		default:
			return invalid(fmt.Sprintf("no ld mode %#02x", mode))
		}
	case ClassLDX:
		mode, size := s.op&0xe0, s.op&0x18
		switch {
		case mode == ModeMEM, mode == ModeMEMSX && size != SizeDW:
			_ = reg("dst", s.dst) && reg("src", s.src) && mustZero("imm", int64(s.imm))
		default:
			return invalid(fmt.Sprintf("no ldx mode %#02x with size %s", mode, sizeName(size)))
		}
	case ClassST:
		if s.op&0xe0 != ModeMEM {
			return invalid(fmt.Sprintf("no st mode %#02x", s.op&0xe0))
		}
		_ = reg("dst", s.dst) && mustZero("src", int64(s.src))
	case ClassSTX:
		mode, size := s.op&0xe0, s.op&0x18
		switch {
		case mode == ModeMEM:
			_ = reg("dst", s.dst) && reg("src", s.src) && mustZero("imm", int64(s.imm))
		case mode == ModeATOMIC && (size == SizeW || size == SizeDW):
			if !reg("dst", s.dst) || !reg("src", s.src) {
				return
			}
			switch s.imm {
			case AtomicAdd, AtomicOr, AtomicAnd, AtomicXor,
				AtomicAdd | AtomicFetch, AtomicOr | AtomicFetch, AtomicAnd | AtomicFetch, AtomicXor | AtomicFetch,
				AtomicXchg, AtomicCmpXchg:
			default:
				return "imm", fmt.Sprintf("no atomic operation %#x", s.imm), ErrInvalidField
			}
		default:
			return invalid(fmt.Sprintf("no stx mode %#02x with size %s", mode, sizeName(size)))
		}
	}
	return
}

func sizeName(size uint8) string {
	switch size {
	case SizeB:
		return "b"
	case SizeH:
		return "h"
	case SizeW:
		return "w"
	default:
		return "dw"
	}
}

// SlotOffsets returns, for each instruction, the index of its first slot, and the total
// number of slots.
func SlotOffsets(insns []Instruction) ([]int, int) {
	offs := make([]int, len(insns))
	slot := 0
	for i, ins := range insns {
		offs[i] = slot
		slot += ins.Slots()
	}
	return offs, slot
}

// SlotIndex returns the slot offsets of the instructions (as SlotOffsets) and the
// reverse mapping: for each slot, the index of the instruction starting there, or -1 for
// the second half of an lddw. The reverse slice has one extra element, for the slot after
// the last instruction, holding len(insns).
func SlotIndex(insns []Instruction) (offs, bySlot []int) {
	return SlotIndexInto(insns, nil, nil)
}

// SlotIndexInto is SlotIndex reusing the memory of offs and bySlot when they are large
// enough (a compiler that runs often keeps them between programs).
func SlotIndexInto(insns []Instruction, offs, bySlot []int) ([]int, []int) {
	offs = resize(offs, len(insns))
	slot := 0
	for i, ins := range insns {
		offs[i] = slot
		slot += ins.Slots()
	}
	bySlot = resize(bySlot, slot+1)
	for i := range bySlot {
		bySlot[i] = -1
	}
	for i, o := range offs {
		bySlot[o] = i
	}
	bySlot[slot] = len(insns)
	return offs, bySlot
}

// resize returns s with length n, reusing its memory when it has room.
func resize(s []int, n int) []int {
	if cap(s) < n {
		return make([]int, n)
	}
	return s[:n]
}

// Validate checks the structure of a decoded program: it is not empty, every jump and
// local call lands on an instruction inside the program, no instruction writes the frame
// pointer r10, and the last instruction is an exit or an unconditional jump. It is the
// minimum every engine needs; the verifier checks far more.
func Validate(insns []Instruction) error {
	if len(insns) == 0 {
		return fmt.Errorf("%w: no instructions", ErrInvalidProgram)
	}
	offs, slotToIndex := SlotIndex(insns)
	total := len(slotToIndex) - 1
	for i, ins := range insns {
		if ins.IsJump() || ins.IsLocalCall() {
			target := offs[i] + 1 + ins.JumpOffset()
			if target < 0 || target >= total {
				return fmt.Errorf("%w: instruction %d jumps to slot %d, outside the program (0..%d)", ErrInvalidProgram, offs[i], target, total-1)
			}
			if slotToIndex[target] < 0 {
				return fmt.Errorf("%w: instruction %d jumps into the middle of the lddw at slot %d", ErrInvalidProgram, offs[i], target-1)
			}
		}
		if ins.IsLDDW() && ins.Src == Register(PseudoFunc) {
			target := offs[i] + 1 + int(ins.Imm())
			if target < 0 || target >= total || slotToIndex[target] < 0 {
				return fmt.Errorf("%w: instruction %d refers to function at slot %d, not an instruction", ErrInvalidProgram, offs[i], target)
			}
		}
		if r, ok := WrittenRegister(ins); ok && r == R10 {
			return fmt.Errorf("%w: instruction %d writes the read-only frame pointer r10", ErrInvalidProgram, offs[i])
		}
	}
	last := insns[len(insns)-1]
	if !last.IsExit() && last.OpCode != OpJA && last.OpCode != OpJA32 {
		return fmt.Errorf("%w: last instruction (slot %d) is neither exit nor an unconditional jump, so execution could run off the end", ErrInvalidProgram, offs[len(insns)-1])
	}
	return nil
}

// WrittenRegister returns the register an instruction writes besides r0 written by calls
// and cmpxchg (ALU destination, load destination, or the source register of an atomic
// fetch).
func WrittenRegister(ins Instruction) (Register, bool) {
	switch ins.Class() {
	case ClassALU, ClassALU64, ClassLDX:
		return ins.Dst, true
	case ClassLD:
		if ins.IsLDDW() {
			return ins.Dst, true
		}
		return R0, true
	case ClassSTX:
		if ins.OpCode&0xe0 == ModeATOMIC && ins.Imm()&AtomicFetch != 0 {
			if ins.Imm() == AtomicCmpXchg {
				return R0, true
			}
			return ins.Src, true
		}
	}
	return 0, false
}
