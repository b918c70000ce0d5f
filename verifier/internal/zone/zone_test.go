package zone

import (
	"math"
	"strings"
	"testing"
)

// packetSpace holds the variables of the PREVAIL motivating example: the packet offsets of
// r2, r3 and r4 and the packet size (the offset of data_end).
func packetSpace() (*Space, Var, Var, Var, Var) {
	s := NewSpace("r2.off", "r3.off", "r4.off", "packet_end")
	r2, _ := s.Lookup("r2.off")
	r3, _ := s.Lookup("r3.off")
	r4, _ := s.Lookup("r4.off")
	end, _ := s.Lookup("packet_end")
	return s, r2, r3, r4, end
}

// TestPacketBoundsCheck follows the example that motivates PREVAIL's zone domain:
//
//	r2 = data; r3 = r2 + 14; if r3 > data_end goto out; ... access [r2, r2+14)
//
// On the fall-through edge r2.off + 14 <= packet_end must hold, also through a copy
// r4 = r2, and also when r2's offset is not a known constant.
func TestPacketBoundsCheck(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setR2 func(d *DBM, r2 Var)
	}{
		{"r2 = data", func(d *DBM, r2 Var) { d.AssignConst(r2, 0) }},
		{"r2 = data + unknown", func(d *DBM, r2 Var) { d.AssignRange(r2, 0, 0xffff) }},
		{"r2 = data + unbounded", func(d *DBM, r2 Var) { d.AssignRange(r2, NegInf, Inf) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, r2, r3, r4, end := packetSpace()
			d := s.Top()
			d.AddLower(end, 0)
			d.AddUpper(end, 0xffff)
			tc.setR2(d, r2)
			d.Assign(r3, r2, 14)
			taken := d.Clone()
			taken.AddConstraint(end, r3, -1) // r3 > data_end: packet_end − r3 ≤ −1
			d.AddConstraint(r3, end, 0)      // r3 <= data_end
			if !d.Entails(r2, end, -14) {
				t.Errorf("fall-through: r2.off + 14 <= packet_end not entailed: %v", d)
			}
			if taken.Entails(r2, end, -14) {
				t.Errorf("taken: r2.off + 14 <= packet_end entailed: %v", taken)
			}
			if tc.name != "r2 = data" && !strings.Contains(d.String(), "r2.off + 14 <= packet_end") {
				t.Errorf("String() = %q, want it to mention r2.off + 14 <= packet_end", d.String())
			}
			d.Assign(r4, r2, 0)
			d.Forget(r2)
			d.Forget(r3)
			if !d.Entails(r4, end, -14) {
				t.Errorf("after copy r4 = r2 and forgetting r2, r3: r4.off + 14 <= packet_end not entailed: %v", d)
			}
			d.Increment(r4, 4)
			if !d.Entails(r4, end, -10) || d.Entails(r4, end, -11) {
				t.Errorf("r4 += 4: want exactly r4.off + 10 <= packet_end: %v", d)
			}
			if lo, hi := d.DiffBounds(end, r4); lo != 10 || hi != Inf && hi < 10 {
				t.Errorf("DiffBounds(packet_end, r4) = %d, %d; want lo 10", lo, hi)
			}
		})
	}
}

func TestJoinKeepsCommonRelations(t *testing.T) {
	s := NewSpace("x", "y", "z")
	x, y, z := Var(1), Var(2), Var(3)
	a := s.Top()
	a.AddEqual(x, y, 2)
	a.AssignConst(z, 1)
	b := s.Top()
	b.AssignRange(y, 10, 20)
	b.Assign(x, y, 2)
	b.AssignConst(z, 5)
	a.Join(b)
	if !a.Entails(x, y, 2) || !a.Entails(y, x, -2) {
		t.Errorf("join lost x = y + 2: %v", a)
	}
	if lo, hi := a.Bounds(z); lo != 1 || hi != 5 {
		t.Errorf("join: z in [%d, %d], want [1, 5]", lo, hi)
	}
	if lo, hi := a.Bounds(y); lo != NegInf || hi != Inf {
		t.Errorf("join: y in [%d, %d], want unbounded", lo, hi)
	}
	if got, want := a.String(), "1 <= z <= 5; x = y + 2"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	// Joining with bottom changes nothing; joining bottom with d gives d.
	before := a.Clone()
	a.Join(s.Bottom())
	if !a.Equal(before) {
		t.Errorf("d ⊔ ⊥ = %v, want %v", a, before)
	}
	bot := s.Bottom()
	bot.Join(before)
	if !bot.Equal(before) {
		t.Errorf("⊥ ⊔ d = %v, want %v", bot, before)
	}
}

// TestWideningTerminates runs the loop
//
//	i = 0; n = unknown >= 0; while (i < n) i++;
//
// with widening at the head and checks that the iteration stabilizes, keeps i >= 0 and
// i <= n, and that narrowing then restores nothing that does not hold.
func TestWideningTerminates(t *testing.T) {
	s := NewSpace("i", "n")
	i, n := Var(1), Var(2)
	entry := s.Top()
	entry.AddLower(n, 0)
	entry.AddUpper(n, 1000)
	entry.AssignConst(i, 0)

	body := func(head *DBM) *DBM {
		d := head.Clone()
		d.AddConstraint(i, n, -1) // i < n
		d.Increment(i, 1)
		return d
	}
	head := entry.Clone()
	steps := 0
	for ; steps < 100; steps++ {
		next := entry.Clone()
		next.Join(body(head))
		if next.LessEq(head) {
			break
		}
		head.Widen(next)
	}
	if steps >= 100 {
		t.Fatalf("widening did not stabilize: %v", head)
	}
	if steps > 4 {
		t.Errorf("widening took %d steps", steps)
	}
	if !head.Entails(i, n, 0) || !head.Entails(Zero, i, 0) {
		t.Errorf("loop head invariant lost 0 <= i <= n: %v", head)
	}
	// Narrowing recovers the upper bound of i from n's.
	next := entry.Clone()
	next.Join(body(head))
	head.Narrow(next)
	if _, hi := head.Bounds(i); hi != 1000 {
		t.Errorf("after narrowing, i <= %d, want 1000: %v", hi, head)
	}
	exit := head.Clone()
	exit.AddConstraint(n, i, 0) // i >= n
	if !exit.Entails(i, n, 0) || !exit.Entails(n, i, 0) {
		t.Errorf("loop exit: want i = n: %v", exit)
	}
}

// TestWideningCounterWithoutBound widens a counter with no guard: the upper bound must be
// dropped in one step and the lower bound kept.
func TestWideningCounterWithoutBound(t *testing.T) {
	s := NewSpace("i")
	i := Var(1)
	head := s.Top()
	head.AssignConst(i, 0)
	for k := 0; k < 10; k++ {
		next := head.Clone()
		next.Increment(i, 1)
		next.Join(head)
		if next.LessEq(head) {
			if lo, hi := head.Bounds(i); lo != 0 || hi != Inf {
				t.Errorf("i in [%d, %d], want [0, +inf)", lo, hi)
			}
			return
		}
		head.Widen(next)
	}
	t.Fatalf("no fixpoint after 10 widenings: %v", head)
}

func TestBottom(t *testing.T) {
	s := NewSpace("x", "y")
	x, y := Var(1), Var(2)
	for _, tc := range []struct {
		name string
		make func() *DBM
	}{
		{"x <= 3, x >= 5", func() *DBM { d := s.Top(); d.AddUpper(x, 3); d.AddLower(x, 5); return d }},
		{"x - y <= -1, y - x <= 0", func() *DBM { d := s.Top(); d.AddConstraint(x, y, -1); d.AddConstraint(y, x, 0); return d }},
		{"x - x <= -1", func() *DBM { d := s.Top(); d.AddConstraint(x, x, -1); return d }},
		{"meet of disjoint", func() *DBM {
			a := s.Top()
			a.AddUpper(x, 0)
			b := s.Top()
			b.AddLower(x, 1)
			a.Meet(b)
			return a
		}},
	} {
		d := tc.make()
		if !d.IsBottom() {
			t.Errorf("%s: not bottom: %v", tc.name, d)
		}
		if d.String() != "_|_" {
			t.Errorf("%s: String() = %q", tc.name, d.String())
		}
		if !d.LessEq(s.Top()) || s.Top().LessEq(d) {
			t.Errorf("%s: wrong order with top", tc.name)
		}
	}
	if s.Top().IsBottom() || !s.Top().IsTop() || s.Top().String() != "{}" {
		t.Errorf("top misbehaves: %v", s.Top())
	}
}

// TestNoOverflow checks that bounds saturate instead of wrapping.
func TestNoOverflow(t *testing.T) {
	s := NewSpace("x", "y")
	x, y := Var(1), Var(2)
	d := s.Top()
	d.AssignConst(x, math.MaxInt64-1)
	d.Increment(x, 10)
	lo, hi := d.Bounds(x)
	if hi != Inf || lo < math.MaxInt64-1 {
		t.Errorf("x = MaxInt64-1 + 10: bounds [%d, %d]; want [>= MaxInt64-1, +inf)", lo, hi)
	}
	d.AssignConst(y, math.MinInt64)
	d.Increment(y, -5)
	lo, hi = d.Bounds(y)
	if lo != NegInf || hi > math.MinInt64+1 && hi != math.MinInt64+1 {
		t.Errorf("y = MinInt64 - 5: bounds [%d, %d]", lo, hi)
	}
	if d.IsBottom() {
		t.Errorf("saturation made the DBM empty: %v", d)
	}
	d.Assign(x, y, math.MinInt64)
	d.Assign(y, x, math.MaxInt64)
	d.AddConstraint(x, y, math.MinInt64)
	_ = d.String()
	e := s.Top()
	e.AddUpper(x, math.MinInt64)
	e.AddLower(x, math.MinInt64)
	e.AddLower(y, math.MaxInt64)
	if e.IsBottom() {
		t.Errorf("x = MinInt64, y >= MaxInt64 is satisfiable: %v", e)
	}
}

// TestInvalidVariables checks that variables outside the space and mismatched spaces never
// panic and give conservative answers.
func TestInvalidVariables(t *testing.T) {
	s := NewSpace("x")
	d := s.Top()
	for _, v := range []Var{-1, 2, 1000} {
		d.AddConstraint(v, 1, -5)
		d.AddUpper(v, 1)
		d.Assign(v, 1, 3)
		d.Assign(1, v, 3)
		d.Increment(v, 1)
		d.Forget(v)
		if d.Entails(v, Zero, 100) {
			t.Errorf("Entails on invalid variable %d", v)
		}
		if lo, hi := d.Bounds(v); lo != NegInf || hi != Inf {
			t.Errorf("Bounds(%d) = %d, %d", v, lo, hi)
		}
		_ = s.Name(v)
	}
	d.Assign(Zero, 1, 3)
	if d.IsBottom() {
		t.Error("assigning Zero made the DBM empty")
	}
	other := NewSpace("a", "b").Top()
	other.AssignConst(1, 5)
	d.Join(other)
	d.Meet(other)
	d.Widen(other)
	d.Narrow(other)
	if d.LessEq(other) || d.Equal(other) {
		t.Error("DBMs of different sizes compare as included")
	}
}

func TestCopyReusesBuffer(t *testing.T) {
	s := NewSpace("a", "b", "c")
	src := s.Top()
	src.AddEqual(1, 2, 7)
	dst := s.Top()
	buf := &dst.m[0]
	dst.CopyFrom(src)
	if &dst.m[0] != buf {
		t.Error("CopyFrom allocated a new matrix")
	}
	if !dst.Equal(src) {
		t.Errorf("copy %v differs from %v", dst, src)
	}
	dst.Forget(1)
	if !src.Entails(1, 2, 7) {
		t.Error("changing the copy changed the original")
	}
	if n := testing.AllocsPerRun(100, func() { dst.CopyFrom(src) }); n != 0 {
		t.Errorf("CopyFrom: %v allocations", n)
	}
}

func TestString(t *testing.T) {
	s := NewSpace("a", "b", "c")
	a, b, c := Var(1), Var(2), Var(3)
	d := s.Top()
	d.AssignConst(a, 3)
	d.AddLower(b, 0)
	d.AddConstraint(b, c, -14)
	if got, want := d.String(), "a = 3; b >= 0; c >= 14; b + 14 <= c"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	d = s.Top()
	d.AddUpper(a, -2)
	d.AddConstraint(b, c, 5)
	if got, want := d.String(), "a <= -2; b <= c + 5"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
