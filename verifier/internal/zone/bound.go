package zone

import "math"

// Inf is the bound of a difference that is not constrained: x − y ≤ Inf says nothing. It
// is also the upper end returned by queries when a variable has no upper bound.
const Inf int64 = math.MaxInt64

// NegInf is the lower end returned by queries when a variable has no lower bound. It is
// never stored in a matrix.
const NegInf int64 = math.MinInt64

// minBound is the smallest bound stored: sums that would fall below it are rounded up to
// it, which weakens the constraint and so stays sound.
const minBound int64 = math.MinInt64 + 1

// add returns a + b for bounds, rounding toward +Inf: overflow above the int64 range gives
// Inf (no constraint) and overflow below gives minBound (a weaker, finite bound). Every
// rounding makes the constraint weaker, never stronger.
func add(a, b int64) int64 {
	if a == Inf || b == Inf {
		return Inf
	}
	s := a + b
	switch {
	case a > 0 && b > 0 && s < 0:
		return Inf
	case a < 0 && b < 0 && s >= 0:
		return minBound
	case s == math.MinInt64:
		return minBound
	}
	return s
}

// sub returns a − c for a bound a and a constant c, rounding as add does.
func sub(a, c int64) int64 {
	if a == Inf {
		return Inf
	}
	if c == math.MinInt64 {
		if a >= 0 {
			return Inf
		}
		return add(a+math.MaxInt64, 1)
	}
	return add(a, -c)
}

// clampBound makes a caller-supplied constant storable.
func clampBound(c int64) int64 {
	if c == math.MinInt64 {
		return minBound
	}
	return c
}

// negBound turns the bound of −x (or y − x) into the lower bound of x (or x − y).
func negBound(b int64) int64 {
	if b == Inf {
		return NegInf
	}
	return -b
}
