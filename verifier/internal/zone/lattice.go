package zone

// closedView returns o closed, cloning it first when it is not, so that the argument of a
// binary operation is never modified.
func closedView(o *DBM) *DBM {
	if o.closed || o.bottom {
		return o
	}
	c := o.Clone()
	c.Close()
	return c
}

// Join makes d the least upper bound of d and o in the zone domain: the entrywise maximum
// of the closed matrices, which keeps every relation that holds on both sides.
func (d *DBM) Join(o *DBM) {
	if d.dim != o.dim {
		d.SetTop()
		return
	}
	d.Close()
	o = closedView(o)
	switch {
	case o.bottom:
		return
	case d.bottom:
		d.CopyFrom(o)
		return
	}
	for i, v := range o.m {
		if v > d.m[i] {
			d.m[i] = v
		}
	}
}

// Meet makes d the intersection of d and o. When o tightens only a few entries of d they
// are added one by one with incremental closure (O(n²) each); otherwise the entrywise
// minimum is closed with Floyd–Warshall.
func (d *DBM) Meet(o *DBM) {
	if d.dim != o.dim || d.bottom {
		return
	}
	if o.bottom {
		d.SetBottom()
		return
	}
	d.Close()
	if d.bottom {
		return
	}
	tighter := 0
	for i, v := range o.m {
		if v < d.m[i] {
			tighter++
		}
	}
	if tighter <= d.dim {
		n := d.dim
		for i, v := range o.m {
			if v < d.m[i] {
				d.AddConstraint(Var(i/n), Var(i%n), v)
				if d.bottom {
					return
				}
			}
		}
		return
	}
	for i, v := range o.m {
		if v < d.m[i] {
			d.m[i] = v
		}
	}
	d.closed = false
	d.Close()
}

// Widen makes d the widening of d (the previous iterate at a loop head) by o (the new
// one): bounds of d that o does not exceed are kept and the others are dropped, so that
// an ascending chain of iterates stabilizes after at most n² steps.
//
// The result is deliberately not closed: closing a widened matrix can reintroduce bounds
// and defeat termination. Keep the widened DBM at the loop head as it is and run the
// transfer functions on a Clone.
func (d *DBM) Widen(o *DBM) {
	if d.dim != o.dim {
		d.SetTop()
		return
	}
	o = closedView(o)
	switch {
	case o.bottom:
		return
	case d.bottom:
		d.CopyFrom(o)
		return
	}
	for i, v := range o.m {
		if v > d.m[i] {
			d.m[i] = Inf
		}
	}
	d.closed = false
}

// Narrow makes d the narrowing of d by o (a later, more precise iterate): only the bounds
// d lacks entirely are taken from o, so a descending sequence stabilizes. Like Widen, the
// result is not closed.
func (d *DBM) Narrow(o *DBM) {
	if d.dim != o.dim || d.bottom {
		return
	}
	o = closedView(o)
	if o.bottom {
		d.SetBottom()
		return
	}
	for i, v := range d.m {
		if v == Inf && o.m[i] != Inf {
			d.m[i] = o.m[i]
			d.closed = false
		}
	}
}

// LessEq reports whether d is included in o: every point satisfying d satisfies o. It
// closes d but does not modify o.
func (d *DBM) LessEq(o *DBM) bool {
	if d.IsBottom() {
		return true
	}
	if d.dim != o.dim {
		return false
	}
	if o.bottom {
		return false
	}
	// d is closed and not empty, so each of its entries is the exact bound; o need not be
	// closed: if d satisfies o's entries, its points satisfy o's constraints.
	for i, v := range o.m {
		if d.m[i] > v {
			return false
		}
	}
	return true
}

// Equal reports whether d and o describe the same set of points.
func (d *DBM) Equal(o *DBM) bool {
	return d.LessEq(o) && closedView(o).LessEq(d)
}
