package zone

import (
	"math/rand/v2"
	"testing"
)

// constraint is x − y ≤ c over variable indices (0 is Zero).
type constraint struct {
	x, y Var
	c    int64
}

const (
	randVars = 3
	radius   = 6 // points range over [-radius, radius] in every coordinate
)

// point is a value for Zero (always 0) and each variable.
type point [randVars + 1]int64

func satisfies(p point, cs []constraint) bool {
	for _, c := range cs {
		if p[c.x]-p[c.y] > c.c {
			return false
		}
	}
	return true
}

// contains reports whether p satisfies every entry of d's matrix, closed or not.
func contains(d *DBM, p point) bool {
	if d.bottom {
		return false
	}
	for i := 0; i < d.dim; i++ {
		for j := 0; j < d.dim; j++ {
			if v := d.m[i*d.dim+j]; v != Inf && p[i]-p[j] > v {
				return false
			}
		}
	}
	return true
}

func allPoints() []point {
	var pts []point
	var rec func(k int, p point)
	rec = func(k int, p point) {
		if k > randVars {
			pts = append(pts, p)
			return
		}
		for v := int64(-radius); v <= radius; v++ {
			p[k] = v
			rec(k+1, p)
		}
	}
	rec(1, point{})
	return pts
}

func randConstraints(r *rand.Rand) []constraint {
	cs := make([]constraint, r.IntN(6))
	for i := range cs {
		cs[i] = constraint{Var(r.IntN(randVars + 1)), Var(r.IntN(randVars + 1)), int64(r.IntN(11) - 5)}
	}
	return cs
}

func build(s *Space, cs []constraint) *DBM {
	d := s.Top()
	for _, c := range cs {
		d.AddConstraint(c.x, c.y, c.c)
	}
	return d
}

// buildFull sets the entries directly and closes with Floyd–Warshall.
func buildFull(s *Space, cs []constraint) *DBM {
	d := s.Top()
	for _, c := range cs {
		if i := int(c.x)*d.dim + int(c.y); c.c < d.m[i] {
			d.m[i] = c.c
		}
	}
	d.closed = false
	d.Close()
	return d
}

// TestRandomSoundness checks every operation against the integer points of a box: the
// result of each operation must contain every point the concrete operation can produce
// (and closure and meet, which are exact, no other point of the box).
func TestRandomSoundness(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	s := NewSpace("x", "y", "z")
	pts := allPoints()
	for trial := 0; trial < 400; trial++ {
		ca, cb := randConstraints(r), randConstraints(r)
		a, b := build(s, ca), build(s, cb)
		full := buildFull(s, ca)
		if a.IsBottom() != full.IsBottom() || !a.Equal(full) {
			t.Fatalf("incremental closure %v differs from full closure %v of %v", a, full, ca)
		}
		join := a.Clone()
		join.Join(b)
		meet := a.Clone()
		meet.Meet(b)
		widen := a.Clone()
		widen.Widen(b)
		narrow := a.Clone()
		narrow.Narrow(meet)
		x, y := Var(1+r.IntN(randVars)), Var(r.IntN(randVars+1))
		c := int64(r.IntN(7) - 3)
		assign := a.Clone()
		assign.Assign(x, y, c)
		incr := a.Clone()
		incr.Increment(x, c)
		forget := a.Clone()
		forget.Forget(x)
		lo, hi := a.Bounds(x)
		dlo, dhi := a.DiffBounds(x, y)
		aInB := a.LessEq(b)
		sawA := false
		for _, p := range pts {
			inA, inB := satisfies(p, ca), satisfies(p, cb)
			sawA = sawA || inA
			if inA != contains(a, p) {
				t.Fatalf("closure of %v: point %v: constraints say %v, DBM %v says %v", ca, p, inA, a, !inA)
			}
			if (inA || inB) && !contains(join, p) {
				t.Fatalf("join %v of %v and %v misses %v", join, a, b, p)
			}
			if (inA && inB) != contains(meet, p) {
				t.Fatalf("meet %v of %v and %v wrong at %v", meet, a, b, p)
			}
			if (inA || inB) && !contains(widen, p) {
				t.Fatalf("widening %v of %v and %v misses %v", widen, a, b, p)
			}
			if inA && inB && !contains(narrow, p) || contains(narrow, p) && !inA {
				t.Fatalf("narrowing %v of %v by %v wrong at %v", narrow, a, meet, p)
			}
			if aInB && inA && !inB {
				t.Fatalf("%v LessEq %v, but %v is only in the first", a, b, p)
			}
			if !inA {
				continue
			}
			if p[x] < lo || p[x] > hi {
				t.Fatalf("Bounds(%v) of %v = [%d, %d] excludes %v", x, a, lo, hi, p)
			}
			if d := p[x] - p[y]; d < dlo || d > dhi {
				t.Fatalf("DiffBounds(%v, %v) of %v = [%d, %d] excludes %v", x, y, a, dlo, dhi, p)
			}
			q := p
			q[x] = p[y] + c
			if !contains(assign, q) {
				t.Fatalf("x%d := x%d + %d on %v gives %v, which misses %v", x, y, c, a, assign, q)
			}
			q = p
			q[x] += c
			if !contains(incr, q) {
				t.Fatalf("x%d += %d on %v gives %v, which misses %v", x, c, a, incr, q)
			}
			for v := int64(-radius); v <= radius; v++ {
				q = p
				q[x] = v
				if !contains(forget, q) {
					t.Fatalf("forget x%d on %v gives %v, which misses %v", x, a, forget, q)
				}
			}
		}
		if sawA && a.IsBottom() {
			t.Fatalf("%v is bottom but has points", ca)
		}
	}
}
