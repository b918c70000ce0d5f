//go:build !(amd64 && linux)

package jit

import (
	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/isa"
)

// Supported reports whether the JIT exists for this platform.
const Supported = false

// Code is a compiled program. On this platform there is none.
type Code struct{}

// Compile returns an error wrapping ErrNotSupported.
func Compile(insns []isa.Instruction, cfg engine.Config) (*Code, error) {
	return nil, ErrNotSupported
}

// Run returns an error wrapping ErrNotSupported.
func (c *Code) Run(env *engine.Env, r1, r2 uint64) (uint64, error) {
	return 0, ErrNotSupported
}

// RunAt returns an error wrapping ErrNotSupported.
func (c *Code) RunAt(env *engine.Env, entry int, r1, r2, r3, r4, r5 uint64) (uint64, error) {
	return 0, ErrNotSupported
}

// Close does nothing.
func (c *Code) Close() error { return nil }

// Native returns nil.
func (c *Code) Native() (text []byte, slots []int) { return nil, nil }

func (c *Code) tailEntry() (uint64, bool) { return 0, false }
