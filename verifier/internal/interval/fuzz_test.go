package interval

import (
	"math"
	"math/rand/v2"
	"testing"
)

// fuzzValue builds an abstract value of the shape kind from fuzzer-chosen numbers.
func fuzzValue(kind uint8, p, q, m uint64) Value {
	switch kind % 10 {
	case 0:
		return Const(p)
	case 1:
		return UnsignedRange(min(p, q), max(p, q))
	case 2:
		return SignedRange(min(int64(p), int64(q)), max(int64(p), int64(q)))
	case 3:
		return Bits(p, m)
	case 4:
		x, y := uint64(uint32(p)), uint64(uint32(q))
		return UnsignedRange(min(x, y), max(x, y))
	case 5:
		return Meet(UnsignedRange(min(p, q), max(p, q)), Bits(p, m))
	case 6:
		v := Top()
		x, y := int32(p), int32(q)
		v.s32min, v.s32max = min(x, y), max(x, y)
		return v.normalize()
	case 7:
		v := Top()
		x, y := uint32(p), uint32(q)
		v.u32min, v.u32max = min(x, y), max(x, y)
		v.t = tnum{m &^ (q << 32), q << 32}
		return v.normalize()
	case 8:
		return Join(Const(p), Const(q))
	}
	return Top()
}

// FuzzALU checks the soundness of every ALU operation in both widths, of the unary operations
// and of the branch refinements, on abstract values and members chosen by the fuzzer: the
// concrete eBPF result must lie in the abstract result in every view.
func FuzzALU(f *testing.F) {
	f.Add(uint8(0), uint8(0), uint64(1), uint64(2), uint64(0), uint8(1), uint64(3), uint64(4), uint64(0), uint64(0), uint64(0))
	f.Add(uint8(4), uint8(2), uint64(1<<63), uint64(math.MaxUint64), uint64(0xff), uint8(2), uint64(math.MaxUint64), uint64(1), uint64(0), uint64(7), uint64(9))
	f.Add(uint8(6), uint8(5), uint64(math.MaxInt32), uint64(1<<31), uint64(0xf0f0), uint8(6), uint64(0), uint64(0), uint64(1<<32-1), uint64(3), uint64(5))
	f.Fuzz(func(t *testing.T, opb, ka uint8, pa, qa, ma uint64, kb uint8, pb, qb, mb, seed1, seed2 uint64) {
		a := fuzzValue(ka, pa, qa, ma)
		b := fuzzValue(kb, pb, qb, mb)
		r := rand.New(rand.NewPCG(seed1, seed2))
		x, ok1 := member(r, a)
		y, ok2 := member(r, b)
		if !ok1 || !ok2 {
			return
		}
		op := Op(opb % uint8(Mov+1))
		for _, alu64 := range []bool{true, false} {
			checkALU(t, op, alu64, a, b, x, y)
		}
		u := unaries[int(opb)%len(unaries)]
		if res, z := u.abs(a), u.ref(x); !res.Contains(z) {
			t.Fatalf("%s unsound:\n a=%s\n x=%#x -> %#x\n res=%s", u.name, dump(a), x, z, dump(res))
		}
		c := Cond(opb>>4) % (JSET + 1)
		checkBranch(t, c, opb&8 != 0, a, b, x, y)
		// Lattice operations keep the members.
		if j := Join(a, b); !j.Contains(x) || !j.Contains(y) {
			t.Fatalf("join lost a member:\n a=%s\n b=%s\n j=%s", dump(a), dump(b), dump(j))
		}
		if w := Widen(a, b); !w.Contains(x) || !w.Contains(y) {
			t.Fatalf("widen lost a member:\n a=%s\n b=%s\n w=%s", dump(a), dump(b), dump(w))
		}
		if b.Contains(x) {
			if m, n := Meet(a, b), Narrow(a, b); !m.Contains(x) || !n.Contains(x) {
				t.Fatalf("meet/narrow lost %#x:\n a=%s\n b=%s\n m=%s\n n=%s", x, dump(a), dump(b), dump(m), dump(n))
			}
		}
		_ = a.String()
	})
}
