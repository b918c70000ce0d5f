//go:build amd64 && linux

package jit

import (
	"math"
	"unsafe"

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
	case helperTailCall:
		if c.tails == nil || c.counting {
			return false
		}
		handle, ok := c.constantAt(2, c.bySlot[slot])
		if !ok {
			return false
		}
		info, ok := c.maps(handle)
		if !ok || info.ProgLen == 0 {
			return false
		}
		c.nativeTailCall(info)
		return true
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

// maxTailCalls is the number of tail calls one run may take, as in Linux
// (MAX_TAIL_CALL_CNT) and the runtime's bpf_tail_call.
const maxTailCalls = 33

// nativeTailCall emits bpf_tail_call through a program array known at compile time: when
// the index in r3 is in range, the slot holds a program of the tail table with this
// program's class and fewer than maxTailCalls tail calls were taken, it jumps to that
// program's native entry with r1 kept, a fresh stack and no call frames; otherwise it
// sets r0 to -ENOENT and goes on, as the helper does.
func (c *compiler) nativeTailCall(info engine.MapInfo) {
	a := &c.a
	fail := a.newLabel()
	idx := regMap[3]
	a.movRI(r11, uint64(info.ProgLen))
	a.aluRR(s64, aluCmp, idx, r11)
	a.jcc(ccAE, fail)
	a.load(s64, r10, at(r9, offTails))
	a.aluRI(s64, aluCmp, r10, maxTailCalls)
	a.jcc(ccAE, fail)
	a.movRI(r11, uint64(info.ProgIDs))
	a.load(s32, r11, mem{base: r11, index: idx, scale: 4}) // the program id
	a.movRI(r10, uint64(uintptr(unsafe.Pointer(&c.tails.cur))))
	a.load(s64, r10, at(r10, 0))          // *tailEntries
	a.aluRM(s64, aluCmp, r11, at(r10, 8)) // id < len(e)
	a.jcc(ccAE, fail)
	a.load(s64, r10, at(r10, 0))
	a.shiftRI(s64, shShl, r11, tailEntrySizeLog)
	a.aluRR(s64, aluAdd, r10, r11) // &e[id]
	a.aluMI(aluCmp, at(r10, offTailClass), int32(c.tailClass))
	a.jcc(ccNE, fail) // an empty entry has class 0, never a program's
	a.aluMI(aluAdd, at(r9, offTails), 1)
	a.store(s64, at(r9, offTailed), r10)
	a.load(s64, regMap[10], at(r9, offStackTop))
	a.storeImm(s64, at(r9, offDepth), 0)
	a.jmpMem(at(r10, 0))
	a.bind(fail)
	a.movRI(rax, ^uint64(1)) // -ENOENT
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
