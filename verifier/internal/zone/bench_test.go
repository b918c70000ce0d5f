package zone

import (
	"fmt"
	"testing"
)

// benchState returns a DBM over n variables with a chain of relations, as a verifier state
// with many packet offsets might have.
func benchState(n int) *DBM {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("v%d", i)
	}
	d := NewSpace(names...).Top()
	for i := 1; i < n; i++ {
		d.AddConstraint(Var(i), Var(i+1), int64(-i))
		d.AddLower(Var(i), 0)
	}
	return d
}

func BenchmarkOps(b *testing.B) {
	for _, n := range []int{30, 60} {
		d := benchState(n)
		other := d.Clone()
		other.Increment(1, 3)
		b.Run(fmt.Sprintf("Clone/%d", n), func(b *testing.B) {
			for b.Loop() {
				_ = d.Clone()
			}
		})
		dst := d.Clone()
		b.Run(fmt.Sprintf("CopyFrom/%d", n), func(b *testing.B) {
			for b.Loop() {
				dst.CopyFrom(d)
			}
		})
		b.Run(fmt.Sprintf("AddConstraint/%d", n), func(b *testing.B) {
			for b.Loop() {
				dst.CopyFrom(d)
				dst.AddConstraint(Var(n), Var(1), 1000)
			}
		})
		b.Run(fmt.Sprintf("Assign/%d", n), func(b *testing.B) {
			for b.Loop() {
				dst.CopyFrom(d)
				dst.Assign(Var(2), Var(n), 14)
			}
		})
		b.Run(fmt.Sprintf("Join/%d", n), func(b *testing.B) {
			for b.Loop() {
				dst.CopyFrom(d)
				dst.Join(other)
			}
		})
		b.Run(fmt.Sprintf("Close/%d", n), func(b *testing.B) {
			for b.Loop() {
				dst.CopyFrom(d)
				dst.closed = false
				dst.Close()
			}
		})
	}
}
