package cfg

import (
	"math/rand/v2"
	"testing"
)

// TestBourdoncleRandomGraphs checks the WTO algorithm on random directed graphs, far less
// structured than programs: every vertex reachable from 0 appears exactly once, the others
// not at all, and every edge between reachable vertices goes forward unless it goes to the
// head of a component containing its source.
func TestBourdoncleRandomGraphs(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for trial := 0; trial < 3000; trial++ {
		n := 1 + r.IntN(30)
		adj := make([][]int, n)
		edges := r.IntN(3 * n)
		for k := 0; k < edges; k++ {
			u := r.IntN(n)
			adj[u] = append(adj[u], r.IntN(n))
		}
		succ := func(v, k int) (int, bool) {
			if k >= len(adj[v]) {
				return 0, false
			}
			return adj[v][k], true
		}
		const start = 100
		w := bourdoncle(n, succ, start, workLimit(n))
		reach := make([]bool, n)
		reach[0] = true
		stack := []int{0}
		count := 1
		for len(stack) > 0 {
			v := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, x := range adj[v] {
				if !reach[x] {
					reach[x] = true
					count++
					stack = append(stack, x)
				}
			}
		}
		if len(w.Order()) != count {
			t.Fatalf("graph %v: WTO %v has %d vertices, %d reachable", adj, w, len(w.Order()), count)
		}
		for v := 0; v < n; v++ {
			if (w.Position(start+v) >= 0) != reach[v] {
				t.Fatalf("graph %v: WTO %v: vertex %d reachable %v", adj, w, v, reach[v])
			}
			if !reach[v] {
				continue
			}
			if w.Order()[w.Position(start+v)] != start+v {
				t.Fatalf("graph %v: WTO %v: position of %d wrong", adj, w, v)
			}
			for _, x := range adj[v] {
				u, y := start+v, start+x
				if w.Position(u) < w.Position(y) {
					continue
				}
				if !w.IsHead(y) || !w.InComponent(u, y) {
					t.Fatalf("graph %v: WTO %v: edge %d -> %d goes backward to a non-enclosing head", adj, w, v, x)
				}
			}
		}
	}
}

// TestDeepGraph checks that a long function, whose depth-first search is as deep as the
// function is long, does not exhaust the stack, and that loops along it stay cheap.
func TestDeepGraph(t *testing.T) {
	const n = 100000
	// Vertex v falls through to v+1, and every 100th vertex also jumps back 50.
	succ := func(v, k int) (int, bool) {
		switch {
		case k == 0 && v%100 == 99:
			return v - 50, true
		case k == 0 && v+1 < n, k == 1 && v%100 == 99 && v+1 < n:
			return v + 1, true
		}
		return 0, false
	}
	w := bourdoncle(n, succ, 0, workLimit(n))
	if len(w.Order()) != n {
		t.Fatalf("WTO has %d vertices, want %d", len(w.Order()), n)
	}
	if got := len(w.Heads()); got != n/100 {
		t.Fatalf("%d loop heads, want %d", got, n/100)
	}
}

// TestWorkLimit feeds the quadratic case of Bourdoncle's algorithm, a component nested at
// every vertex, and checks that it gives up instead of running for minutes.
func TestWorkLimit(t *testing.T) {
	const n = 200000
	// Vertex v falls through to v+1 and jumps back to v/2: every vertex heads a component
	// containing all those after it.
	succ := func(v, k int) (int, bool) {
		switch {
		case k == 0 && v > 0:
			return v / 2, true
		case k == 0 && v+1 < n, k == 1 && v > 0 && v+1 < n:
			return v + 1, true
		}
		return 0, false
	}
	if w := bourdoncle(n, succ, 0, workLimit(n)); w != nil {
		t.Fatalf("WTO of %d vertices computed, want nil (too much work)", len(w.Order()))
	}
	// Small instances of the same shape are fine.
	const small = 100
	succSmall := func(v, k int) (int, bool) {
		switch {
		case k == 0 && v > 0:
			return v / 2, true
		case k == 0 && v+1 < small, k == 1 && v > 0 && v+1 < small:
			return v + 1, true
		}
		return 0, false
	}
	if w := bourdoncle(small, succSmall, 0, workLimit(small)); w == nil || len(w.Heads()) != small/2 {
		t.Fatalf("small instance: %v", w)
	}
}
