package interval

// Trunc is v with all but its low bits cleared (bits is 8, 16, 32 or 64): the result of a narrow
// load of a spilled register, of mov32 (Trunc(32)) and of the byte-order conversion to little
// endian (which on eBPF's little-endian machine only truncates). Other widths give Top.
func (v Value) Trunc(bits int) Value {
	if v.empty {
		return Bottom()
	}
	switch bits {
	case 64:
		return v
	case 8, 16, 32:
		h, ok := v.low(uint(bits))
		if !ok {
			return Bottom()
		}
		return fromZext(h)
	}
	return Top()
}

// SignExtend is the signed value of the low bits of v (bits is 8, 16, 32 or 64) extended to 64
// bits: the ALU64 movsx instruction and the value a sign-extending load reads back from a spilled
// register. The ALU (32-bit) movsx is v.SignExtend(bits).Trunc(32). Other widths give Top.
func (v Value) SignExtend(bits int) Value {
	if v.empty {
		return Bottom()
	}
	switch bits {
	case 64:
		return v
	case 8, 16, 32:
		w := uint(bits)
		h, ok := v.low(w)
		if !ok {
			return Bottom()
		}
		r := Top()
		r.smin, r.smax = h.smin, h.smax
		r.s32min, r.s32max = int32(h.smin), int32(h.smax)
		if w == 32 {
			r.u32min, r.u32max = uint32(h.umin), uint32(h.umax)
		}
		r.t = h.t.sext(w)
		return r.normalize()
	}
	return Top()
}

// Bswap reverses the order of the low bits/8 bytes of v and clears the bytes above (bits is 16,
// 32 or 64): the ALU64 bswap instruction and the byte-order conversion to big endian. Other
// widths give Top.
func (v Value) Bswap(bits int) Value {
	if v.empty {
		return Bottom()
	}
	switch bits {
	case 16, 32, 64:
		h, ok := v.low(uint(bits))
		if !ok {
			return Bottom()
		}
		r := Top()
		r.t = h.t.bswap(uint(bits) / 8)
		return r.normalize()
	}
	return Top()
}

// End is the result of the byte-order instruction of width bits (16, 32 or 64) on eBPF's
// little-endian machine: a swap when toBE (or for the unconditional ALU64 bswap), a truncation
// otherwise.
func (v Value) End(bits int, toBE bool) Value {
	if toBE {
		return v.Bswap(bits)
	}
	return v.Trunc(bits)
}

// Load is the range of a zero-extending load of size bytes (1, 2, 4 or 8) from memory holding
// unknown numbers: [0, 2^(8*size)-1]. Other sizes give Top.
func Load(size int) Value {
	switch size {
	case 1, 2, 4:
		return UnsignedRange(0, lowMask(uint(8*size)))
	}
	return Top()
}

// LoadSX is the range of a sign-extending load (BPF_MEMSX) of size bytes (1, 2, 4 or 8) from
// memory holding unknown numbers: [-2^(8*size-1), 2^(8*size-1)-1]. Other sizes give Top.
func LoadSX(size int) Value {
	switch size {
	case 1, 2, 4:
		w := uint(8 * size)
		return SignedRange(sminW(w), smaxW(w))
	}
	return Top()
}

// low is the view of the low w bits of v (w is 8, 16, 32 or 64); ok is false when v turns out to
// hold no number.
func (v Value) low(w uint) (half, bool) {
	switch {
	case w >= 64:
		return v.h64(), true
	case w == 32:
		h := v.h32()
		return h, h.sync()
	}
	// Every range of v that spans fewer than 2^w numbers runs over an arc of the w-bit circle.
	h := topHalf(w)
	h.t = v.t.trunc(w)
	h.meetArc(v.umin, v.umax-v.umin)
	h.meetArc(uint64(v.smin), uint64(v.smax)-uint64(v.smin))
	h.meetArc(uint64(v.u32min), uint64(v.u32max-v.u32min))
	h.meetArc(uint64(uint32(v.s32min)), uint64(uint32(v.s32max)-uint32(v.s32min)))
	return h, h.sync()
}

// fromZext is the Value of the w-bit half h (w <= 32) zero-extended to 64 bits.
func fromZext(h half) Value {
	if h.w < 32 {
		h = half{w: 32, smin: int64(h.umin), smax: int64(h.umax), umin: h.umin, umax: h.umax, t: h.t}
	}
	return from32(h)
}
