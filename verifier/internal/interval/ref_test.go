package interval

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
)

// This file holds the concrete reference semantics of eBPF (RFC 9669) written out plainly, and
// the random generators of abstract values and of numbers inside them that the property tests
// and the fuzz target use.

// refALU64 is the ALU64 instruction op on the numbers x (dst) and y (src).
func refALU64(op Op, x, y uint64) uint64 {
	switch op {
	case Add:
		return x + y
	case Sub:
		return x - y
	case Mul:
		return x * y
	case Div:
		if y == 0 {
			return 0
		}
		return x / y
	case SDiv:
		if y == 0 {
			return 0
		}
		if int64(x) == math.MinInt64 && int64(y) == -1 {
			return x // the quotient 2^63 wraps to -2^63
		}
		return uint64(int64(x) / int64(y))
	case Mod:
		if y == 0 {
			return x
		}
		return x % y
	case SMod:
		if y == 0 {
			return x
		}
		if int64(y) == -1 {
			return 0
		}
		return uint64(int64(x) % int64(y))
	case Or:
		return x | y
	case And:
		return x & y
	case Xor:
		return x ^ y
	case Lsh:
		return x << (y & 63)
	case Rsh:
		return x >> (y & 63)
	case Arsh:
		return uint64(int64(x) >> (y & 63))
	case Neg:
		return -x
	case Mov:
		return y
	}
	panic("unknown op")
}

// refALU32 is the ALU (32-bit) instruction op: it works on the low halves and zero-extends.
func refALU32(op Op, x64, y64 uint64) uint64 {
	x, y := uint32(x64), uint32(y64)
	var r uint32
	switch op {
	case Add:
		r = x + y
	case Sub:
		r = x - y
	case Mul:
		r = x * y
	case Div:
		if y != 0 {
			r = x / y
		}
	case SDiv:
		switch {
		case y == 0:
			r = 0
		case int32(x) == math.MinInt32 && int32(y) == -1:
			r = x
		default:
			r = uint32(int32(x) / int32(y))
		}
	case Mod:
		r = x
		if y != 0 {
			r = x % y
		}
	case SMod:
		switch {
		case y == 0:
			r = x
		case int32(y) == -1:
			r = 0
		default:
			r = uint32(int32(x) % int32(y))
		}
	case Or:
		r = x | y
	case And:
		r = x & y
	case Xor:
		r = x ^ y
	case Lsh:
		r = x << (y & 31)
	case Rsh:
		r = x >> (y & 31)
	case Arsh:
		r = uint32(int32(x) >> (y & 31))
	case Neg:
		r = -x
	case Mov:
		r = y
	default:
		panic("unknown op")
	}
	return uint64(r)
}

// refALU dispatches on the width.
func refALU(op Op, alu64 bool, x, y uint64) uint64 {
	if alu64 {
		return refALU64(op, x, y)
	}
	return refALU32(op, x, y)
}

// alu dispatches the abstract operation on the width.
func alu(op Op, alu64 bool, a, b Value) Value {
	if alu64 {
		return ALU64(op, a, b)
	}
	return ALU32(op, a, b)
}

// refCond is the jump condition c on x and y, on 64 bits or on the low 32.
func refCond(c Cond, jmp32 bool, x, y uint64) bool {
	if jmp32 {
		x, y = uint64(uint32(x)), uint64(uint32(y))
	}
	sx, sy := int64(x), int64(y)
	if jmp32 {
		sx, sy = int64(int32(x)), int64(int32(y))
	}
	switch c {
	case JEQ:
		return x == y
	case JNE:
		return x != y
	case JGT:
		return x > y
	case JGE:
		return x >= y
	case JLT:
		return x < y
	case JLE:
		return x <= y
	case JSGT:
		return sx > sy
	case JSGE:
		return sx >= sy
	case JSLT:
		return sx < sy
	case JSLE:
		return sx <= sy
	case JSET:
		return x&y != 0
	}
	panic("unknown cond")
}

// Unary operations on one register, by name, with their reference semantics.
type unary struct {
	name string
	abs  func(Value) Value
	ref  func(uint64) uint64
}

var unaries = []unary{
	{"trunc8", func(v Value) Value { return v.Trunc(8) }, func(x uint64) uint64 { return uint64(uint8(x)) }},
	{"trunc16", func(v Value) Value { return v.Trunc(16) }, func(x uint64) uint64 { return uint64(uint16(x)) }},
	{"trunc32", func(v Value) Value { return v.Trunc(32) }, func(x uint64) uint64 { return uint64(uint32(x)) }},
	{"trunc64", func(v Value) Value { return v.Trunc(64) }, func(x uint64) uint64 { return x }},
	{"movsx8", func(v Value) Value { return v.SignExtend(8) }, func(x uint64) uint64 { return uint64(int64(int8(x))) }},
	{"movsx16", func(v Value) Value { return v.SignExtend(16) }, func(x uint64) uint64 { return uint64(int64(int16(x))) }},
	{"movsx32", func(v Value) Value { return v.SignExtend(32) }, func(x uint64) uint64 { return uint64(int64(int32(x))) }},
	{"movsx32_8", func(v Value) Value { return v.SignExtend(8).Trunc(32) }, func(x uint64) uint64 { return uint64(uint32(int32(int8(x)))) }},
	{"movsx32_16", func(v Value) Value { return v.SignExtend(16).Trunc(32) }, func(x uint64) uint64 { return uint64(uint32(int32(int16(x)))) }},
	{"bswap16", func(v Value) Value { return v.Bswap(16) }, func(x uint64) uint64 { return uint64(bits.ReverseBytes16(uint16(x))) }},
	{"bswap32", func(v Value) Value { return v.Bswap(32) }, func(x uint64) uint64 { return uint64(bits.ReverseBytes32(uint32(x))) }},
	{"bswap64", func(v Value) Value { return v.Bswap(64) }, bits.ReverseBytes64},
	{"le16", func(v Value) Value { return v.End(16, false) }, func(x uint64) uint64 { return uint64(uint16(x)) }},
	{"le32", func(v Value) Value { return v.End(32, false) }, func(x uint64) uint64 { return uint64(uint32(x)) }},
	{"le64", func(v Value) Value { return v.End(64, false) }, func(x uint64) uint64 { return x }},
	{"be16", func(v Value) Value { return v.End(16, true) }, func(x uint64) uint64 { return uint64(bits.ReverseBytes16(uint16(x))) }},
	{"be32", func(v Value) Value { return v.End(32, true) }, func(x uint64) uint64 { return uint64(bits.ReverseBytes32(uint32(x))) }},
	{"be64", func(v Value) Value { return v.End(64, true) }, bits.ReverseBytes64},
}

// edges are the numbers where bugs live.
var edges = []uint64{
	0, 1, 2, 3, 7, 8, 31, 32, 63, 64, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000,
	math.MaxInt32, 1 << 31, math.MaxUint32, 1 << 32, 1<<32 + 1, math.MaxInt64, 1 << 63, 1<<63 + 1,
	math.MaxUint64, math.MaxUint64 - 1, uint64(math.MaxUint64 - 0x7f), 0xffffffff80000000,
	0xffffffff7fffffff, 0xffff_ffff_0000_0000, 0x1_0000_0000_0000,
}

// randNum draws a number, favouring edges, small numbers and their neighbours.
func randNum(r *rand.Rand) uint64 {
	switch r.IntN(8) {
	case 0, 1:
		return edges[r.IntN(len(edges))]
	case 2:
		return edges[r.IntN(len(edges))] + uint64(r.IntN(5)) - 2
	case 3:
		return uint64(r.IntN(300))
	case 4:
		return uint64(-int64(r.IntN(300)))
	case 5:
		return uint64(r.Uint32())
	case 6:
		return 1<<r.IntN(64) + uint64(r.IntN(3)) - 1
	}
	return r.Uint64()
}

// randMask draws a mask of unknown bits.
func randMask(r *rand.Rand) uint64 {
	switch r.IntN(5) {
	case 0:
		return lowMask(uint(r.IntN(65)))
	case 1:
		return r.Uint64() & r.Uint64() & r.Uint64()
	case 2:
		return lowMask(uint(r.IntN(65))) &^ lowMask(uint(r.IntN(8)))
	case 3:
		return ^lowMask(uint(r.IntN(65)))
	}
	return r.Uint64()
}

// randValue draws an abstract value of one of many shapes; it may be bottom.
func randValue(r *rand.Rand, depth int) Value {
	a, b := randNum(r), randNum(r)
	switch r.IntN(13) {
	case 0:
		return Const(a)
	case 1:
		return UnsignedRange(min(a, b), max(a, b))
	case 2:
		return SignedRange(min(int64(a), int64(b)), max(int64(a), int64(b)))
	case 3:
		d := uint64(r.IntN(600))
		if a+d < a {
			return UnsignedRange(a, math.MaxUint64)
		}
		return UnsignedRange(a, a+d)
	case 4:
		d := int64(r.IntN(600))
		if int64(a) > math.MaxInt64-d {
			return SignedRange(int64(a), math.MaxInt64)
		}
		return SignedRange(int64(a)-int64(r.IntN(3)), int64(a)+d)
	case 5:
		return Bits(a, randMask(r))
	case 6:
		x, y := uint64(uint32(a)), uint64(uint32(b))
		return UnsignedRange(min(x, y), max(x, y))
	case 7:
		// Only the 32-bit views known.
		v := Top()
		x, y := int32(a), int32(b)
		v.s32min, v.s32max = min(x, y), max(x, y)
		if r.IntN(2) == 0 {
			v = Top()
			v.u32min, v.u32max = min(uint32(a), uint32(b)), max(uint32(a), uint32(b))
		}
		return v.normalize()
	case 8:
		return Top()
	}
	if depth <= 0 {
		return Const(a)
	}
	x, y := randValue(r, depth-1), randValue(r, depth-1)
	switch r.IntN(6) {
	case 0:
		return Meet(x, y)
	case 1:
		return Join(x, y)
	case 2:
		return Widen(x, y) // not reduced between views
	case 3:
		return Narrow(x, y)
	case 4:
		return ALU64(Op(r.IntN(int(Mov)+1)), x, y)
	}
	return ALU32(Op(r.IntN(int(Mov)+1)), x, y)
}

// member draws a number inside v; ok is false when it found none.
func member(r *rand.Rand, v Value) (x uint64, ok bool) {
	if v.empty {
		return 0, false
	}
	for range 64 {
		switch r.IntN(9) {
		case 0:
			x = v.umin
		case 1:
			x = v.umax
		case 2:
			x = uint64(v.smin)
		case 3:
			x = uint64(v.smax)
		case 4:
			x = v.t.v | r.Uint64()&v.t.m
		case 5:
			x = v.umin + randBelow(r, v.umax-v.umin)
		case 6:
			x = uint64(v.smin) + randBelow(r, uint64(v.smax)-uint64(v.smin))
		case 7:
			x = v.umin&^math.MaxUint32 | uint64(v.u32min) + randBelow(r, uint64(v.u32max-v.u32min))
		default:
			x = v.umin + uint64(r.IntN(4)) - uint64(r.IntN(4))
		}
		if r.IntN(4) == 0 {
			// Nudge toward the known bits.
			x = x&^v.t.m&^v.t.v | v.t.v | x&v.t.m
		}
		if v.Contains(x) {
			return x, true
		}
	}
	return 0, false
}

// randBelow is uniform in [0, n] (n may be 2^64-1), favouring the ends.
func randBelow(r *rand.Rand, n uint64) uint64 {
	switch r.IntN(6) {
	case 0:
		return 0
	case 1:
		return n
	}
	if n == math.MaxUint64 {
		return r.Uint64()
	}
	return r.Uint64N(n + 1)
}

// checkWellFormed fails when v breaks an invariant every Value built by the package keeps.
func checkWellFormed(t testing.TB, what string, v Value) {
	t.Helper()
	if v.empty {
		if v != Bottom() {
			t.Fatalf("%s: bottom with fields set: %#v", what, v)
		}
		return
	}
	if v.umin > v.umax || v.smin > v.smax || v.u32min > v.u32max || v.s32min > v.s32max || v.t.v&v.t.m != 0 {
		t.Fatalf("%s: malformed %#v", what, v)
	}
}

// dump describes v with all its fields for failure messages.
func dump(v Value) string {
	if v.empty {
		return "bottom"
	}
	return fmt.Sprintf("%v {s[%d,%d] u[%#x,%#x] s32[%d,%d] u32[%#x,%#x] t=(%#x;%#x)}", v,
		v.smin, v.smax, v.umin, v.umax, v.s32min, v.s32max, v.u32min, v.u32max, v.t.v, v.t.m)
}

// seed varies the random cases: INTERVAL_SEED=n go test picks another fixed set (the default is
// 0, so that plain runs are repeatable).
func seed() uint64 {
	n, _ := strconv.ParseUint(os.Getenv("INTERVAL_SEED"), 10, 64)
	return n
}

// samples is the number of random cases per property: 1e5, or 5e3 with -short.
func samples() int {
	if testing.Short() {
		return 5000
	}
	return 100000
}
