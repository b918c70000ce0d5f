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
// Config.Checked and Config.Budget mean what they mean for the interpreter, the
// reference: in checked mode every load and store is checked against the Env's stack
// and regions (the stack and the first region inline, the others by a call to Go) and
// programs that read uninitialized registers are refused; with a budget or in checked
// mode instructions are counted exactly as the interpreter counts them (Env.Executed).
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
