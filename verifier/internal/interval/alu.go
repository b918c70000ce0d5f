package interval

import (
	"math"
	"math/bits"
)

// Op is an eBPF ALU operation with two operands (Neg and Mov use only one of them).
type Op uint8

// ALU operations. SDiv and SMod are the signed forms (offset 1) of div and mod.
const (
	Add  Op = iota // dst + src
	Sub            // dst - src
	Mul            // dst * src
	Div            // dst / src unsigned; x / 0 = 0
	SDiv           // dst / src signed, truncating; x / 0 = 0, MIN / -1 = MIN
	Mod            // dst % src unsigned; x % 0 = x
	SMod           // dst % src signed, sign of dst; x % 0 = x, MIN % -1 = 0
	Or             // dst | src
	And            // dst & src
	Xor            // dst ^ src
	Lsh            // dst << (src masked to the width)
	Rsh            // dst >> (src masked to the width), logical
	Arsh           // dst >> (src masked to the width), arithmetic
	Neg            // -dst (src is ignored)
	Mov            // src (dst is ignored)
)

var opNames = [...]string{"add", "sub", "mul", "div", "sdiv", "mod", "smod", "or", "and", "xor",
	"lsh", "rsh", "arsh", "neg", "mov"}

// String is the operation's name as in eBPF assembly ("add", "sdiv", ...).
func (op Op) String() string {
	if int(op) < len(opNames) {
		return opNames[op]
	}
	return "op?"
}

// ALU64 is the result of the ALU64 instruction op on registers holding dst and src: every
// number op can produce from a number of dst and a number of src. For an immediate operand pass
// Imm(imm). An unknown op gives Top; a bottom operand gives Bottom.
func ALU64(op Op, dst, src Value) Value {
	if dst.empty || src.empty {
		return Bottom()
	}
	switch op {
	case Mov:
		return src
	case Neg:
		// The low 32 bits of a negation, sum, difference, product or bitwise operation depend
		// only on the low 32 bits of the operands, so the 32-bit views of the operands give
		// a second bound on the 32-bit views of the result.
		return fromBoth(negH(dst.h64()), negH(dst.h32()))
	case Add, Sub, Mul, Or, And, Xor:
		f := binary[op]
		return fromBoth(f(dst.h64(), src.h64()), f(dst.h32(), src.h32()))
	case Div, SDiv, Mod, SMod:
		return from64(binary[op](dst.h64(), src.h64()))
	case Lsh, Rsh, Arsh:
		return from64(shiftH(op, dst.h64(), src, 64))
	}
	return Top()
}

// ALU32 is the result of the ALU (32-bit) instruction op on registers holding dst and src: the
// operation acts on the low 32 bits of both and the result is zero-extended to 64 bits. For an
// immediate operand pass Imm(imm). An unknown op gives Top; a bottom operand gives Bottom.
func ALU32(op Op, dst, src Value) Value {
	if dst.empty || src.empty {
		return Bottom()
	}
	switch op {
	case Mov:
		return from32(src.h32())
	case Neg:
		return from32(negH(dst.h32()))
	case Add, Sub, Mul, Or, And, Xor, Div, SDiv, Mod, SMod:
		return from32(binary[op](dst.h32(), src.h32()))
	case Lsh, Rsh, Arsh:
		return from32(shiftH(op, dst.h32(), src, 32))
	}
	return Top()
}

// binary holds the transfer functions of the two-operand operations on halves of equal width.
var binary = [...]func(a, b half) half{
	Add: addH, Sub: subH, Mul: mulH, Div: divH, SDiv: sdivH, Mod: modH, SMod: smodH,
	Or: orH, And: andH, Xor: xorH,
}

// span is the number of values of h after the first in each order: umax-umin and smax-smin, both
// as unsigned numbers.
func (h half) span() (u, s uint64) { return h.umax - h.umin, uint64(h.smax) - uint64(h.smin) }

// addH: a sum ranges over an arc starting at the sum of the lower bounds, as long as the two
// spans together stay under 2^w; this holds in either order.
func addH(a, b half) half {
	w := a.w
	r := topHalf(w)
	au, as := a.span()
	bu, bs := b.span()
	if s, c := bits.Add64(au, bu, 0); c == 0 {
		r.meetArc(a.umin+b.umin, s)
	}
	if s, c := bits.Add64(as, bs, 0); c == 0 {
		r.meetArc(uint64(a.smin)+uint64(b.smin), s)
	}
	r.t = a.t.add(b.t).trunc(w)
	return r
}

// subH: a difference ranges over an arc starting at a's lower bound minus b's upper bound.
func subH(a, b half) half {
	w := a.w
	r := topHalf(w)
	au, as := a.span()
	bu, bs := b.span()
	if s, c := bits.Add64(au, bu, 0); c == 0 {
		r.meetArc(a.umin-b.umax, s)
	}
	if s, c := bits.Add64(as, bs, 0); c == 0 {
		r.meetArc(uint64(a.smin)-uint64(b.smax), s)
	}
	r.t = a.t.sub(b.t).trunc(w)
	return r
}

// negH is 0 - a.
func negH(a half) half { return subH(constHalf(0, a.w), a) }

// mulS multiplies two signed w-bit numbers; ok is false when the product does not fit in w
// bits.
func mulS(x, y int64, w uint) (int64, bool) {
	hi, lo := bits.Mul64(absU(x), absU(y))
	if hi != 0 {
		return 0, false
	}
	var p int64
	if (x < 0) != (y < 0) {
		if lo > 1<<63 {
			return 0, false
		}
		p = int64(-lo) // -2^63 when lo is 2^63
	} else {
		if lo > math.MaxInt64 {
			return 0, false
		}
		p = int64(lo)
	}
	return p, p >= sminW(w) && p <= smaxW(w)
}

// absU is |x| as an unsigned number (|MinInt64| = 2^63).
func absU(x int64) uint64 {
	if x < 0 {
		return -uint64(x)
	}
	return uint64(x)
}

// mulH: products are exact when no corner overflows; unsigned multiplication is monotone, signed
// takes the extremes of the four corners.
func mulH(a, b half) half {
	w := a.w
	r := topHalf(w)
	if hi, lo := bits.Mul64(a.umax, b.umax); hi == 0 && lo <= umaxW(w) {
		r.meetU(a.umin*b.umin, lo)
	}
	lo, hi := int64(0), int64(0)
	ok := true
	for i, c := range [4][2]int64{{a.smin, b.smin}, {a.smin, b.smax}, {a.smax, b.smin}, {a.smax, b.smax}} {
		p, fits := mulS(c[0], c[1], w)
		if !fits {
			ok = false
			break
		}
		if i == 0 {
			lo, hi = p, p
		}
		lo, hi = min(lo, p), max(hi, p)
	}
	if ok {
		r.meetS(lo, hi)
	}
	r.t = a.t.mul(b.t).trunc(w)
	return r
}

// divH: unsigned division is monotone in both operands; a divisor that may be zero adds 0.
func divH(a, b half) half {
	w := a.w
	if b.umax == 0 {
		return constHalf(0, w)
	}
	r := topHalf(w)
	lo := max(b.umin, 1)
	r.meetU(a.umin/b.umax, a.umax/lo)
	if b.umin == 0 {
		r.umin = 0
	}
	return r
}

// modH: a remainder is below the divisor and at most the dividend; a dividend below every
// divisor is its own remainder, and so is every dividend when the divisor may be zero.
func modH(a, b half) half {
	w := a.w
	if b.umax == 0 {
		return a
	}
	lo := max(b.umin, 1)
	if a.umax < lo {
		return a
	}
	r := topHalf(w)
	if b.isConst() && a.umin/b.umin == a.umax/b.umin {
		// One period of the divisor: the remainder follows the dividend.
		r.meetU(a.umin%b.umin, a.umax%b.umin)
	} else {
		r.meetU(0, min(a.umax, b.umax-1))
	}
	if b.umin == 0 {
		r = r.join(a)
	}
	return r
}

// signedParts splits the signed range of a divisor into its negative part and its positive
// part (each absent when ok is false), leaving zero out.
func signedParts(b half) (neg [2]int64, hasNeg bool, pos [2]int64, hasPos bool) {
	if b.smin <= -1 {
		neg, hasNeg = [2]int64{b.smin, min(b.smax, -1)}, true
	}
	if b.smax >= 1 {
		pos, hasPos = [2]int64{max(b.smin, 1), b.smax}, true
	}
	return
}

// sdivH: truncating division by divisors of one sign is monotone in each operand, so its extremes
// are at the corners of the box of operands. The one overflow, MIN / -1 = MIN, is taken out of
// the box and added on its own.
func sdivH(a, b half) half {
	w := a.w
	neg, hasNeg, pos, hasPos := signedParts(b)
	have := false
	lo, hi := int64(0), int64(0)
	include := func(x int64) {
		if !have {
			lo, hi, have = x, x, true
		}
		lo, hi = min(lo, x), max(hi, x)
	}
	corners := func(x0, x1, y0, y1 int64) {
		for _, x := range [2]int64{x0, x1} {
			for _, y := range [2]int64{y0, y1} {
				include(x / y)
			}
		}
	}
	if b.smin <= 0 && b.smax >= 0 {
		include(0)
	}
	if hasPos {
		corners(a.smin, a.smax, pos[0], pos[1])
	}
	if hasNeg {
		switch {
		case a.smin != sminW(w) || neg[1] != -1:
			corners(a.smin, a.smax, neg[0], neg[1])
		default:
			include(sminW(w)) // MIN / -1
			if a.smax > a.smin {
				corners(a.smin+1, a.smax, neg[0], -1)
			}
			if neg[0] <= -2 {
				corners(a.smin, a.smin, neg[0], -2)
			}
		}
	}
	r := topHalf(w)
	if have {
		r.meetS(lo, hi)
	}
	return r
}

// smodH: a remainder has the sign of the dividend, is smaller in magnitude than the divisor and at
// most the dividend in magnitude; a dividend smaller in magnitude than every divisor is its own
// remainder, and so is every dividend when the divisor may be zero.
func smodH(a, b half) half {
	w := a.w
	neg, hasNeg, pos, hasPos := signedParts(b)
	if !hasNeg && !hasPos {
		return a // b is 0
	}
	// Largest and smallest magnitude of a nonzero divisor.
	var big, small uint64 = 0, ^uint64(0)
	if hasNeg {
		big, small = max(big, absU(neg[0])), min(small, absU(neg[1]))
	}
	if hasPos {
		big, small = max(big, absU(pos[1])), min(small, absU(pos[0]))
	}
	r := topHalf(w)
	if absU(a.smin) < small && absU(a.smax) < small {
		r = a
	} else {
		lim := int64(big - 1) // big <= 2^63, so lim fits
		lo, hi := int64(0), int64(0)
		if a.smin < 0 {
			lo = max(a.smin, -lim)
		}
		if a.smax > 0 {
			hi = min(a.smax, lim)
		}
		r.meetS(lo, hi)
	}
	if b.smin <= 0 && b.smax >= 0 {
		r = r.join(a)
	}
	return r
}

// andH: x&y is at most each operand read unsigned, and non-negative when either operand is.
func andH(a, b half) half {
	w := a.w
	r := topHalf(w)
	r.t = a.t.and(b.t)
	r.meetU(0, min(a.umax, b.umax))
	switch {
	case a.smin >= 0 && b.smin >= 0:
		r.meetS(0, min(a.smax, b.smax))
	case a.smin >= 0:
		r.meetS(0, a.smax)
	case b.smin >= 0:
		r.meetS(0, b.smax)
	}
	return r
}

// orH: x|y is at least each operand read unsigned; the known bits bound it from above.
func orH(a, b half) half {
	w := a.w
	r := topHalf(w)
	r.t = a.t.or(b.t)
	r.meetU(max(a.umin, b.umin), umaxW(w))
	return r
}

// xorH: only the known bits say something about x^y.
func xorH(a, b half) half {
	r := topHalf(a.w)
	r.t = a.t.xor(b.t)
	return r
}

// shiftAmounts is the range [lo, hi] of shift amounts src&(w-1) can give, and the known bits of
// src that filter it. The mask keeps the low bits, so src's unsigned ranges bound the amount when
// they stay below w.
func shiftAmounts(src Value, w uint) (lo, hi uint64, t tnum) {
	k := uint64(w - 1)
	t = src.t.trunc(uint(bits.Len64(k)))
	switch {
	case src.umax <= k:
		return src.umin, src.umax, t
	case uint64(src.u32max) <= k:
		return uint64(src.u32min), uint64(src.u32max), t
	}
	return 0, k, t
}

// shiftH shifts a by every amount src can give and joins the results.
func shiftH(op Op, a half, src Value, w uint) half {
	lo, hi, t := shiftAmounts(src, w)
	var r half
	have := false
	for k := lo; k <= hi; k++ {
		if !t.contains(k) {
			continue
		}
		s := shiftConstH(op, a, uint(k))
		if !have {
			r, have = s, true
		} else {
			r = r.join(s)
		}
	}
	if !have {
		return topHalf(w) // cannot happen for a consistent src; stay sound regardless
	}
	return r
}

// shiftConstH shifts a by the constant k < w.
func shiftConstH(op Op, a half, k uint) half {
	w := a.w
	r := topHalf(w)
	switch op {
	case Lsh:
		if a.umax <= umaxW(w)>>k {
			r.meetU(a.umin<<k, a.umax<<k)
		}
		// x<<k is x*2^k when it fits: monotone in the signed order.
		if a.smin >= sminW(w)>>k && a.smax <= smaxW(w)>>k {
			r.meetS(a.smin<<k, a.smax<<k)
		}
		r.t = a.t.lsh(k).trunc(w)
	case Rsh:
		r.meetU(a.umin>>k, a.umax>>k)
		r.t = a.t.trunc(w).rsh(k)
	case Arsh:
		r.meetS(a.smin>>k, a.smax>>k)
		r.t = a.t.sext(w).arsh(k).trunc(w)
	}
	return r
}
