package interval

import "math/bits"

// tnum is a tristate number: the set of 64-bit values x with x&^m == v. Bits set in m are
// unknown; the other bits are known and equal to the bits of v. The invariant v&m == 0 holds for
// every tnum built by this file.
type tnum struct {
	v, m uint64
}

// tnumUnknown is the tnum of every 64-bit value.
var tnumUnknown = tnum{0, ^uint64(0)}

// tconst is the tnum of the single value x.
func tconst(x uint64) tnum { return tnum{x, 0} }

// trange is the smallest tnum holding every value of [lo, hi]: the bits above the highest bit in
// which lo and hi differ are shared by every value between them. It requires lo <= hi.
func trange(lo, hi uint64) tnum {
	n := bits.Len64(lo ^ hi)
	m := lowMask(uint(n))
	return tnum{lo &^ m, m}
}

// lowMask has the low n bits set (n may be 0 to 64).
func lowMask(n uint) uint64 {
	if n >= 64 {
		return ^uint64(0)
	}
	return 1<<n - 1
}

// contains reports whether x is in t.
func (t tnum) contains(x uint64) bool { return x&^t.m == t.v }

// isConst reports whether t holds exactly one value.
func (t tnum) isConst() bool { return t.m == 0 }

// subset reports whether every value of t is a value of u.
func (t tnum) subset(u tnum) bool {
	return t.m&^u.m == 0 && (t.v^u.v)&^u.m == 0
}

// join is the smallest tnum holding both t and u: every bit unknown in either, or known to
// differ, becomes unknown.
func (t tnum) join(u tnum) tnum {
	m := t.m | u.m | (t.v ^ u.v)
	return tnum{t.v &^ m, m}
}

// meet is the tnum of the values in both t and u; ok is false when they share none (a bit known
// one in t is known zero in u, or the other way round).
func (t tnum) meet(u tnum) (r tnum, ok bool) {
	if (t.v^u.v)&^(t.m|u.m) != 0 {
		return tnum{}, false
	}
	m := t.m & u.m
	return tnum{(t.v | u.v) &^ m, m}, true
}

// trunc keeps the low w bits of t; the bits above are known zero.
func (t tnum) trunc(w uint) tnum {
	k := lowMask(w)
	return tnum{t.v & k, t.m & k}
}

// sext sign-extends t from its low w bits: bit w-1 is copied into every higher bit. When that bit
// is unknown every higher bit becomes unknown.
func (t tnum) sext(w uint) tnum {
	if w == 0 || w >= 64 {
		return t
	}
	t = t.trunc(w)
	sign := uint64(1) << (w - 1)
	hi := ^lowMask(w)
	switch {
	case t.m&sign != 0:
		t.m |= hi
	case t.v&sign != 0:
		t.v |= hi
	}
	return t
}

// add is the tnum of x+y (mod 2^64) for x in t and y in u. The sum of the minimal values and the
// sum of the maximal values bound the carries: a bit is known in the sum only if it is known in
// both operands and no unknown carry can reach it, which is where the two sums agree.
func (t tnum) add(u tnum) tnum {
	sv := t.v + u.v
	sm := t.m + u.m
	carries := (sv + sm) ^ sv
	m := carries | t.m | u.m
	return tnum{sv &^ m, m}
}

// sub is the tnum of x-y (mod 2^64) for x in t and y in u, by the same argument as add: the
// largest and the smallest difference bound the borrows.
func (t tnum) sub(u tnum) tnum {
	dv := t.v - u.v
	hiDiff := dv + t.m
	loDiff := dv - u.m
	m := (hiDiff ^ loDiff) | t.m | u.m
	return tnum{dv &^ m, m}
}

// neg is the tnum of -x for x in t.
func (t tnum) neg() tnum { return tconst(0).sub(t) }

// and is the tnum of x&y: a bit is known one where both are known one, known zero where either
// is known zero.
func (t tnum) and(u tnum) tnum {
	one := t.v & u.v
	maybe := (t.v | t.m) & (u.v | u.m)
	return tnum{one, maybe &^ one}
}

// or is the tnum of x|y.
func (t tnum) or(u tnum) tnum {
	one := t.v | u.v
	return tnum{one, (t.m | u.m) &^ one}
}

// xor is the tnum of x^y.
func (t tnum) xor(u tnum) tnum {
	m := t.m | u.m
	return tnum{(t.v ^ u.v) &^ m, m}
}

// mul is the tnum of x*y (mod 2^64). Writing x = t.v + X and y = u.v + Y with X and Y made of
// unknown bits, x*y is t.v*u.v plus, for each bit i of x that may be one, part of the shifted y:
// a known one bit i contributes y<<i, of which u.v<<i is already in t.v*u.v and Y<<i remains; an
// unknown bit i contributes 0 or y<<i. Each contribution is a tnum with value 0, and their sum is taken with
// add, which is sound for every summand.
func (t tnum) mul(u tnum) tnum {
	acc := tconst(t.v * u.v)
	x := t
	yKnownOnes := u.m
	yMaybe := u.v | u.m
	for i := uint(0); i < 64 && (x.v|x.m)>>i != 0; i++ {
		bit := uint64(1) << i
		switch {
		case x.v&bit != 0:
			if yKnownOnes<<i != 0 {
				acc = acc.add(tnum{0, yKnownOnes << i})
			}
		case x.m&bit != 0:
			if yMaybe<<i != 0 {
				acc = acc.add(tnum{0, yMaybe << i})
			}
		}
	}
	return acc
}

// lsh is the tnum of x<<k (k < 64).
func (t tnum) lsh(k uint) tnum { return tnum{t.v << k, t.m << k} }

// rsh is the tnum of x>>k, a logical shift (k < 64).
func (t tnum) rsh(k uint) tnum { return tnum{t.v >> k, t.m >> k} }

// arsh is the tnum of int64(x)>>k, an arithmetic shift (k < 64): the sign bit, known or not, is
// copied into the vacated bits.
func (t tnum) arsh(k uint) tnum {
	return tnum{uint64(int64(t.v) >> k), uint64(int64(t.m) >> k)}
}

// bswap reverses the order of the low n bytes of t (n is 2, 4 or 8); the bytes above become
// known zero.
func (t tnum) bswap(n uint) tnum {
	switch n {
	case 2:
		return tnum{uint64(bits.ReverseBytes16(uint16(t.v))), uint64(bits.ReverseBytes16(uint16(t.m)))}
	case 4:
		return tnum{uint64(bits.ReverseBytes32(uint32(t.v))), uint64(bits.ReverseBytes32(uint32(t.m)))}
	default:
		return tnum{bits.ReverseBytes64(t.v), bits.ReverseBytes64(t.m)}
	}
}

// minAbove is the smallest value of t at least lo; ok is false when there is none.
func (t tnum) minAbove(lo uint64) (x uint64, ok bool) {
	diff := (lo ^ t.v) &^ t.m // known bits where lo is wrong
	if diff == 0 {
		return lo, true
	}
	i := uint(bits.Len64(diff) - 1) // the highest of them; above it lo agrees with t
	keep := ^lowMask(i + 1)
	if t.v&(1<<i) != 0 {
		// lo has 0 where t has a known 1: set it and take the least bits below.
		return lo&keep | 1<<i | t.v&lowMask(i), true
	}
	// lo has 1 where t has a known 0: carry into the lowest unknown zero bit of lo above i.
	free := t.m &^ lo & keep
	if free == 0 {
		return 0, false
	}
	j := uint(bits.TrailingZeros64(free))
	return lo&^lowMask(j+1) | 1<<j | t.v&lowMask(j), true
}

// maxBelow is the largest value of t at most hi; ok is false when there is none. Complementing
// every bit reverses the order, which turns it into minAbove.
func (t tnum) maxBelow(hi uint64) (x uint64, ok bool) {
	c := tnum{^t.v &^ t.m, t.m}
	y, ok := c.minAbove(^hi)
	return ^y, ok
}
