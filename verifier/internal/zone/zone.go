// Package zone implements the zone abstract domain: conjunctions of difference
// constraints x − y ≤ c over integer variables, kept as a dense difference-bound matrix
// (DBM). A distinguished variable Zero, always equal to 0, lets the same matrix hold unary
// bounds: x ≤ c is x − Zero ≤ c and x ≥ c is Zero − x ≤ −c.
//
// The verifier uses it for relations an interval domain cannot express, such as
// "r2.off + 14 <= packet_end" surviving copies and offsets of the packet pointer.
//
// Bounds are int64 with Inf meaning "no constraint". Arithmetic on bounds never wraps: a
// result above the int64 range becomes Inf and one below becomes the smallest storable
// bound, both of which only weaken constraints, so every operation stays sound.
//
// A DBM is a value of the lattice; operations update the receiver in place so that the
// caller controls allocation (Clone and CopyFrom reuse or make one buffer). Variables
// outside the DBM's space are ignored: constraints on them are dropped and queries about
// them report that nothing is known. Operations between DBMs of different sizes return a
// sound, conservative answer instead of failing.
package zone

// Var names a variable of a Space. Zero is the constant 0; the space's own variables are
// numbered from 1.
type Var int

// Zero is the variable that always holds 0.
const Zero Var = 0

// Space is a fixed set of named variables shared by many DBMs.
type Space struct {
	names []string // names[0] is "0"
	index map[string]Var
}

// NewSpace returns a space whose variables are the given names, numbered from 1 in order.
// Duplicate names get distinct variables; Lookup finds the first.
func NewSpace(names ...string) *Space {
	s := &Space{names: make([]string, 1, len(names)+1), index: make(map[string]Var, len(names))}
	s.names[0] = "0"
	for _, n := range names {
		if _, dup := s.index[n]; !dup {
			s.index[n] = Var(len(s.names))
		}
		s.names = append(s.names, n)
	}
	return s
}

// Len returns the number of variables, not counting Zero.
func (s *Space) Len() int { return len(s.names) - 1 }

// Name returns the name of v, or "v<N>" for a variable outside the space.
func (s *Space) Name(v Var) string {
	if v < 0 || int(v) >= len(s.names) {
		return "v" + itoa(int64(v))
	}
	return s.names[v]
}

// Lookup returns the variable with the given name.
func (s *Space) Lookup(name string) (Var, bool) {
	v, ok := s.index[name]
	return v, ok
}

// Top returns the DBM of the space with no constraints.
func (s *Space) Top() *DBM {
	n := len(s.names)
	d := &DBM{space: s, dim: n, m: make([]int64, n*n), closed: true}
	d.fillTop()
	return d
}

// Bottom returns the empty DBM of the space.
func (s *Space) Bottom() *DBM {
	d := s.Top()
	d.bottom = true
	return d
}

// DBM is a conjunction of difference constraints over the variables of a Space. The zero
// value is not usable; obtain one from Space.Top or Space.Bottom.
type DBM struct {
	space *Space
	dim   int     // variables including Zero
	m     []int64 // m[i*dim+j] bounds x_i − x_j
	// closed says every entry is the tightest bound implied by the others (shortest-path
	// closure) and the matrix is not empty unless bottom is set.
	closed bool
	bottom bool
}

// Space returns the variables the DBM ranges over.
func (d *DBM) Space() *Space { return d.space }

func (d *DBM) fillTop() {
	for i := range d.m {
		d.m[i] = Inf
	}
	for i := 0; i < d.dim; i++ {
		d.m[i*d.dim+i] = 0
	}
}

func (d *DBM) valid(v Var) bool { return v >= 0 && int(v) < d.dim }

// Clone returns an independent copy of d.
func (d *DBM) Clone() *DBM {
	c := *d
	c.m = append([]int64(nil), d.m...)
	return &c
}

// CopyFrom makes d a copy of o, reusing d's matrix when it is large enough.
func (d *DBM) CopyFrom(o *DBM) {
	m := d.m
	if cap(m) < len(o.m) {
		m = make([]int64, len(o.m))
	}
	m = m[:len(o.m)]
	copy(m, o.m)
	*d = *o
	d.m = m
}

// SetTop removes every constraint.
func (d *DBM) SetTop() {
	d.fillTop()
	d.closed, d.bottom = true, false
}

// SetBottom makes d empty.
func (d *DBM) SetBottom() {
	d.fillTop()
	d.closed, d.bottom = true, true
}

// IsBottom reports whether the constraints are unsatisfiable. It closes d.
func (d *DBM) IsBottom() bool {
	d.Close()
	return d.bottom
}

// IsTop reports whether d has no constraints at all.
func (d *DBM) IsTop() bool {
	if d.IsBottom() {
		return false
	}
	for i := 0; i < d.dim; i++ {
		for j := 0; j < d.dim; j++ {
			if i != j && d.m[i*d.dim+j] != Inf {
				return false
			}
		}
	}
	return true
}

// Close computes the shortest-path closure (Floyd–Warshall, O(n³)), after which every
// entry is the tightest implied bound, and detects emptiness (a negative cycle). It does
// nothing when d is already closed.
func (d *DBM) Close() {
	if d.closed || d.bottom {
		d.closed = true
		return
	}
	n, m := d.dim, d.m
	for k := 0; k < n; k++ {
		rowK := m[k*n : k*n+n]
		for i := 0; i < n; i++ {
			ik := m[i*n+k]
			if ik == Inf {
				continue
			}
			rowI := m[i*n : i*n+n]
			for j, kj := range rowK {
				if kj == Inf {
					continue
				}
				if s := add(ik, kj); s < rowI[j] {
					rowI[j] = s
				}
			}
		}
		if m[k*n+k] < 0 {
			d.SetBottom()
			return
		}
	}
	for i := 0; i < n; i++ {
		if m[i*n+i] < 0 {
			d.SetBottom()
			return
		}
	}
	d.closed = true
}
