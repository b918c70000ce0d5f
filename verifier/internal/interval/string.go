package interval

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// String describes v briefly: "bottom", "top", a constant such as "42" or "-1", a range such as
// "[0, 255]" when the signed and unsigned ranges are the same numbers, else both, as in
// "s[-5, 7] u[0, 2^64-1]". The 32-bit ranges ("w[...]" when they agree, else "s32[...]" and
// "u32[...]" where not full) follow when they say more than the 64-bit ranges and the known bits
// imply, and the known bits ("bits=(value; mask)") when they say more than the ranges; a value known only in its low 32 bits shows just those.
func (v Value) String() string {
	if v.empty {
		return "bottom"
	}
	if c, ok := v.Const(); ok {
		return fmtS(int64(c))
	}
	if v.IsTop() {
		return "top"
	}
	var parts []string
	switch {
	case (v.smin >= 0 || v.smax < 0) && uint64(v.smin) == v.umin && uint64(v.smax) == v.umax:
		parts = append(parts, fmt.Sprintf("[%s, %s]", fmtS(v.smin), fmtS(v.smax)))
	case v.smin != math.MinInt64 || v.smax != math.MaxInt64 || v.umin != 0 || v.umax != math.MaxUint64:
		parts = append(parts, fmt.Sprintf("s[%s, %s] u[%s, %s]", fmtS(v.smin), fmtS(v.smax), fmtU(v.umin), fmtU(v.umax)))
	}
	// What the 64-bit ranges and the known bits imply.
	implied := Top()
	implied.smin, implied.smax, implied.umin, implied.umax, implied.t = v.smin, v.smax, v.umin, v.umax, v.t
	implied = implied.normalize()
	show32 := v.s32min != implied.s32min || v.s32max != implied.s32max ||
		v.u32min != implied.u32min || v.u32max != implied.u32max
	if show32 {
		switch {
		case (v.s32min >= 0 || v.s32max < 0) && uint32(v.s32min) == v.u32min && uint32(v.s32max) == v.u32max:
			parts = append(parts, fmt.Sprintf("w[%s, %s]", fmtS(int64(v.s32min)), fmtS(int64(v.s32max))))
		default:
			if v.s32min != math.MinInt32 || v.s32max != math.MaxInt32 {
				parts = append(parts, fmt.Sprintf("s32[%s, %s]", fmtS(int64(v.s32min)), fmtS(int64(v.s32max))))
			}
			if v.u32min != 0 || v.u32max != math.MaxUint32 {
				parts = append(parts, fmt.Sprintf("u32[%s, %s]", fmtU(uint64(v.u32min)), fmtU(uint64(v.u32max))))
			}
		}
	}
	// What the ranges shown imply.
	implied = v
	implied.t = tnumUnknown
	if !show32 {
		implied.s32min, implied.s32max, implied.u32min, implied.u32max = math.MinInt32, math.MaxInt32, 0, math.MaxUint32
	}
	implied = implied.normalize()
	if !implied.empty && v.t != implied.t {
		parts = append(parts, fmt.Sprintf("bits=(%s; %s)", hex(v.t.v), hex(v.t.m)))
	}
	return strings.Join(parts, " ")
}

// hex writes x in hexadecimal, 0 as "0".
func hex(x uint64) string {
	if x == 0 {
		return "0"
	}
	return "0x" + strconv.FormatUint(x, 16)
}

// fmtU writes x in decimal, naming the usual powers of two and using hex above 2^32.
func fmtU(x uint64) string {
	switch x {
	case math.MaxUint64:
		return "2^64-1"
	case 1 << 63:
		return "2^63"
	case math.MaxInt64:
		return "2^63-1"
	case 1 << 32:
		return "2^32"
	case math.MaxUint32:
		return "2^32-1"
	case 1 << 31:
		return "2^31"
	case math.MaxInt32:
		return "2^31-1"
	}
	if x > 1<<32 {
		return hex(x)
	}
	return strconv.FormatUint(x, 10)
}

// fmtS writes x like fmtU, with a minus sign for negative numbers.
func fmtS(x int64) string {
	switch {
	case x == math.MinInt64:
		return "-2^63"
	case x == math.MinInt32:
		return "-2^31"
	case x < 0 && x > -1<<32:
		return strconv.FormatInt(x, 10)
	case x < 0:
		return "-0x" + strconv.FormatUint(-uint64(x), 16)
	}
	return fmtU(uint64(x))
}
