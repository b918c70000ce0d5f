//go:build amd64 && linux

package jit

import (
	"math/bits"

	"github.com/anybpf/anybpf/engine"
)

// Checked mode. Every load, store and atomic computes its address into r11 and compares
// it with the stack and with a hot region (the Env's first region, as the interpreter
// does) inline; any other address exits to Go, which checks it against every region of
// the Env and either faults or enters native code again to perform the access.

// checkedAddress emits the address computation and check of an access of size bytes at
// [base+off] by the instruction at slot, and returns the operand to access. Without
// checking it returns [base+off] and emits nothing.
func (c *compiler) checkedAddress(slot, base int, off int16, size int, write, atomic bool) mem {
	if !c.checked {
		return at(base, int32(off))
	}
	a := &c.a
	ok, slow := a.newLabel(), a.newLabel()
	a.lea(r11, at(base, int32(off)))
	if atomic {
		a.testRI(s32, r11, int32(size-1))
		a.jcc(ccNE, slow)
	}
	a.movRR(s64, r10, r11)
	a.aluRM(s64, aluSub, r10, at(r9, offStackBase))
	a.aluRI(s64, aluCmp, r10, int32(engine.StackSize-size))
	a.jcc(ccBE, ok)
	hotBase, hotLim := offHotBase, offHotLim
	if write {
		hotBase, hotLim = offHotWBase, offHotWLim
	}
	a.movRR(s64, r10, r11)
	a.aluRM(s64, aluSub, r10, at(r9, hotBase))
	a.aluRM(s64, aluCmp, r10, at(r9, hotLim+int32(8*bits.TrailingZeros(uint(size)))))
	a.jcc(ccBE, ok)
	a.bind(slow)
	a.store(s64, at(r9, offTmp), r11)
	c.aux = append(c.aux, aux{slot: slot, size: size, write: write, atomic: atomic, pending: slot + 1 - c.blockStart})
	c.exitToGo(exitCheck, len(c.aux)-1)
	a.load(s64, r11, at(r9, offTmp))
	a.bind(ok)
	return at(r11, 0)
}

// setRegions fills in the context's view of the Env's memory for checked mode.
func (cx *context) setRegions(env *engine.Env, stackBase uint64) {
	cx.stackBase = stackBase
	cx.hotBase, cx.hotWBase = stackBase, stackBase
	hot, hotW := uint64(engine.StackSize), uint64(engine.StackSize)
	if rs := env.Regions(); len(rs) > 0 && rs[0].Size >= 8 {
		cx.hotBase, hot = uint64(rs[0].Addr), uint64(rs[0].Size)
		if rs[0].Writable {
			cx.hotWBase, hotW = cx.hotBase, hot
		}
	}
	for i := range cx.hotLim {
		cx.hotLim[i] = hot - 1<<i
		cx.hotWLim[i] = hotW - 1<<i
	}
}
