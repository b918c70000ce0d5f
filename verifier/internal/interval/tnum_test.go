package interval

import (
	"math/rand/v2"
	"testing"
)

// TestTnumStep checks minAbove and maxBelow against a search of every 10-bit number.
func TestTnumStep(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8^seed()))
	const n = 1 << 10
	for range 300 {
		m := r.Uint64N(n)
		tn := tnum{r.Uint64N(n) &^ m, m}
		for lo := uint64(0); lo < n; lo++ {
			want, found := uint64(0), false
			for x := lo; x < n; x++ {
				if tn.contains(x) {
					want, found = x, true
					break
				}
			}
			if got, ok := tn.minAbove(lo); ok != found || (ok && got != want) {
				t.Fatalf("minAbove(%#x) of (%#x; %#x) = %#x, %v; want %#x, %v", lo, tn.v, tn.m, got, ok, want, found)
			}
			want, found = 0, false
			for x := int64(lo); x >= 0; x-- {
				if tn.contains(uint64(x)) {
					want, found = uint64(x), true
					break
				}
			}
			if got, ok := tn.maxBelow(lo); ok != found || (ok && got != want) {
				t.Fatalf("maxBelow(%#x) of (%#x; %#x) = %#x, %v; want %#x, %v", lo, tn.v, tn.m, got, ok, want, found)
			}
		}
	}
}

// TestTnumOps checks the tnum operations on random members.
func TestTnumOps(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9^seed()))
	ops := []struct {
		name string
		abs  func(a, b tnum) tnum
		ref  func(x, y uint64) uint64
	}{
		{"add", tnum.add, func(x, y uint64) uint64 { return x + y }},
		{"sub", tnum.sub, func(x, y uint64) uint64 { return x - y }},
		{"mul", tnum.mul, func(x, y uint64) uint64 { return x * y }},
		{"and", tnum.and, func(x, y uint64) uint64 { return x & y }},
		{"or", tnum.or, func(x, y uint64) uint64 { return x | y }},
		{"xor", tnum.xor, func(x, y uint64) uint64 { return x ^ y }},
		{"join", tnum.join, func(x, y uint64) uint64 { return x }},
	}
	for range samples() {
		ma, mb := randMask(r), randMask(r)
		a, b := tnum{randNum(r) &^ ma, ma}, tnum{randNum(r) &^ mb, mb}
		x, y := a.v|r.Uint64()&a.m, b.v|r.Uint64()&b.m
		for _, op := range ops {
			if res := op.abs(a, b); !res.contains(op.ref(x, y)) || res.v&res.m != 0 {
				t.Fatalf("tnum %s of (%#x; %#x) and (%#x; %#x) misses %#x", op.name, a.v, a.m, b.v, b.m, op.ref(x, y))
			}
		}
		if res := a.neg(); !res.contains(-x) {
			t.Fatalf("tnum neg of (%#x; %#x) misses %#x", a.v, a.m, -x)
		}
		if m, ok := a.meet(b); a.contains(y) && (!ok || !m.contains(y)) {
			t.Fatalf("tnum meet lost %#x", y)
		}
	}
}
