package zone

import (
	"encoding/binary"
	"math"
	"testing"
)

// FuzzOps applies a sequence of operations decoded from the input, with extreme constants
// and out-of-range variables, to two DBMs: nothing may panic, and every non-empty DBM must
// report consistent bounds.
func FuzzOps(f *testing.F) {
	f.Add([]byte{0, 1, 2, 0x80, 3, 1, 0, 0xff, 9, 2, 1, 1})
	f.Add([]byte{5, 1, 1, 0x7f, 6, 2, 1, 0x80, 11, 0, 0, 0, 12, 0, 0, 0})
	s := NewSpace("a", "b", "c")
	consts := []int64{0, 1, -1, 14, -14, math.MaxInt64, math.MinInt64, math.MaxInt64 - 1, math.MinInt64 + 1, 1 << 32}
	f.Fuzz(func(t *testing.T, prog []byte) {
		d, e := s.Top(), s.Top()
		for len(prog) >= 4 {
			op, x, y, k := prog[0], Var(int8(prog[1])%5), Var(int8(prog[2])%5), prog[3]
			prog = prog[4:]
			c := consts[int(k)%len(consts)]
			if k >= 128 && len(prog) >= 8 {
				c = int64(binary.LittleEndian.Uint64(prog))
				prog = prog[8:]
			}
			switch op % 16 {
			case 0:
				d.AddConstraint(x, y, c)
			case 1:
				d.AddUpper(x, c)
			case 2:
				d.AddLower(x, c)
			case 3:
				d.AddEqual(x, y, c)
			case 4:
				d.Assign(x, y, c)
			case 5:
				d.AssignConst(x, c)
			case 6:
				d.AssignRange(x, c, c+int64(k))
			case 7:
				d.Increment(x, c)
			case 8:
				d.Forget(x)
			case 9:
				d.Join(e)
			case 10:
				d.Meet(e)
			case 11:
				d.Widen(e)
			case 12:
				d.Narrow(e)
			case 13:
				d, e = e, d
			case 14:
				e.CopyFrom(d)
			case 15:
				_ = d.String()
				_ = d.LessEq(e)
				_ = d.Equal(e)
				_ = d.Entails(x, y, c)
			}
		}
		for _, z := range []*DBM{d, e} {
			if z.IsBottom() {
				continue
			}
			for v := Var(0); v <= 3; v++ {
				if lo, hi := z.Bounds(v); lo > hi {
					t.Fatalf("non-empty %v has bounds [%d, %d] for %v", z, lo, hi, v)
				}
			}
		}
	})
}
