package maps

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestDeferRunsWhenIdle checks that a deferred function runs without any later Retire or
// Collect once nothing is running, and waits for an invocation that is.
func TestDeferRunsWhenIdle(t *testing.T) {
	tests := []struct {
		name    string
		running bool // an invocation is running when Defer is called
	}{
		{"idle", false},
		{"running invocation", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEpochs(2)
			var g Guard
			if tt.running {
				g = e.Enter()
			}
			var ran atomic.Bool
			e.Defer(func() { ran.Store(true) })
			if tt.running {
				time.Sleep(20 * time.Millisecond)
				if ran.Load() {
					t.Fatal("deferred function ran while an invocation that could see it was running")
				}
				g.Leave()
			}
			deadline := time.Now().Add(2 * time.Second)
			for !ran.Load() {
				if time.Now().After(deadline) {
					t.Fatal("deferred function did not run within 2 s of the tracker going idle")
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
}
