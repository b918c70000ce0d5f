// Package interval is the numeric domain of the verifier: sound bounds on the value of a 64-bit
// eBPF register or stack slot, kept in several views at once.
//
// A Value tracks, like the Linux verifier does for scalars, the signed and unsigned 64-bit range
// of the register, the signed and unsigned range of its low 32 bits (the 32-bit subregister that
// ALU and JMP32 instructions use) and its known bits. A Value stands for the set of 64-bit numbers
// that lie in every view; after each operation the views are reduced against one another (a
// bound in one order tightens the other, the 32-bit ranges tighten the 64-bit ones and the other
// way round, the ranges give known bits and known bits bound the ranges), never losing a value.
//
// Transfer functions follow the eBPF semantics of RFC 9669 exactly, including wrap-around,
// division and modulo by zero, the shift masks and the zero extension of 32-bit results. Where a
// precise answer would be costly they give a coarser but still sound one; the full range of the
// width is always a correct answer.
package interval

import "math"

// Value is the abstract value of a 64-bit register: a set of 64-bit numbers described by a signed
// and an unsigned 64-bit range, a signed and an unsigned range of the low 32 bits, and a set of
// known bits. A Value may be bottom (no number: the code that holds it is unreachable).
//
// The zero Value is the constant 0. Values are small and are passed and compared by value; two
// Values that describe the same set may still differ field by field.
type Value struct {
	empty          bool
	smin, smax     int64
	umin, umax     uint64
	s32min, s32max int32
	u32min, u32max uint32
	t              tnum
}

// Top is the Value of every 64-bit number: an unknown scalar.
func Top() Value {
	return Value{
		smin: math.MinInt64, smax: math.MaxInt64, umax: math.MaxUint64,
		s32min: math.MinInt32, s32max: math.MaxInt32, u32max: math.MaxUint32,
		t: tnumUnknown,
	}
}

// Bottom is the Value of no number, the value of unreachable code.
func Bottom() Value { return Value{empty: true} }

// Const is the Value of the single number x.
func Const(x uint64) Value {
	return Value{
		smin: int64(x), smax: int64(x), umin: x, umax: x,
		s32min: int32(x), s32max: int32(x), u32min: uint32(x), u32max: uint32(x),
		t: tconst(x),
	}
}

// Imm is the Value of a 32-bit instruction immediate sign-extended to 64 bits, as ALU64 and JMP
// instructions read it. Its low 32 bits are the immediate itself, as ALU and JMP32 read it.
func Imm(imm int32) Value { return Const(uint64(int64(imm))) }

// SignedRange is the Value of the numbers whose signed 64-bit value lies in [lo, hi]; bottom when
// lo > hi.
func SignedRange(lo, hi int64) Value {
	if lo > hi {
		return Bottom()
	}
	v := Top()
	v.smin, v.smax = lo, hi
	return v.normalize()
}

// UnsignedRange is the Value of the numbers whose unsigned 64-bit value lies in [lo, hi]; bottom
// when lo > hi.
func UnsignedRange(lo, hi uint64) Value {
	if lo > hi {
		return Bottom()
	}
	v := Top()
	v.umin, v.umax = lo, hi
	return v.normalize()
}

// Bits is the Value of the numbers x with x&^mask == value&^mask: the bits set in mask are
// unknown, the others are those of value.
func Bits(value, mask uint64) Value {
	v := Top()
	v.t = tnum{value &^ mask, mask}
	return v.normalize()
}

// IsBottom reports whether v holds no number.
func (v Value) IsBottom() bool { return v.empty }

// IsTop reports whether v may be any 64-bit number.
func (v Value) IsTop() bool {
	return !v.empty && v.umin == 0 && v.umax == math.MaxUint64 &&
		v.smin == math.MinInt64 && v.smax == math.MaxInt64 &&
		v.u32min == 0 && v.u32max == math.MaxUint32 &&
		v.s32min == math.MinInt32 && v.s32max == math.MaxInt32 && v.t == tnumUnknown
}

// Const returns the number v holds when it holds exactly one.
func (v Value) Const() (uint64, bool) {
	if v.empty {
		return 0, false
	}
	if v.umin == v.umax {
		return v.umin, true
	}
	if v.t.isConst() {
		return v.t.v, true
	}
	return 0, false
}

// Contains reports whether the number x lies in every view of v.
func (v Value) Contains(x uint64) bool {
	return !v.empty &&
		v.umin <= x && x <= v.umax &&
		v.smin <= int64(x) && int64(x) <= v.smax &&
		v.u32min <= uint32(x) && uint32(x) <= v.u32max &&
		v.s32min <= int32(x) && int32(x) <= v.s32max &&
		v.t.contains(x)
}

// SMin is the lower bound of v read as a signed 64-bit number.
func (v Value) SMin() int64 { return v.smin }

// SMax is the upper bound of v read as a signed 64-bit number.
func (v Value) SMax() int64 { return v.smax }

// UMin is the lower bound of v read as an unsigned 64-bit number.
func (v Value) UMin() uint64 { return v.umin }

// UMax is the upper bound of v read as an unsigned 64-bit number.
func (v Value) UMax() uint64 { return v.umax }

// S32Min is the lower bound of the low 32 bits of v read as a signed number.
func (v Value) S32Min() int32 { return v.s32min }

// S32Max is the upper bound of the low 32 bits of v read as a signed number.
func (v Value) S32Max() int32 { return v.s32max }

// U32Min is the lower bound of the low 32 bits of v read as an unsigned number.
func (v Value) U32Min() uint32 { return v.u32min }

// U32Max is the upper bound of the low 32 bits of v read as an unsigned number.
func (v Value) U32Max() uint32 { return v.u32max }

// Known returns the known bits of v: every number of v agrees with value on the bits clear in
// mask. For alignment checks, the low n bits of v are known when mask&(1<<n-1) == 0.
func (v Value) Known() (value, mask uint64) { return v.t.v, v.t.m }

// h64 is the 64-bit view of v.
func (v Value) h64() half {
	return half{w: 64, smin: v.smin, smax: v.smax, umin: v.umin, umax: v.umax, t: v.t}
}

// h32 is the view of the low 32 bits of v.
func (v Value) h32() half {
	return half{
		w:    32,
		smin: int64(v.s32min), smax: int64(v.s32max),
		umin: uint64(v.u32min), umax: uint64(v.u32max),
		t: v.t.trunc(32),
	}
}

// set64 replaces the 64-bit views of v with h.
func (v *Value) set64(h half) {
	v.smin, v.smax, v.umin, v.umax, v.t = h.smin, h.smax, h.umin, h.umax, h.t
}

// set32 replaces the 32-bit views of v and the low 32 known bits with h.
func (v *Value) set32(h half) {
	v.s32min, v.s32max = int32(h.smin), int32(h.smax)
	v.u32min, v.u32max = uint32(h.umin), uint32(h.umax)
	const hi = ^uint64(math.MaxUint32)
	v.t = tnum{v.t.v&hi | h.t.v&math.MaxUint32, v.t.m&hi | h.t.m&math.MaxUint32}
}

// from64 is the Value whose 64-bit views are h; the 32-bit views follow from them.
func from64(h half) Value {
	v := Top()
	v.set64(h)
	return v.normalize()
}

// fromBoth is the Value whose 64-bit views are h64 and whose 32-bit views are h32, when both
// bound the same result.
func fromBoth(h64, h32 half) Value {
	v := Top()
	v.set64(h64)
	l := v.h32()
	if !l.meet(h32) {
		return Bottom()
	}
	v.set32(l)
	return v.normalize()
}

// from32 is the Value of a 32-bit result h zero-extended to 64 bits, as every ALU (32-bit)
// instruction writes its destination.
func from32(h half) Value {
	v := Value{
		smin: int64(h.umin), smax: int64(h.umax), umin: h.umin, umax: h.umax,
		t: h.t.trunc(32),
	}
	v.set32(h)
	return v.normalize()
}

// meet64 intersects the 64-bit views of v with h.
func (v Value) meet64(h half) Value {
	g := v.h64()
	if !g.meet(h) {
		return Bottom()
	}
	v.set64(g)
	return v.normalize()
}

// meet32 intersects the 32-bit views of v with h.
func (v Value) meet32(h half) Value {
	g := v.h32()
	if !g.meet(h) {
		return Bottom()
	}
	v.set32(g)
	return v.normalize()
}

// normalize reduces the views of v against each other until nothing changes (or a few rounds
// have passed: each round is sound on its own, so stopping early only costs precision). It
// returns Bottom when some view becomes empty.
func (v Value) normalize() Value {
	if v.empty {
		return Bottom()
	}
	for range 8 {
		old := v
		if !v.reduce() {
			return Bottom()
		}
		if v == old {
			break
		}
	}
	return v
}

// reduce is one round of normalize; it reports false when v holds no number.
func (v *Value) reduce() bool {
	h := v.h64()
	if !h.sync() {
		return false
	}
	v.set64(h)

	// The 64-bit ranges give the low 32 bits when they span fewer than 2^32 values: the low
	// halves then run over an arc of the 32-bit circle.
	l := v.h32()
	if d := v.umax - v.umin; d < 1<<32 {
		l.meetArc(v.umin, d)
	}
	if d := uint64(v.smax) - uint64(v.smin); d < 1<<32 {
		l.meetArc(uint64(v.smin), d)
	}
	if !l.sync() {
		return false
	}
	v.set32(l)

	// The 32-bit unsigned range moves each 64-bit bound to the nearest number whose low half
	// lies in it. Within a block of 2^32 numbers sharing their upper half, both 64-bit orders
	// follow the order of the low half read unsigned.
	const low = math.MaxUint32
	lo32, hi32 := uint64(v.u32min), uint64(v.u32max)
	if x := v.umin & low; x < lo32 {
		v.umin = v.umin&^low | lo32
	} else if x > hi32 {
		if v.umin>>32 == math.MaxUint32 {
			return false
		}
		v.umin = (v.umin>>32+1)<<32 | lo32
	}
	if x := v.umax & low; x > hi32 {
		v.umax = v.umax&^low | hi32
	} else if x < lo32 {
		if v.umax>>32 == 0 {
			return false
		}
		v.umax = (v.umax>>32-1)<<32 | hi32
	}
	if x := uint64(v.smin) & low; x < lo32 {
		v.smin = int64(uint64(v.smin)&^low | lo32)
	} else if x > hi32 {
		if v.smin>>32 == math.MaxInt32 {
			return false
		}
		v.smin = int64(uint64(v.smin>>32+1)<<32 | lo32)
	}
	if x := uint64(v.smax) & low; x > hi32 {
		v.smax = int64(uint64(v.smax)&^low | hi32)
	} else if x < lo32 {
		if v.smax>>32 == math.MinInt32 {
			return false
		}
		v.smax = int64(uint64(v.smax>>32-1)<<32 | hi32)
	}
	return v.umin <= v.umax && v.smin <= v.smax
}
