package interval

import (
	"math"
	"math/bits"
	"slices"
)

// Join is the least upper bound of a and b in each view: a Value holding every number of a and
// every number of b.
func Join(a, b Value) Value {
	if a.empty {
		return b
	}
	if b.empty {
		return a
	}
	return Value{
		smin: min(a.smin, b.smin), smax: max(a.smax, b.smax),
		umin: min(a.umin, b.umin), umax: max(a.umax, b.umax),
		s32min: min(a.s32min, b.s32min), s32max: max(a.s32max, b.s32max),
		u32min: min(a.u32min, b.u32min), u32max: max(a.u32max, b.u32max),
		t: a.t.join(b.t),
	}.normalize()
}

// Meet is the greatest lower bound of a and b in each view: a Value holding the numbers that
// lie in both (and possibly a few more where the views cannot say so exactly).
func Meet(a, b Value) Value {
	if a.empty || b.empty {
		return Bottom()
	}
	t, ok := a.t.meet(b.t)
	if !ok {
		return Bottom()
	}
	return Value{
		smin: max(a.smin, b.smin), smax: min(a.smax, b.smax),
		umin: max(a.umin, b.umin), umax: min(a.umax, b.umax),
		s32min: max(a.s32min, b.s32min), s32max: min(a.s32max, b.s32max),
		u32min: max(a.u32min, b.u32min), u32max: min(a.u32max, b.u32max),
		t: t,
	}.normalize()
}

// LessEq reports whether every number of a is a number of b, judged view by view: true is
// always right; false may be wrong when b's views are not reduced against each other.
func LessEq(a, b Value) bool {
	a = a.normalize()
	if a.empty {
		return true
	}
	if b.empty {
		return false
	}
	return b.smin <= a.smin && a.smax <= b.smax &&
		b.umin <= a.umin && a.umax <= b.umax &&
		b.s32min <= a.s32min && a.s32max <= b.s32max &&
		b.u32min <= a.u32min && a.u32max <= b.u32max &&
		a.t.subset(b.t)
}

// defaultThresholds are the landmarks Widen stops at before the extremes of a view: the edges
// of the byte, half-word and word ranges, zero, and the sizes that bound packet and stack
// offsets.
var defaultThresholds = []int64{
	math.MinInt32, -1 << 15, -1 << 7, -1, 0, 1<<7 - 1, 1<<8 - 1, 512, 1<<15 - 1, 1<<16 - 1,
	math.MaxInt32, math.MaxUint32,
}

// Widen extrapolates the loop-head iterate old with its successor next, stopping at the usual
// landmarks before the extremes of a view: zero and -1, the edges of the byte, half-word and word
// ranges, and 512 (the stack size). See WidenWith.
func Widen(old, next Value) Value { return WidenWith(old, next, defaultThresholds) }

// WidenWith is the widening of old by next: each bound of each view that next does not respect
// moves to the nearest threshold beyond next's bound, or to the extreme of the view, and the known
// bits are widened too (see widenT). Every bound can move only a bounded number of times, so an increasing chain
// of widenings becomes stable. The result holds old and next; it is not reduced between views,
// since reducing could undo a jump and break that guarantee. Thresholds apply to every view they
// fit in; negative ones only to the signed views.
func WidenWith(old, next Value, thresholds []int64) Value {
	if old.empty {
		return next
	}
	if next.empty {
		return old
	}
	r := old
	if next.smin < old.smin {
		r.smin = below(next.smin, thresholds, math.MinInt64, fitS64)
	}
	if next.smax > old.smax {
		r.smax = above(next.smax, thresholds, math.MaxInt64, fitS64)
	}
	if next.umin < old.umin {
		r.umin = below(next.umin, thresholds, 0, fitU64)
	}
	if next.umax > old.umax {
		r.umax = above(next.umax, thresholds, math.MaxUint64, fitU64)
	}
	if next.s32min < old.s32min {
		r.s32min = below(next.s32min, thresholds, math.MinInt32, fitS32)
	}
	if next.s32max > old.s32max {
		r.s32max = above(next.s32max, thresholds, math.MaxInt32, fitS32)
	}
	if next.u32min < old.u32min {
		r.u32min = below(next.u32min, thresholds, 0, fitU32)
	}
	if next.u32max > old.u32max {
		r.u32max = above(next.u32max, thresholds, math.MaxUint32, fitU32)
	}
	r.t = widenT(old.t, next.t)
	return r
}

// widenT widens known bits: when next has bits old does not know, those bits and every bit above
// the lowest of them become unknown (a counter's carries reach upward), while the bits below,
// such as the known zero low bits of an aligned offset, stay known. Each change unknowns at
// least one more bit, so known bits can widen at most 64 times.
func widenT(old, next tnum) tnum {
	j := old.join(next)
	if j == old {
		return old
	}
	fresh := j.m &^ old.m
	m := j.m | ^lowMask(uint(bits.TrailingZeros64(fresh)))
	return tnum{j.v &^ m, m}
}

// Conversions of thresholds to each view; ok is false for those that do not fit.
func fitS64(t int64) (int64, bool)  { return t, true }
func fitU64(t int64) (uint64, bool) { return uint64(t), t >= 0 }
func fitS32(t int64) (int32, bool)  { return int32(t), t >= math.MinInt32 && t <= math.MaxInt32 }
func fitU32(t int64) (uint32, bool) { return uint32(t), t >= 0 && t <= math.MaxUint32 }

// below is the largest threshold (converted by conv, skipped when it does not fit) at most x,
// or floor when there is none.
func below[T int32 | uint32 | int64 | uint64](x T, thresholds []int64, floor T, conv func(int64) (T, bool)) T {
	best := floor
	for _, th := range thresholds {
		if c, ok := conv(th); ok && c <= x && c > best {
			best = c
		}
	}
	return best
}

// above is the smallest threshold at least x, or ceil when there is none.
func above[T int32 | uint32 | int64 | uint64](x T, thresholds []int64, ceil T, conv func(int64) (T, bool)) T {
	best := ceil
	for _, th := range thresholds {
		if c, ok := conv(th); ok && c >= x && c < best {
			best = c
		}
	}
	return best
}

// Narrow refines old, a post-fixpoint reached by widening, with next, the result of one more
// iteration from old: each bound of old that sits at the extreme of its view or at one of
// the landmarks of Widen (where widening may have put it) takes next's bound if that is tighter, and
// the known bits are met. Other bounds keep old's value, so a decreasing chain of narrowings
// becomes stable. The result holds every number in both old and next, and lies within old.
func Narrow(old, next Value) Value {
	if old.empty || next.empty {
		return Bottom()
	}
	r := old
	if isLandmark(old.smin, math.MinInt64) {
		r.smin = max(old.smin, next.smin)
	}
	if isLandmark(old.smax, math.MaxInt64) {
		r.smax = min(old.smax, next.smax)
	}
	if isLandmark(int64(old.umin), 0) {
		r.umin = max(old.umin, next.umin)
	}
	if old.umax == math.MaxUint64 || isLandmark(int64(old.umax), math.MaxInt64) {
		r.umax = min(old.umax, next.umax)
	}
	if isLandmark(int64(old.s32min), math.MinInt32) {
		r.s32min = max(old.s32min, next.s32min)
	}
	if isLandmark(int64(old.s32max), math.MaxInt32) {
		r.s32max = min(old.s32max, next.s32max)
	}
	if isLandmark(int64(old.u32min), 0) {
		r.u32min = max(old.u32min, next.u32min)
	}
	if isLandmark(int64(old.u32max), math.MaxUint32) {
		r.u32max = min(old.u32max, next.u32max)
	}
	if t, ok := old.t.meet(next.t); ok {
		r.t = t
	}
	if r.umin > r.umax || r.smin > r.smax || r.u32min > r.u32max || r.s32min > r.s32max {
		return Bottom()
	}
	return r
}

// isLandmark reports whether x is the extreme of its view or a default widening threshold.
func isLandmark(x, extreme int64) bool {
	return x == extreme || slices.Contains(defaultThresholds, x)
}
