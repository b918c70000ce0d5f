//go:build amd64 && linux

package jit_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/engine/jit"
	"github.com/anybpf/anybpf/isa"
)

// TestCleanup compiles programs and drops them: the collector must unmap their memory.
func TestCleanup(t *testing.T) {
	insns, _ := isa.Assemble("mov %r0, 3\nexit")
	before := jit.LiveMappings()
	// Held until counted: a collection during the loop would otherwise free some early.
	var held []any
	for i := range 1000 {
		code, err := jit.Compile(insns, engine.Config{})
		if err != nil {
			t.Fatalf("compile %d: %v", i, err)
		}
		held = append(held, code)
	}
	// The 1000 held programs are live whatever happens to what earlier tests left
	// (counted in before, and freed by any collection during the loop).
	if n := jit.LiveMappings(); n < 1000 {
		t.Fatalf("%d live mappings while 1000 compiled programs are held", n)
	}
	runtime.KeepAlive(held)
	held = nil
	for range 50 {
		runtime.GC()
		time.Sleep(time.Millisecond) // cleanups run on their own goroutine
		if jit.LiveMappings() <= before+10 {
			return
		}
	}
	t.Fatalf("%d live mappings before, %d after dropping 1000 programs", before, jit.LiveMappings())
}
