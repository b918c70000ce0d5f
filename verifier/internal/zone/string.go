package zone

import "strings"

// String lists the constraints of d for diagnostics, one per relation, separated by
// "; ": "x = 3", "0 <= x <= 9", "r3.off = r2.off + 14", "r2.off + 14 <= packet_end".
// Relations implied by the unary bounds alone are left out. Top is "{}" and bottom
// "_|_". String closes d.
func (d *DBM) String() string {
	if d.IsBottom() {
		return "_|_"
	}
	n, m := d.dim, d.m
	name := d.space.Name
	var parts []string
	for i := 1; i < n; i++ {
		lo, hi := negBound(m[i]), m[i*n]
		x := name(Var(i))
		switch {
		case lo == hi:
			parts = append(parts, x+" = "+itoa(hi))
		case lo != NegInf && hi != Inf:
			parts = append(parts, itoa(lo)+" <= "+x+" <= "+itoa(hi))
		case lo != NegInf:
			parts = append(parts, x+" >= "+itoa(lo))
		case hi != Inf:
			parts = append(parts, x+" <= "+itoa(hi))
		}
	}
	// implied reports whether x_i − x_j ≤ c follows from the bounds of x_i and x_j.
	implied := func(i, j int, c int64) bool {
		hi, lo := m[i*n], m[j] // x_i ≤ hi, −x_j ≤ lo
		return hi != Inf && lo != Inf && add(hi, lo) <= c
	}
	for i := 1; i < n; i++ {
		for j := 1; j < n; j++ {
			if i == j {
				continue
			}
			c, back := m[i*n+j], m[j*n+i]
			if c == Inf || implied(i, j, c) {
				continue
			}
			x, y := name(Var(i)), name(Var(j))
			if back != Inf && back == sub(0, c) && c != minBound {
				// Equality x_i = x_j + c: print it once, from the smaller index.
				if i < j {
					parts = append(parts, x+" = "+withOffset(y, c))
				}
				continue
			}
			// x_i − x_j ≤ c
			if c < 0 && c != minBound {
				parts = append(parts, withOffset(x, -c)+" <= "+y)
			} else {
				parts = append(parts, x+" <= "+withOffset(y, c))
			}
		}
	}
	if len(parts) == 0 {
		return "{}"
	}
	return strings.Join(parts, "; ")
}

// withOffset formats "v + c", "v - c" or "v".
func withOffset(v string, c int64) string {
	switch {
	case c == 0:
		return v
	case c < 0 && c != minBound:
		return v + " - " + itoa(-c)
	default:
		return v + " + " + itoa(c)
	}
}
