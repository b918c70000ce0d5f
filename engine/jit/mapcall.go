//go:build amd64 && linux

package jit

import (
	"math"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/isa"
)

// Helper ids the compiler specialises (Linux numbering).
const (
	helperMapLookup = 1
	helperTailCall  = 12
)

// specialised emits a helper call specialised on a map known at compile time, and
// reports whether it did. Only unchecked code (verified programs) is specialised: the
// specialised sequences do not check their pointer arguments.
func (c *compiler) specialised(id int32, slot int) bool {
	if c.checked || c.maps == nil {
		return false
	}
	switch id {
	case helperMapLookup:
		handle, ok := c.constantAt(1, c.bySlot[slot])
		if !ok {
			return false
		}
		info, ok := c.maps(handle)
		if !ok {
			return false
		}
		if info.ArrayLen > 0 && info.ArrayStride > 0 && info.ArrayStride <= math.MaxInt32 {
			c.inlineArrayLookup(info)
			return true
		}
		if info.Lookup != nil {
			// The map's own lookup: no search for the map by its handle.
			c.helpers = append(c.helpers, info.Lookup)
			c.exitToGo(exitHelper, len(c.helpers)-1)
			return true
		}
	}
	return false
}

// inlineArrayLookup emits bpf_map_lookup_elem on an array map: r0 = base + key*stride
// when the 4-byte key at r2 is below the map's length, else 0.
func (c *compiler) inlineArrayLookup(info engine.MapInfo) {
	a := &c.a
	miss, done := a.newLabel(), a.newLabel()
	a.load(s32, r11, at(regMap[2], 0))
	a.aluRI(s32, aluCmp, r11, int32(info.ArrayLen))
	a.jcc(ccAE, miss)
	switch st := info.ArrayStride; {
	case st&(st-1) == 0:
		if n := log2(st); n > 0 {
			a.shiftRI(s64, shShl, r11, n)
		}
	default:
		a.imulRI(s64, r11, int32(st))
	}
	a.movRI(rax, uint64(info.ArrayBase))
	a.aluRR(s64, aluAdd, rax, r11)
	a.jmp(done)
	a.bind(miss)
	a.aluRR(s32, aluXor, rax, rax)
	a.bind(done)
}

func log2(v uint32) uint8 {
	n := uint8(0)
	for v > 1 {
		v >>= 1
		n++
	}
	return n
}

// constantAt returns the value register reg holds before instruction i when a 64-bit
// constant load sets it earlier in the same straight-line code (no jump lands between,
// nothing else writes it).
func (c *compiler) constantAt(reg isa.Register, i int) (uint64, bool) {
	if c.targets == nil {
		c.targets = jumpTargets(c.insns, c.offs, len(c.bySlot)-1)
	}
	for j := i - 1; j >= 0; j-- {
		ins := c.insns[j]
		if c.targets[c.offs[j+1]] {
			return 0, false // a jump lands between j and i
		}
		switch ins.Class() {
		case isa.ClassJMP, isa.ClassJMP32:
			return 0, false
		case isa.ClassLD:
			if !ins.IsLDDW() {
				return 0, false // legacy packet loads clobber r1..r5
			}
			if ins.Dst == reg {
				return uint64(ins.Constant), ins.Src == isa.Register(isa.PseudoNone)
			}
		case isa.ClassALU, isa.ClassALU64, isa.ClassLDX:
			if ins.Dst == reg {
				return 0, false
			}
		case isa.ClassSTX:
			if ins.OpCode&0xe0 == isa.ModeATOMIC && (ins.Src == reg || reg == 0) {
				return 0, false
			}
		}
	}
	return 0, false
}
