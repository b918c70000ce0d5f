// Package interp is anybpf's reference interpreter. It decodes a program once into a
// compact internal form (one entry per 8-byte slot, operations specialised by width,
// operand kind and checking mode) and runs it with a switch-dispatched loop.
package interp

import (
	"fmt"
	"math/bits"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/engine/internal/initcheck"
	"github.com/anybpf/anybpf/isa"
)

// Engine is the interpreter engine.
type Engine struct{}

// New returns the interpreter engine.
func New() Engine { return Engine{} }

// Name returns "interp".
func (Engine) Name() string { return "interp" }

// inst is the internal form of one slot.
type inst struct {
	op  uint8
	dst uint8
	src uint8
	a   uint8  // first operand register of fused three-address operations
	off int32  // memory offset, or absolute target slot of a jump or local call
	imm uint64 // operand, prepared for the operation (sign- or zero-extended, masked)
}

// Code is a program compiled for the interpreter.
type Code struct {
	insns   []inst
	helpers []engine.HelperFunc // indexed by inst.imm for opCall
	byID    map[int32]engine.HelperFunc
	budget  uint64
	// counting is set in checked mode and whenever a budget is set; without it,
	// taken jumps skip the instruction accounting and Env.Executed stays 0.
	counting bool
	checked  bool
}

// Compile validates and translates a program.
func (Engine) Compile(insns []isa.Instruction, cfg engine.Config) (engine.Code, error) {
	return Compile(insns, cfg)
}

// Compile validates and translates a program into interpreter code.
func Compile(insns []isa.Instruction, cfg engine.Config) (*Code, error) {
	if err := isa.Validate(insns); err != nil {
		return nil, err
	}
	if cfg.Checked {
		if err := initcheck.Check(insns); err != nil {
			return nil, err
		}
	}
	offs, total := isa.SlotOffsets(insns)
	c := &Code{
		insns:   make([]inst, total),
		byID:    cfg.Helpers,
		budget:  cfg.Budget,
		checked: cfg.Checked,
	}
	c.counting = cfg.Checked || cfg.Budget != 0
	if c.budget == 0 {
		c.budget = ^uint64(0)
	}
	helperIndex := map[int32]uint64{}
	for i, ins := range insns {
		slot := offs[i]
		in, err := c.translate(ins, slot, helperIndex)
		if err != nil {
			return nil, fmt.Errorf("slot %d (%s): %w", slot, ins, err)
		}
		c.insns[slot] = in
		if ins.IsLDDW() {
			c.insns[slot+1] = inst{op: opInvalid}
		}
	}
	if fusion {
		fuse(c.insns)
	}
	return c, nil
}

// fusion enables fuse; tests turn it off to compare.
var fusion = true

// aluGroup3 maps an ALU operation group (its index counting from opAdd64K in fours) to
// its three-address group (counting from opAdd64K3), for the groups that have one.
var aluGroup3 = map[uint8]uint8{0: 0, 1: 1, 2: 2, 5: 3, 6: 4, 7: 5, 8: 6, 11: 7, 13: 8, 3: 9, 4: 10, 9: 11, 10: 12}

// fuse replaces common instruction pairs with one operation that does both and skips the
// second slot. The second slot keeps its own operation, so a jump into it still works,
// and instruction counting stays exact because counts come from slot distances.
//
//   - "mov dst, a" + "op dst, x" becomes the three-address "dst = a op x";
//   - "if c goto +1" + "goto T" becomes "if !c goto T".
func fuse(insns []inst) {
	for i := 0; i+1 < len(insns); i++ {
		cur, next := &insns[i], insns[i+1]
		switch {
		case (cur.op == opMov64X || cur.op == opMov32X) && next.op >= opAdd64K && next.op <= opArsh32X:
			group, variant := (next.op-opAdd64K)/4, (next.op-opAdd64K)%4
			g3, ok := aluGroup3[group]
			wideOp := variant < 2
			xForm := variant%2 == 1
			if !ok || next.dst != cur.dst || (cur.op == opMov32X && wideOp) || (xForm && next.src == cur.dst) {
				continue
			}
			fused := next
			fused.op = opAdd64K3 + 4*g3 + variant
			fused.a = cur.src
			*cur = fused
		case cur.op >= opJEQ64K && cur.op <= opJSLE32X && int(cur.off) == i+2 && next.op == opJA:
			cur.op = opJEQ64KJA + (cur.op - opJEQ64K)
			cur.off = next.off
		}
	}
}

func (c *Code) translate(ins isa.Instruction, slot int, helperIndex map[int32]uint64) (inst, error) {
	in := inst{dst: uint8(ins.Dst), src: uint8(ins.Src), off: int32(ins.Offset), imm: uint64(ins.Constant)}
	code := ins.OpCode
	class := ins.Class()
	x := code&isa.SrcX != 0
	switch class {
	case isa.ClassALU64, isa.ClassALU:
		wide := class == isa.ClassALU64
		op := code & 0xf0
		var base uint8
		switch op {
		case isa.AluAdd:
			base = opAdd64K
		case isa.AluSub:
			base = opSub64K
		case isa.AluMul:
			base = opMul64K
		case isa.AluDiv:
			base = opDiv64K
			if ins.Offset == 1 {
				base = opSDiv64K
			}
		case isa.AluOr:
			base = opOr64K
		case isa.AluAnd:
			base = opAnd64K
		case isa.AluLsh:
			base = opLsh64K
		case isa.AluRsh:
			base = opRsh64K
		case isa.AluMod:
			base = opMod64K
			if ins.Offset == 1 {
				base = opSMod64K
			}
		case isa.AluXor:
			base = opXor64K
		case isa.AluMov:
			base = opMov64K
			if x && ins.Offset != 0 {
				return c.movsx(in, wide, ins.Offset), nil
			}
		case isa.AluArsh:
			base = opArsh64K
		case isa.AluNeg:
			in.op = opNeg64
			if !wide {
				in.op = opNeg32
			}
			return in, nil
		case isa.AluEnd:
			return c.byteSwap(in, wide, x, ins.Imm()), nil
		default:
			return in, fmt.Errorf("%w: alu operation %#x", isa.ErrInvalidOpcode, op)
		}
		// Each base op is followed by its X form, then the 32-bit K and X forms.
		in.op = base
		if x {
			in.op++
		}
		if !wide {
			in.op += 2
			in.imm = uint64(uint32(ins.Imm()))
		}
		if !x {
			switch op {
			case isa.AluLsh, isa.AluRsh, isa.AluArsh:
				if wide {
					in.imm &= 63
				} else {
					in.imm &= 31
				}
			}
		}
		return in, nil
	case isa.ClassJMP, isa.ClassJMP32:
		op := code & 0xf0
		target := int32(slot + 1 + ins.JumpOffset())
		switch op {
		case isa.JmpJA:
			in.op, in.off = opJA, target
			return in, nil
		case isa.JmpExit:
			in.op = opExit
			return in, nil
		case isa.JmpCall:
			return c.call(in, ins, target, helperIndex)
		}
		base, ok := jumpBase[op]
		if !ok {
			return in, fmt.Errorf("%w: jump operation %#x", isa.ErrInvalidOpcode, op)
		}
		in.op = base
		if x {
			in.op++
		}
		if class == isa.ClassJMP32 {
			in.op += 2
			in.imm = uint64(uint32(ins.Imm()))
		}
		in.off = target
		return in, nil
	case isa.ClassLD:
		if ins.IsLDDW() {
			if ins.Src != isa.Register(isa.PseudoNone) {
				return in, fmt.Errorf("%w: lddw with src %d must be resolved by the loader", engine.ErrUnresolved, ins.Src)
			}
			in.op = opLDDW
			return in, nil
		}
		size := code & 0x18
		in.op = opLdAbsB
		switch size {
		case isa.SizeH:
			in.op = opLdAbsH
		case isa.SizeW:
			in.op = opLdAbsW
		}
		if code&0xe0 == isa.ModeIND {
			in.op += opLdIndB - opLdAbsB
		}
		return in, nil
	case isa.ClassLDX:
		in.imm = uint64(int64(ins.Offset))
		in.op = ldxOps[code&0x18]
		if code&0xe0 == isa.ModeMEMSX {
			in.op = ldxsOps[code&0x18]
		}
		if c.checked {
			in.op += opCheckedDelta
		}
		return in, nil
	case isa.ClassST:
		in.op = stOps[code&0x18]
		if c.checked {
			in.op += opCheckedDelta
		}
		return in, nil
	case isa.ClassSTX:
		in.imm = uint64(int64(ins.Offset))
		in.off = ins.Imm() // the atomic operation
		if code&0xe0 == isa.ModeATOMIC {
			in.op = opAtomic64
			if code&0x18 == isa.SizeW {
				in.op = opAtomic32
			}
			return in, nil
		}
		in.op = stxOps[code&0x18]
		if c.checked {
			in.op += opCheckedDelta
		}
		return in, nil
	}
	return in, fmt.Errorf("%w: %#02x", isa.ErrInvalidOpcode, code)
}

func (c *Code) movsx(in inst, wide bool, bits int16) inst {
	switch {
	case wide && bits == 8:
		in.op = opMovSX8to64
	case wide && bits == 16:
		in.op = opMovSX16to64
	case wide:
		in.op = opMovSX32to64
	case bits == 8:
		in.op = opMovSX8to32
	default:
		in.op = opMovSX16to32
	}
	return in
}

func (c *Code) byteSwap(in inst, wide, toBE bool, width int32) inst {
	switch {
	case wide || toBE: // bswap is unconditional; to-big-endian swaps on a little-endian host
		switch width {
		case 16:
			in.op = opSwap16
		case 32:
			in.op = opSwap32
		default:
			in.op = opSwap64
		}
	default: // to little endian on a little-endian host: truncate
		switch width {
		case 16:
			in.op = opZext16
		case 32:
			in.op = opZext32
		default:
			in.op = opNop
		}
	}
	return in
}

func (c *Code) call(in inst, ins isa.Instruction, target int32, helperIndex map[int32]uint64) (inst, error) {
	if ins.OpCode == isa.OpCallX {
		in.op = opCallX
		return in, nil
	}
	switch uint8(ins.Src) {
	case isa.CallLocal:
		in.op, in.off = opCallLocal, target
		return in, nil
	case isa.CallHelper:
		id := ins.Imm()
		fn, ok := c.byID[id]
		if !ok || fn == nil {
			return in, fmt.Errorf("%w: helper %d", engine.ErrUnknownHelper, id)
		}
		idx, ok := helperIndex[id]
		if !ok {
			idx = uint64(len(c.helpers))
			helperIndex[id] = idx
			c.helpers = append(c.helpers, fn)
		}
		in.op, in.imm = opCall, idx
		return in, nil
	}
	return in, fmt.Errorf("%w: kfunc call (BTF id %d)", engine.ErrUnknownHelper, ins.Imm())
}

var jumpBase = map[uint8]uint8{
	isa.JmpJEQ: opJEQ64K, isa.JmpJGT: opJGT64K, isa.JmpJGE: opJGE64K, isa.JmpJSET: opJSET64K,
	isa.JmpJNE: opJNE64K, isa.JmpJSGT: opJSGT64K, isa.JmpJSGE: opJSGE64K, isa.JmpJLT: opJLT64K,
	isa.JmpJLE: opJLE64K, isa.JmpJSLT: opJSLT64K, isa.JmpJSLE: opJSLE64K,
}

var (
	ldxOps  = map[uint8]uint8{isa.SizeB: opLdxB, isa.SizeH: opLdxH, isa.SizeW: opLdxW, isa.SizeDW: opLdxDW}
	ldxsOps = map[uint8]uint8{isa.SizeB: opLdxSB, isa.SizeH: opLdxSH, isa.SizeW: opLdxSW}
	stOps   = map[uint8]uint8{isa.SizeB: opStB, isa.SizeH: opStH, isa.SizeW: opStW, isa.SizeDW: opStDW}
	stxOps  = map[uint8]uint8{isa.SizeB: opStxB, isa.SizeH: opStxH, isa.SizeW: opStxW, isa.SizeDW: opStxDW}
)

// swap helpers used by the run loop.
func swap16(v uint64) uint64 { return uint64(bits.ReverseBytes16(uint16(v))) }
func swap32(v uint64) uint64 { return uint64(bits.ReverseBytes32(uint32(v))) }
