// Package isa describes the eBPF instruction set of RFC 9669 (cpu versions v1 to v4): opcodes,
// instruction decoding with full validation, encoding, a disassembler in two syntaxes and an
// assembler for the bpf_conformance text dialect.
package isa

// Class is the low three bits of an opcode.
type Class uint8

// Instruction classes.
const (
	ClassLD    Class = 0x00
	ClassLDX   Class = 0x01
	ClassST    Class = 0x02
	ClassSTX   Class = 0x03
	ClassALU   Class = 0x04
	ClassJMP   Class = 0x05
	ClassJMP32 Class = 0x06
	ClassALU64 Class = 0x07
)

// Source operand selector for ALU and JMP classes (bit 3 of the opcode).
const (
	SrcK uint8 = 0x00 // use the 32-bit immediate
	SrcX uint8 = 0x08 // use the source register
)

// ALU operations (bits 4-7 of ALU and ALU64 opcodes).
const (
	AluAdd  uint8 = 0x00
	AluSub  uint8 = 0x10
	AluMul  uint8 = 0x20
	AluDiv  uint8 = 0x30
	AluOr   uint8 = 0x40
	AluAnd  uint8 = 0x50
	AluLsh  uint8 = 0x60
	AluRsh  uint8 = 0x70
	AluNeg  uint8 = 0x80
	AluMod  uint8 = 0x90
	AluXor  uint8 = 0xa0
	AluMov  uint8 = 0xb0
	AluArsh uint8 = 0xc0
	AluEnd  uint8 = 0xd0
)

// Jump operations (bits 4-7 of JMP and JMP32 opcodes).
const (
	JmpJA   uint8 = 0x00
	JmpJEQ  uint8 = 0x10
	JmpJGT  uint8 = 0x20
	JmpJGE  uint8 = 0x30
	JmpJSET uint8 = 0x40
	JmpJNE  uint8 = 0x50
	JmpJSGT uint8 = 0x60
	JmpJSGE uint8 = 0x70
	JmpCall uint8 = 0x80
	JmpExit uint8 = 0x90
	JmpJLT  uint8 = 0xa0
	JmpJLE  uint8 = 0xb0
	JmpJSLT uint8 = 0xc0
	JmpJSLE uint8 = 0xd0
)

// Memory access sizes (bits 3-4 of load and store opcodes).
const (
	SizeW  uint8 = 0x00
	SizeH  uint8 = 0x08
	SizeB  uint8 = 0x10
	SizeDW uint8 = 0x18
)

// Memory access modes (bits 5-7 of load and store opcodes).
const (
	ModeIMM    uint8 = 0x00
	ModeABS    uint8 = 0x20
	ModeIND    uint8 = 0x40
	ModeMEM    uint8 = 0x60
	ModeMEMSX  uint8 = 0x80
	ModeATOMIC uint8 = 0xc0
)

// Atomic operations, carried in the immediate of BPF_STX|BPF_ATOMIC instructions.
const (
	AtomicAdd     int32 = 0x00
	AtomicOr      int32 = 0x40
	AtomicAnd     int32 = 0x50
	AtomicXor     int32 = 0xa0
	AtomicFetch   int32 = 0x01
	AtomicXchg    int32 = 0xe0 | AtomicFetch
	AtomicCmpXchg int32 = 0xf0 | AtomicFetch
)

// Source register values of a call instruction (BPF_JMP|BPF_CALL|BPF_K).
const (
	CallHelper    uint8 = 0 // imm is a helper id
	CallLocal     uint8 = 1 // imm is a pc-relative offset to a bpf-to-bpf function
	CallHelperBTF uint8 = 2 // imm is the BTF id of a kernel function
)

// Source register values of a 64-bit immediate load (BPF_LD|BPF_IMM|BPF_DW), Linux's
// BPF_PSEUDO_* numbering.
const (
	PseudoNone        uint8 = 0 // a plain 64-bit immediate
	PseudoMapFD       uint8 = 1 // imm is a map file descriptor; loads the map
	PseudoMapValue    uint8 = 2 // imm is a map fd, next imm an offset; loads a value address
	PseudoBTFID       uint8 = 3 // imm is a BTF id of a kernel variable
	PseudoFunc        uint8 = 4 // imm is a pc-relative offset to a function; loads its address
	PseudoMapIdx      uint8 = 5 // like PseudoMapFD, with an index into the program's map array
	PseudoMapIdxValue uint8 = 6 // like PseudoMapValue, with an index into the map array
)

// Frequently used whole opcodes.
const (
	OpLDDW  uint8 = uint8(ClassLD) | ModeIMM | SizeDW // 0x18
	OpCall  uint8 = uint8(ClassJMP) | JmpCall         // 0x85
	OpCallX uint8 = uint8(ClassJMP) | JmpCall | SrcX  // 0x8d
	OpExit  uint8 = uint8(ClassJMP) | JmpExit         // 0x95
	OpJA    uint8 = uint8(ClassJMP) | JmpJA           // 0x05
	OpJA32  uint8 = uint8(ClassJMP32) | JmpJA         // 0x06
)

// Register is an eBPF register number, 0 to 10.
type Register uint8

// The eBPF registers. R10 is the read-only frame pointer.
const (
	R0 Register = iota
	R1
	R2
	R3
	R4
	R5
	R6
	R7
	R8
	R9
	R10
	// RFP is the frame pointer, an alias of R10.
	RFP = R10
)

// MaxRegister is the highest valid register number.
const MaxRegister = R10

// ClassOf returns the class of an opcode.
func ClassOf(op uint8) Class { return Class(op & 0x07) }

// IsALU reports whether the class is ALU or ALU64.
func (c Class) IsALU() bool { return c == ClassALU || c == ClassALU64 }

// IsJump reports whether the class is JMP or JMP32.
func (c Class) IsJump() bool { return c == ClassJMP || c == ClassJMP32 }

// IsLoad reports whether the class is LD or LDX.
func (c Class) IsLoad() bool { return c == ClassLD || c == ClassLDX }

// IsStore reports whether the class is ST or STX.
func (c Class) IsStore() bool { return c == ClassST || c == ClassSTX }

// SizeBytes returns the width in bytes of a memory access size.
func SizeBytes(size uint8) int {
	switch size {
	case SizeB:
		return 1
	case SizeH:
		return 2
	case SizeW:
		return 4
	default:
		return 8
	}
}

var classNames = [8]string{"ld", "ldx", "st", "stx", "alu", "jmp", "jmp32", "alu64"}

func (c Class) String() string { return classNames[c&7] }
