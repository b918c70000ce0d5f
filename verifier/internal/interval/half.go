package interval

// A half is the abstract value of one view width: the whole 64-bit register (w = 64) or its low
// w bits (w = 32, and 8 or 16 for narrow loads and extensions). Signed bounds are stored
// sign-extended in int64, unsigned bounds in uint64, the tnum truncated to w bits. Transfer
// functions compute on halves and the results are put back into a Value, which reduces them.
type half struct {
	w          uint
	smin, smax int64
	umin, umax uint64
	t          tnum
}

// umaxW is 2^w-1, the largest unsigned w-bit value.
func umaxW(w uint) uint64 { return lowMask(w) }

// sminW is -2^(w-1), the smallest signed w-bit value.
func sminW(w uint) int64 { return -1 << (w - 1) }

// smaxW is 2^(w-1)-1, the largest signed w-bit value.
func smaxW(w uint) int64 { return int64(lowMask(w) >> 1) }

// toS reads the low w bits of x as a signed w-bit number.
func toS(x uint64, w uint) int64 {
	sh := 64 - w
	return int64(x<<sh) >> sh
}

// toU is the w-bit two's complement encoding of x.
func toU(x int64, w uint) uint64 { return uint64(x) & umaxW(w) }

// topHalf holds every w-bit value.
func topHalf(w uint) half {
	return half{w: w, smin: sminW(w), smax: smaxW(w), umax: umaxW(w), t: tnumUnknown.trunc(w)}
}

// constHalf holds only the low w bits of x.
func constHalf(x uint64, w uint) half {
	x &= umaxW(w)
	return half{w: w, smin: toS(x, w), smax: toS(x, w), umin: x, umax: x, t: tconst(x)}
}

// isConst reports whether h is the single value h.umin (assuming h has been synced).
func (h half) isConst() bool { return h.umin == h.umax }

// meetU intersects the unsigned bounds with [lo, hi]; an empty result is left for sync to find.
func (h *half) meetU(lo, hi uint64) {
	h.umin = max(h.umin, lo)
	h.umax = min(h.umax, hi)
}

// meetS intersects the signed bounds with [lo, hi].
func (h *half) meetS(lo, hi int64) {
	h.smin = max(h.smin, lo)
	h.smax = min(h.smax, hi)
}

// meetT intersects the known bits; it reports false when they conflict.
func (h *half) meetT(t tnum) bool {
	r, ok := h.t.meet(t.trunc(h.w))
	h.t = r
	return ok
}

// meet intersects every view of h with those of g (same width); false means the result is empty
// for certain, true only that no conflict was seen before sync.
func (h *half) meet(g half) bool {
	h.meetU(g.umin, g.umax)
	h.meetS(g.smin, g.smax)
	return h.meetT(g.t)
}

// join is the hull of h and g view by view.
func (h half) join(g half) half {
	return half{
		w:    h.w,
		smin: min(h.smin, g.smin), smax: max(h.smax, g.smax),
		umin: min(h.umin, g.umin), umax: max(h.umax, g.umax),
		t: h.t.join(g.t),
	}
}

// meetArc intersects h with the hulls of the arc {start, start+1, ..., start+n} taken modulo 2^w
// (a set of n+1 consecutive values on the w-bit circle). An arc that wraps past 2^w-1 to 0 says
// nothing in the unsigned view; one that wraps past 2^(w-1)-1 to -2^(w-1) says nothing in the
// signed view; an arc of 2^w or more values says nothing at all.
func (h *half) meetArc(start, n uint64) {
	w := h.w
	top := umaxW(w)
	if n >= top {
		return
	}
	start &= top
	if start <= top-n {
		h.meetU(start, start+n)
	}
	bias := uint64(1) << (w - 1)
	if (start+bias)&top <= top-n {
		h.meetS(toS(start, w), toS((start+n)&top, w))
	}
}

// sync reduces the views of h against each other: known bits bound the ranges, the signed and
// unsigned ranges are intersected exactly (each is at most two intervals in the other's order)
// and the ranges give known bits. It reports false when h holds no value.
func (h *half) sync() bool {
	w := h.w
	top := umaxW(w)
	h.t = h.t.trunc(w)
	t := h.t
	// Known bits bound both orders.
	h.meetU(t.v, t.v|t.m)
	sign := uint64(1) << (w - 1)
	if t.m&sign == 0 {
		h.meetS(toS(t.v, w), toS(t.v|t.m, w))
	} else {
		h.meetS(toS(t.v|sign, w), toS((t.v|t.m)&^sign, w))
	}
	if h.umin > h.umax || h.smin > h.smax {
		return false
	}
	// Each bound moves to the nearest value the known bits allow. The signed order is the
	// unsigned order with the sign bit flipped.
	var ok bool
	if h.umin, ok = t.minAbove(h.umin); !ok {
		return false
	}
	if h.umax, ok = t.maxBelow(h.umax); !ok {
		return false
	}
	flip := tnum{t.v ^ sign&^t.m, t.m}
	lo, ok1 := flip.minAbove(toU(h.smin, w) ^ sign)
	hi, ok2 := flip.maxBelow(toU(h.smax, w) ^ sign)
	if !ok1 || !ok2 {
		return false
	}
	h.smin, h.smax = toS(lo^sign, w), toS(hi^sign, w)
	if h.umin > h.umax || h.smin > h.smax {
		return false
	}
	// The signed range is one unsigned interval when it does not cross zero, else two:
	// [0, smax] and [smin, -1] read unsigned. Each piece lies in one sign half, where the two
	// orders agree, so the hulls of the pieces left after intersecting are exact.
	var plo, phi [2]uint64
	n := 0
	put := func(a, b uint64) {
		a, b = max(a, h.umin), min(b, h.umax)
		if a <= b {
			plo[n], phi[n] = a, b
			n++
		}
	}
	if h.smin >= 0 || h.smax < 0 {
		put(toU(h.smin, w), toU(h.smax, w))
	} else {
		put(0, toU(h.smax, w))
		put(toU(h.smin, w), top)
	}
	if n == 0 {
		return false
	}
	h.umin, h.umax = plo[0], phi[n-1]
	h.smin, h.smax = toS(plo[0], w), toS(phi[0], w)
	if n == 2 {
		// The first piece is non-negative, the second negative.
		h.smin, h.smax = toS(plo[1], w), toS(phi[0], w)
	}
	// The unsigned range gives the bits its ends share.
	return h.meetT(trange(h.umin, h.umax))
}
