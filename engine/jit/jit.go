// Package jit is anybpf's just-in-time compiler. It translates eBPF programs into native
// machine code in W^X memory and runs it through a Go assembly trampoline, without cgo.
//
// The compiler exists for linux/amd64 (Supported is true there). On every other platform
// Compile returns an error wrapping ErrNotSupported.
//
// # Execution model
//
// Native code never calls Go. A run is a loop in Go around the trampoline: native code
// returns with an exit code in a context shared with Go, Go does what it asks (run a
// helper, a callx, a legacy packet load, check a memory access against the Env's
// regions) and enters native code again at the continuation, or ends the run (program
// exit, fault, call depth, budget). Every exit stores the eBPF registers in the context;
// every entry loads them again.
//
// The eBPF registers live in host registers: r0 rax, r1 rdi, r2 rsi, r3 rdx, r4 rcx,
// r5 r8, r6 rbx, r7 r13, r8 r14, r9 r15, r10 r12. Host r9 points at the context and
// r10, r11 are scratch; rsp and rbp are left to Go. The eBPF stack is the Env's stack,
// memory owned by the runtime, not the goroutine stack; bpf-to-bpf calls keep their
// frames (r6..r9, r10, return address) in the context, so that a helper call can return
// to Go from any depth. Native code uses 8 bytes of the goroutine stack, for the
// trampoline's call.
//
// # Executable memory
//
// Compiled code lives in a process-wide pool (pool.go): memfd arenas mapped twice, once
// read-write for the compiler to write into and once read-execute for the code to run
// from, so that no mapping is ever writable and executable and a compilation makes no
// system call once an arena exists. Each program takes a block of a power-of-two size
// class, returned to the pool (filled with int3) when its Code is closed or collected;
// programs over 64 KiB, and all programs where memfd_create is unavailable, get pages of
// their own (mmap, then mprotect to read-execute). The runtime keeps a Code reachable
// while a run may execute it: a run holds its Code, and a TailTable's replaced copies,
// which name the Code tail calls enter, are retired through the runtime's epochs.
//
// # Specialised helper calls
//
// In unchecked code without a budget, calls on maps the program names with a constant
// (Config.Maps) are specialised: bpf_map_lookup_elem on an array becomes a bounds check
// and an address computation with no exit, other lookups call the map's own lookup
// (MapInfo.Lookup), and bpf_tail_call through a program array jumps to the target's
// native entry through a TailTable (Config.Tails), counting in the run's context
// against the 33-call limit, without returning to Go.
//
// # Modes
//
// Config.Checked and Config.Budget mean what they mean for the interpreter, the
// reference: in checked mode every load and store is checked against the Env's stack
// and regions (the stack and the first region inline, the others by a call to Go) and
// programs that read uninitialized registers are refused; with a budget or in checked
// mode instructions are counted exactly as the interpreter counts them (Env.Executed).
// Unchecked code must come from the verifier: a wild access crashes the process.
//
// Code that counts instructions (checked mode, or a budget) returns to the Go scheduler
// every few million instructions. Other native code is not preempted: a long loop delays
// the garbage collector's stop-the-world until the run returns to Go (a helper call
// does); verified programs are bounded.
package jit

import (
	"errors"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/isa"
)

// Errors that Compile returns, for use with errors.Is.
var (
	// ErrNotSupported means the JIT does not exist for this GOOS/GOARCH.
	ErrNotSupported = errors.New("jit: not supported on this platform")
	// ErrClosed means Run was called on Code after its Close.
	ErrClosed = errors.New("jit: code is closed")
)

// Engine is the JIT engine.
type Engine struct{}

// New returns the JIT engine.
func New() Engine { return Engine{} }

// Name returns "jit".
func (Engine) Name() string { return "jit" }

// Compile translates a program into native code. See the package documentation for the
// configurations it refuses.
func (Engine) Compile(insns []isa.Instruction, cfg engine.Config) (engine.Code, error) {
	c, err := Compile(insns, cfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}
