//go:build amd64 && linux

package jit

import "github.com/anybpf/anybpf/isa"

// Instruction counting, for programs compiled with a budget. It counts exactly what the
// interpreter counts (slots executed) and checks the budget where the interpreter does:
// on taken jumps, bpf-to-bpf calls and returns.
//
// The compiler keeps blockStart, the first slot not yet counted on the current path. A
// count is emitted before every instruction that may transfer control and before every
// jump target that code falls into.

// jumpTargets marks the slots that jumps, local calls and function references land on.
func jumpTargets(insns []isa.Instruction, offs []int, total int) []bool {
	t := make([]bool, total+1)
	for i, ins := range insns {
		switch {
		case ins.IsJump() || ins.IsLocalCall():
			t[offs[i]+1+ins.JumpOffset()] = true
		case ins.IsLDDW() && ins.Src == isa.Register(isa.PseudoFunc):
			t[offs[i]+1+int(ins.Imm())] = true
		}
	}
	return t
}

// countTo emits code that counts the slots from blockStart up to (not including) end.
func (c *compiler) countTo(end int) {
	if !c.counting {
		return
	}
	if n := end - c.blockStart; n > 0 {
		c.a.aluMI(aluAdd, at(r9, offExecuted), int32(n))
	}
	c.blockStart = end
}

// checkBudget emits code that returns to Go with exitBudget at slot when the count is
// over ctx.budget. With slot < 0, ctx.arg already holds the slot. Go either ends the run
// or, when ctx.budget was only a point to yield at, enters native code again after the
// check.
func (c *compiler) checkBudget(slot int) {
	if !c.counting {
		return
	}
	a := &c.a
	ok := a.newLabel()
	a.load(s64, r11, at(r9, offExecuted))
	a.aluRM(s64, aluCmp, r11, at(r9, offBudget))
	a.jcc(ccBE, ok)
	a.storeImm(s64, at(r9, offExit), exitBudget)
	if slot >= 0 {
		a.storeImm(s64, at(r9, offArg), int32(slot))
	}
	a.leaLabel(r11, ok)
	a.store(s64, at(r9, offResume), r11)
	a.jmp(c.saveRet)
	a.bind(ok)
}

// takenJump is an out-of-line budget check on the taken side of a conditional jump.
type takenJump struct {
	label, slot, target int
}

// jumpTo returns the label a conditional jump at slot should go to: the target, or with
// a budget a stub that checks it first.
func (c *compiler) jumpTo(slot, target int) int {
	if !c.counting {
		return c.slotLabel(target)
	}
	l := c.a.newLabel()
	c.taken = append(c.taken, takenJump{label: l, slot: slot, target: target})
	return l
}

// takenStubs emits the stubs jumpTo asked for.
func (c *compiler) takenStubs() {
	for _, t := range c.taken {
		c.a.bind(t.label)
		c.checkBudget(t.slot)
		c.a.jmp(c.slotLabel(t.target))
	}
}
