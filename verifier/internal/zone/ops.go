package zone

// AddConstraint adds x − y ≤ c and restores closure incrementally in O(n²). Adding a
// constraint that contradicts d makes d bottom. A bound of Inf adds nothing; constraints
// on variables outside the space are dropped.
func (d *DBM) AddConstraint(x, y Var, c int64) {
	d.Close()
	if d.bottom || !d.valid(x) || !d.valid(y) || c == Inf {
		return
	}
	c = clampBound(c)
	n, m := d.dim, d.m
	xi, yi := int(x), int(y)
	if x == y {
		if c < 0 {
			d.SetBottom()
		}
		return
	}
	if c >= m[xi*n+yi] {
		return // already implied
	}
	if add(c, m[yi*n+xi]) < 0 {
		d.SetBottom()
		return
	}
	// Every shortest path that improves goes i → x → y → j through the new edge.
	for i := 0; i < n; i++ {
		ix := m[i*n+xi]
		if ix == Inf {
			continue
		}
		ixc := add(ix, c)
		rowI := m[i*n : i*n+n]
		rowY := m[yi*n : yi*n+n]
		for j, yj := range rowY {
			if yj == Inf {
				continue
			}
			if s := add(ixc, yj); s < rowI[j] {
				rowI[j] = s
			}
		}
	}
}

// AddUpper adds x ≤ c.
func (d *DBM) AddUpper(x Var, c int64) { d.AddConstraint(x, Zero, c) }

// AddLower adds x ≥ c.
func (d *DBM) AddLower(x Var, c int64) {
	if c == NegInf {
		return
	}
	d.AddConstraint(Zero, x, sub(0, c))
}

// AddEqual adds x = y + c.
func (d *DBM) AddEqual(x, y Var, c int64) {
	d.AddConstraint(x, y, c)
	d.AddConstraint(y, x, sub(0, c))
}

// Forget removes every constraint on x (havoc: x may now hold any value).
func (d *DBM) Forget(x Var) {
	d.Close()
	if d.bottom || !d.valid(x) || x == Zero {
		return
	}
	n, m, xi := d.dim, d.m, int(x)
	for j := 0; j < n; j++ {
		m[xi*n+j] = Inf
		m[j*n+xi] = Inf
	}
	m[xi*n+xi] = 0
}

// Assign performs x := y + c. x and y may be the same variable.
func (d *DBM) Assign(x, y Var, c int64) {
	if x == y {
		d.Increment(x, c)
		return
	}
	d.Close()
	if d.bottom || !d.valid(x) || x == Zero {
		return
	}
	if !d.valid(y) {
		d.Forget(x)
		return
	}
	d.Forget(x)
	n, m, xi, yi := d.dim, d.m, int(x), int(y)
	// x equals y + c, so every bound on y shifts to x; the result stays closed.
	for j := 0; j < n; j++ {
		if j == xi {
			continue
		}
		m[xi*n+j] = add(c, m[yi*n+j]) // x − j = (y − j) + c
		m[j*n+xi] = sub(m[j*n+yi], c) // j − x = (j − y) − c
	}
}

// AssignConst performs x := c.
func (d *DBM) AssignConst(x Var, c int64) { d.Assign(x, Zero, c) }

// AssignRange gives x an unknown value in [lo, hi] (NegInf and Inf for no bound), with no
// relation to the other variables.
func (d *DBM) AssignRange(x Var, lo, hi int64) {
	d.Forget(x)
	if !d.valid(x) || x == Zero {
		return
	}
	d.AddLower(x, lo)
	d.AddUpper(x, hi)
}

// Increment performs x := x + c.
func (d *DBM) Increment(x Var, c int64) {
	d.Close()
	if d.bottom || !d.valid(x) || x == Zero || c == 0 {
		return
	}
	n, m, xi := d.dim, d.m, int(x)
	for j := 0; j < n; j++ {
		if j == xi {
			continue
		}
		m[xi*n+j] = add(m[xi*n+j], c)
		m[j*n+xi] = sub(m[j*n+xi], c)
	}
}

// Upper returns the least upper bound of x − y implied by d (Inf when there is none). On
// an empty DBM every bound is −∞, reported as NegInf.
func (d *DBM) Upper(x, y Var) int64 {
	d.Close()
	if d.bottom {
		return NegInf
	}
	if !d.valid(x) || !d.valid(y) {
		if x == y {
			return 0
		}
		return Inf
	}
	return d.m[int(x)*d.dim+int(y)]
}

// DiffBounds returns the bounds lo ≤ x − y ≤ hi implied by d, NegInf and Inf for none.
// On an empty DBM it returns lo > hi (Inf, NegInf).
func (d *DBM) DiffBounds(x, y Var) (lo, hi int64) {
	if d.IsBottom() {
		return Inf, NegInf
	}
	return negBound(d.Upper(y, x)), d.Upper(x, y)
}

// Bounds returns the bounds lo ≤ x ≤ hi implied by d, NegInf and Inf for none. On an empty
// DBM it returns lo > hi (Inf, NegInf).
func (d *DBM) Bounds(x Var) (lo, hi int64) { return d.DiffBounds(x, Zero) }

// Entails reports whether every point of d satisfies x − y ≤ c. An empty DBM entails
// everything.
func (d *DBM) Entails(x, y Var, c int64) bool {
	d.Close()
	if d.bottom {
		return true
	}
	return d.Upper(x, y) <= c
}
