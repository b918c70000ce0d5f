// Package jit is anybpf's just-in-time compiler. It translates eBPF programs into native
// machine code in W^X memory and runs it through a Go assembly trampoline, without cgo.
//
// Native code never calls Go. A helper call, a callx, a legacy packet load or an error
// ends the native run with an exit code; the Go side performs the operation and enters
// the native code again at the continuation. The eBPF stack is the Env's stack, memory
// owned by the runtime, not the goroutine stack.
//
// The compiler exists for linux/amd64. On every other platform Compile returns an error
// wrapping ErrNotSupported, and Supported is false.
//
// Code compiled by this engine runs unchecked: it must come from the verifier. Compile
// refuses Config.Checked (ErrCheckedNotSupported); use the interpreter for unverified
// code. A Config.Budget is honoured: the code then counts instructions exactly as the
// interpreter does (Env.Executed) and stops with engine.ErrBudgetExceeded where the
// interpreter would.
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
	// ErrCheckedNotSupported means Config.Checked was set: the JIT runs verified code only.
	ErrCheckedNotSupported = errors.New("jit: checked mode not supported")
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
