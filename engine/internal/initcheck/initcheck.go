// Package initcheck refuses programs that may read a register before writing it, the
// check every engine's checked mode makes, so that all engines refuse the same programs.
package initcheck

import (
	"fmt"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/isa"
)

// regSet is a set of registers, bit i for ri.
type regSet uint16

const (
	argRegs    regSet = 1<<1 | 1<<2 | 1<<3 | 1<<4 | 1<<5
	calleeRegs regSet = 1<<6 | 1<<7 | 1<<8 | 1<<9
	entryRegs         = argRegs | 1<<10
)

// Check rejects a program in which some path reads a register before writing
// it. Entry points see r1..r5 and r10; a helper call leaves r0 set and r1..r5 unknown; a
// bpf-to-bpf call additionally keeps r6..r9. It is a must-analysis: a register counts as
// written only if it is written on every path.
func Check(insns []isa.Instruction) error {
	_, bySlot := isa.SlotIndex(insns)
	total := len(bySlot) - 1
	const unvisited = regSet(0xffff)
	state := make([]regSet, total)
	for i := range state {
		state[i] = unvisited
	}
	work := []int{0}
	state[0] = entryRegs
	propagate := func(slot int, s regSet) {
		if slot < 0 || slot >= total || bySlot[slot] < 0 {
			return // isa.Validate already rejected such targets
		}
		merged := state[slot] & s
		if state[slot] == unvisited {
			merged = s
		}
		if merged != state[slot] {
			state[slot] = merged
			work = append(work, slot)
		}
	}
	for len(work) > 0 {
		slot := work[len(work)-1]
		work = work[:len(work)-1]
		ins := insns[bySlot[slot]]
		in := state[slot]
		reads, writes := regUse(ins)
		if missing := reads &^ in; missing != 0 {
			r := 0
			for missing&1 == 0 {
				missing >>= 1
				r++
			}
			return &engine.RuntimeError{PC: slot, Err: fmt.Errorf("%w: %s reads r%d", engine.ErrUninitialized, ins, r)}
		}
		out := in | writes
		next := slot + ins.Slots()
		switch {
		case ins.IsExit():
		case ins.IsLocalCall():
			propagate(slot+1+ins.JumpOffset(), entryRegs)
			propagate(next, in&^argRegs|1)
		case ins.OpCode == isa.OpCall || ins.OpCode == isa.OpCallX:
			propagate(next, in&^argRegs|1)
		case ins.Class() == isa.ClassLD && !ins.IsLDDW(): // legacy packet loads clobber r1..r5
			propagate(next, out&^argRegs|1)
		case ins.OpCode == isa.OpJA || ins.OpCode == isa.OpJA32:
			propagate(slot+1+ins.JumpOffset(), out)
		case ins.IsJump():
			propagate(slot+1+ins.JumpOffset(), out)
			propagate(next, out)
		default:
			propagate(next, out)
		}
	}
	return nil
}

// regUse returns the registers an instruction reads and writes.
func regUse(ins isa.Instruction) (reads, writes regSet) {
	dst, src := regSet(1)<<ins.Dst, regSet(1)<<ins.Src
	x := ins.OpCode&isa.SrcX != 0
	switch ins.Class() {
	case isa.ClassALU, isa.ClassALU64:
		op := ins.OpCode & 0xf0
		switch {
		case op == isa.AluMov && x:
			return src, dst
		case op == isa.AluMov:
			return 0, dst
		case op == isa.AluNeg || op == isa.AluEnd:
			return dst, dst
		case x:
			return dst | src, dst
		}
		return dst, dst
	case isa.ClassJMP, isa.ClassJMP32:
		op := ins.OpCode & 0xf0
		switch {
		case op == isa.JmpJA:
			return 0, 0
		case op == isa.JmpExit:
			return 1, 0
		case op == isa.JmpCall && x:
			return dst, 1
		case op == isa.JmpCall:
			return 0, 1
		case x:
			return dst | src, 0
		}
		return dst, 0
	case isa.ClassLD:
		if ins.IsLDDW() {
			return 0, dst
		}
		if ins.OpCode&0xe0 == isa.ModeIND {
			return src, 1
		}
		return 0, 1
	case isa.ClassLDX:
		return src, dst
	case isa.ClassST:
		return dst, 0
	case isa.ClassSTX:
		if ins.OpCode&0xe0 == isa.ModeATOMIC {
			switch {
			case ins.Imm() == isa.AtomicCmpXchg:
				return dst | src | 1, 1
			case ins.Imm()&isa.AtomicFetch != 0:
				return dst | src, src
			}
		}
		return dst | src, 0
	}
	return 0, 0
}
