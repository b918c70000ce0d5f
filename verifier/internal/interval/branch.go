package interval

// Cond is the condition of an eBPF conditional jump, comparing dst with src.
type Cond uint8

// Jump conditions. The unsigned and signed orders and JSET (dst & src != 0) are those of RFC
// 9669; a JMP32 jump applies them to the low 32 bits of both operands.
const (
	JEQ  Cond = iota // dst == src
	JNE              // dst != src
	JGT              // dst > src, unsigned
	JGE              // dst >= src, unsigned
	JLT              // dst < src, unsigned
	JLE              // dst <= src, unsigned
	JSGT             // dst > src, signed
	JSGE             // dst >= src, signed
	JSLT             // dst < src, signed
	JSLE             // dst <= src, signed
	JSET             // dst & src != 0

	jclear // dst & src == 0: the fall-through edge of JSET
)

var condNames = [...]string{"jeq", "jne", "jgt", "jge", "jlt", "jle", "jsgt", "jsge", "jslt",
	"jsle", "jset", "!jset"}

// String is the condition's name as in eBPF assembly ("jeq", "jsgt", ...).
func (c Cond) String() string {
	if int(c) < len(condNames) {
		return condNames[c]
	}
	return "cond?"
}

// negate is the condition that holds exactly when c does not.
func (c Cond) negate() Cond {
	switch c {
	case JEQ:
		return JNE
	case JNE:
		return JEQ
	case JGT:
		return JLE
	case JLE:
		return JGT
	case JGE:
		return JLT
	case JLT:
		return JGE
	case JSGT:
		return JSLE
	case JSLE:
		return JSGT
	case JSGE:
		return JSLT
	case JSLT:
		return JSGE
	case JSET:
		return jclear
	case jclear:
		return JSET
	}
	return c
}

// Pair is the value of both operands of a jump on one of its edges.
type Pair struct {
	Dst, Src Value
}

// Refine returns the values of dst and src on the taken edge of the jump "if dst c src" and on the
// not-taken edge: the numbers of each operand that can reach that edge together with some number
// of the other. An edge no pair of numbers can take has both values Bottom. For a jump against an
// immediate pass Imm(imm) as src (JMP32 jumps read its low 32 bits, the immediate itself). An
// unknown condition leaves both operands unrefined on both edges.
func Refine(c Cond, jmp32 bool, dst, src Value) (taken, notTaken Pair) {
	if c > JSET {
		p := Pair{dst, src}
		if dst.empty || src.empty {
			p = Pair{Bottom(), Bottom()}
		}
		return p, p
	}
	return edge(c, jmp32, dst, src), edge(c.negate(), jmp32, dst, src)
}

// Outcome is what is known statically about a conditional jump.
type Outcome uint8

// Outcomes of Decide.
const (
	Maybe  Outcome = iota // either edge may be taken
	Always                // the jump is taken whenever it is reached
	Never                 // the jump is never taken
)

// String names the outcome.
func (o Outcome) String() string {
	switch o {
	case Always:
		return "always"
	case Never:
		return "never"
	}
	return "maybe"
}

// Decide tells whether the jump "if dst c src" is always taken, never taken, or may go either
// way. With a bottom operand neither edge is reachable and the answer is Never.
func Decide(c Cond, jmp32 bool, dst, src Value) Outcome {
	taken, notTaken := Refine(c, jmp32, dst, src)
	switch {
	case taken.Dst.empty:
		return Never
	case notTaken.Dst.empty:
		return Always
	}
	return Maybe
}

// edge refines dst and src by the assumption that "dst c src" holds.
func edge(c Cond, jmp32 bool, dst, src Value) Pair {
	none := Pair{Bottom(), Bottom()}
	if dst.empty || src.empty {
		return none
	}
	if c == JEQ && !jmp32 {
		m := Meet(dst, src)
		if m.empty {
			return none
		}
		return Pair{m, m}
	}
	var a, b half
	if jmp32 {
		a, b = dst.h32(), src.h32()
	} else {
		a, b = dst.h64(), src.h64()
	}
	if !refineH(c, &a, &b) {
		return none
	}
	p := Pair{dst, src}
	if jmp32 {
		if a != dst.h32() {
			p.Dst = dst.meet32(a)
		}
		if b != src.h32() {
			p.Src = src.meet32(b)
		}
	} else {
		if a != dst.h64() {
			p.Dst = dst.meet64(a)
		}
		if b != src.h64() {
			p.Src = src.meet64(b)
		}
	}
	if p.Dst.empty || p.Src.empty {
		return none
	}
	return p
}

// refineH narrows a and b (of equal width) to numbers satisfying "a c b"; it reports false when
// no pair does. Emptiness it does not see is found when the results are normalized.
func refineH(c Cond, a, b *half) bool {
	w := a.w
	switch c {
	case JEQ:
		if !a.meet(*b) {
			return false
		}
		*b = *a
	case JNE:
		if b.isConst() && !exclude(a, b.umin) {
			return false
		}
		if a.isConst() && !exclude(b, a.umin) {
			return false
		}
	case JGT:
		if b.umin == umaxW(w) || a.umax == 0 {
			return false
		}
		a.umin = max(a.umin, b.umin+1)
		b.umax = min(b.umax, a.umax-1)
	case JGE:
		a.umin = max(a.umin, b.umin)
		b.umax = min(b.umax, a.umax)
	case JLT:
		return refineH(JGT, b, a)
	case JLE:
		return refineH(JGE, b, a)
	case JSGT:
		if b.smin == smaxW(w) || a.smax == sminW(w) {
			return false
		}
		a.smin = max(a.smin, b.smin+1)
		b.smax = min(b.smax, a.smax-1)
	case JSGE:
		a.smin = max(a.smin, b.smin)
		b.smax = min(b.smax, a.smax)
	case JSLT:
		return refineH(JSGT, b, a)
	case JSLE:
		return refineH(JSGE, b, a)
	case JSET:
		// Some bit is one in both: it must be one that may be one in both.
		common := (a.t.v | a.t.m) & (b.t.v | b.t.m)
		if common == 0 {
			return false
		}
		if a.t.v&b.t.v != 0 {
			break // a known common bit: always true, nothing to learn
		}
		if common&(common-1) == 0 {
			// A single candidate bit: it is one in both.
			if !a.meetT(tnum{common, ^common}) || !b.meetT(tnum{common, ^common}) {
				return false
			}
		}
		if !exclude(a, 0) || !exclude(b, 0) {
			return false
		}
	case jclear:
		// No bit is one in both: a bit known one in either is zero in the other.
		if a.t.v&b.t.v != 0 {
			return false
		}
		av := a.t.v
		if !a.meetT(tnum{0, ^b.t.v}) || !b.meetT(tnum{0, ^av}) {
			return false
		}
	}
	return a.umin <= a.umax && a.smin <= a.smax && b.umin <= b.umax && b.smin <= b.smax
}

// exclude removes the w-bit number x from h where it sits at a bound; false when h was x alone.
func exclude(h *half, x uint64) bool {
	x &= umaxW(h.w)
	if h.umin == x {
		if h.umax == x {
			return false
		}
		h.umin++
	} else if h.umax == x {
		h.umax--
	}
	s := toS(x, h.w)
	if h.smin == s {
		if h.smax == s {
			return false
		}
		h.smin++
	} else if h.smax == s {
		h.smax--
	}
	return true
}
