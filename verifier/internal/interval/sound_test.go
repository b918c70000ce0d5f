package interval

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// checkALU asserts that the abstract result of op on a and b holds the concrete result for the
// members x of a and y of b.
func checkALU(t testing.TB, op Op, alu64 bool, a, b Value, x, y uint64) {
	t.Helper()
	res := alu(op, alu64, a, b)
	checkWellFormed(t, "result", res)
	z := refALU(op, alu64, x, y)
	if !res.Contains(z) {
		t.Fatalf("%v alu64=%v unsound:\n a=%s\n b=%s\n x=%#x y=%#x -> %#x\n res=%s",
			op, alu64, dump(a), dump(b), x, y, z, dump(res))
	}
}

// TestALUSound checks every ALU operation in both widths on random values and members.
func TestALUSound(t *testing.T) {
	n := samples()
	for op := Add; op <= Mov; op++ {
		for _, alu64 := range []bool{true, false} {
			t.Run(fmt.Sprintf("%v/%d", op, map[bool]int{true: 64, false: 32}[alu64]), func(t *testing.T) {
				t.Parallel()
				r := rand.New(rand.NewPCG(uint64(op), 1^seed()))
				for range n {
					a, b := randValue(r, 2), randValue(r, 2)
					if r.IntN(8) == 0 {
						b = randSmallDivisor(r)
					}
					for range 3 {
						x, ok1 := member(r, a)
						y, ok2 := member(r, b)
						if !ok1 || !ok2 {
							break
						}
						checkALU(t, op, alu64, a, b, x, y)
					}
				}
			})
		}
	}
}

// randSmallDivisor draws divisors and shift amounts near the interesting points: 0, ±1, and
// ranges across them.
func randSmallDivisor(r *rand.Rand) Value {
	lo := int64(r.IntN(9)) - 4
	hi := lo + int64(r.IntN(6))
	if r.IntN(2) == 0 {
		return Imm(int32(lo))
	}
	return SignedRange(lo, hi)
}

// TestUnarySound checks truncation, sign extension, byte swaps and byte-order conversions.
func TestUnarySound(t *testing.T) {
	n := samples()
	for i, u := range unaries {
		t.Run(u.name, func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(uint64(i), 2^seed()))
			for range n {
				a := randValue(r, 2)
				res := u.abs(a)
				checkWellFormed(t, "result", res)
				for range 3 {
					x, ok := member(r, a)
					if !ok {
						break
					}
					if z := u.ref(x); !res.Contains(z) {
						t.Fatalf("%s unsound:\n a=%s\n x=%#x -> %#x\n res=%s", u.name, dump(a), x, z, dump(res))
					}
				}
			}
		})
	}
}

// TestLoadRanges checks the ranges of zero- and sign-extending loads: they hold every loaded
// number and are exact.
func TestLoadRanges(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3^seed()))
	for _, size := range []int{1, 2, 4, 8} {
		z, s := Load(size), LoadSX(size)
		w := uint(8 * size)
		for range samples() {
			x := randNum(r) ^ r.Uint64()&randMask(r)
			if zx := x & lowMask(w); !z.Contains(zx) {
				t.Fatalf("Load(%d)=%v misses %#x", size, z, zx)
			}
			if sx := uint64(toS(x, w)); !s.Contains(sx) {
				t.Fatalf("LoadSX(%d)=%v misses %#x", size, s, sx)
			}
		}
		if size < 8 {
			if z.UMin() != 0 || z.UMax() != lowMask(w) || z.SMin() != 0 {
				t.Errorf("Load(%d) = %s", size, dump(z))
			}
			if s.SMin() != sminW(w) || s.SMax() != smaxW(w) {
				t.Errorf("LoadSX(%d) = %s", size, dump(s))
			}
		} else if !z.IsTop() || !s.IsTop() {
			t.Errorf("Load(8) = %v, LoadSX(8) = %v", z, s)
		}
	}
}

// checkBranch asserts that the members x of a and y of b lie on the edge of the jump they take,
// and that Decide agrees.
func checkBranch(t testing.TB, c Cond, jmp32 bool, a, b Value, x, y uint64) {
	t.Helper()
	taken, notTaken := Refine(c, jmp32, a, b)
	for _, p := range []Pair{taken, notTaken} {
		checkWellFormed(t, "dst", p.Dst)
		checkWellFormed(t, "src", p.Src)
		if p.Dst.empty != p.Src.empty {
			t.Fatalf("%v jmp32=%v: half-bottom pair %s, %s", c, jmp32, dump(p.Dst), dump(p.Src))
		}
	}
	holds := refCond(c, jmp32, x, y)
	e, name := notTaken, "not taken"
	if holds {
		e, name = taken, "taken"
	}
	if !e.Dst.Contains(x) || !e.Src.Contains(y) {
		t.Fatalf("%v jmp32=%v %s edge unsound:\n a=%s\n b=%s\n x=%#x y=%#x\n dst=%s\n src=%s",
			c, jmp32, name, dump(a), dump(b), x, y, dump(e.Dst), dump(e.Src))
	}
	switch d := Decide(c, jmp32, a, b); {
	case d == Always && !holds, d == Never && holds:
		t.Fatalf("%v jmp32=%v: Decide says %v but x=%#x y=%#x gives %v\n a=%s\n b=%s",
			c, jmp32, d, x, y, holds, dump(a), dump(b))
	}
}

// TestBranchSound checks every jump condition in both widths on random values and members.
func TestBranchSound(t *testing.T) {
	n := samples()
	for c := JEQ; c <= JSET; c++ {
		for _, jmp32 := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/%d", c, map[bool]int{false: 64, true: 32}[jmp32]), func(t *testing.T) {
				t.Parallel()
				r := rand.New(rand.NewPCG(uint64(c), 4^seed()))
				for range n {
					a, b := randValue(r, 2), randValue(r, 2)
					x, ok := member(r, a)
					if !ok {
						continue
					}
					if r.IntN(4) == 0 {
						// Make equal pairs (and, for JSET, overlapping bits) common.
						b = Join(b, Const(x+uint64(r.IntN(3))-1))
					}
					for range 3 {
						y, ok := member(r, b)
						if !ok {
							break
						}
						checkBranch(t, c, jmp32, a, b, x, y)
						if x, ok = member(r, a); !ok {
							break
						}
					}
				}
			})
		}
	}
}

// TestLatticeSound checks that Join, Meet, Widen, Narrow and LessEq keep the numbers they must.
func TestLatticeSound(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5^seed()))
	for range samples() {
		a, b := randValue(r, 2), randValue(r, 2)
		j, m, w, nw := Join(a, b), Meet(a, b), Widen(a, b), Narrow(a, b)
		for _, v := range []Value{j, m, w, nw} {
			checkWellFormed(t, "lattice result", v)
		}
		if !LessEq(a, j) || !LessEq(b, j) {
			t.Fatalf("join not above operands:\n a=%s\n b=%s\n j=%s", dump(a), dump(b), dump(j))
		}
		if !LessEq(m, a) || !LessEq(m, b) {
			t.Fatalf("meet not below operands:\n a=%s\n b=%s\n m=%s", dump(a), dump(b), dump(m))
		}
		if !LessEq(a, w) || !LessEq(b, w) {
			t.Fatalf("widen not above operands:\n a=%s\n b=%s\n w=%s", dump(a), dump(b), dump(w))
		}
		if !LessEq(nw, a) {
			t.Fatalf("narrow not below old:\n a=%s\n b=%s\n n=%s", dump(a), dump(b), dump(nw))
		}
		if !LessEq(a, a) {
			t.Fatalf("LessEq not reflexive: %s", dump(a))
		}
		for range 3 {
			for _, v := range []Value{a, b} {
				x, ok := member(r, v)
				if !ok {
					continue
				}
				if !j.Contains(x) || !w.Contains(x) {
					t.Fatalf("join/widen lost %#x of %s:\n a=%s\n b=%s\n j=%s\n w=%s", x, dump(v), dump(a), dump(b), dump(j), dump(w))
				}
				if a.Contains(x) && b.Contains(x) && (!m.Contains(x) || !nw.Contains(x)) {
					t.Fatalf("meet/narrow lost %#x:\n a=%s\n b=%s\n m=%s\n n=%s", x, dump(a), dump(b), dump(m), dump(nw))
				}
				if LessEq(a, b) && a.Contains(x) && !b.Contains(x) {
					t.Fatalf("LessEq(a, b) but %#x in a only:\n a=%s\n b=%s", x, dump(a), dump(b))
				}
			}
		}
	}
}

// TestNormalizeKeepsMembers checks that reducing a value with arbitrary views loses no number.
func TestNormalizeKeepsMembers(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6^seed()))
	for range samples() {
		a, b, c, d := randNum(r), randNum(r), randNum(r), randNum(r)
		v := Value{
			smin: min(int64(a), int64(b)), smax: max(int64(a), int64(b)),
			umin: min(c, d), umax: max(c, d),
			s32min: min(int32(a), int32(c)), s32max: max(int32(a), int32(c)),
			u32min: min(uint32(b), uint32(d)), u32max: max(uint32(b), uint32(d)),
		}
		m := randMask(r)
		v.t = tnum{randNum(r) &^ m, m}
		n := v.normalize()
		checkWellFormed(t, "normalized", n)
		for range 8 {
			x, ok := member(r, v)
			if !ok {
				break
			}
			if !n.Contains(x) {
				t.Fatalf("normalize lost %#x:\n v=%s\n n=%s", x, dump(v), dump(n))
			}
		}
	}
}

// TestWidenTerminates checks that a loop head widened with ever larger iterates stabilizes.
func TestWidenTerminates(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7^seed()))
	for range samples() / 10 {
		x := randValue(r, 1)
		step := randValue(r, 1)
		stable := false
		for i := 0; i < 200 && !stable; i++ {
			next := Join(x, ALU64(Add, x, step))
			if r.IntN(2) == 0 {
				next = Join(next, randValue(r, 0))
			}
			if LessEq(next, x) {
				stable = true
				break
			}
			x = Widen(x, next)
		}
		if !stable {
			t.Fatalf("widening did not stabilize in 200 steps: %s", dump(x))
		}
	}
}
