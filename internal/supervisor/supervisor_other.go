//go:build !linux

package supervisor

import "os/exec"

// MaybeChild does nothing on this platform.
func MaybeChild() {}

// Supervisor is not available on this platform.
type Supervisor struct{}

// Start returns ErrNotSupported on this platform.
func Start(cmd *exec.Cmd, hooks Hooks) (*Supervisor, error) { return nil, ErrNotSupported }

// Pid returns 0.
func (s *Supervisor) Pid() int { return 0 }

// Wait returns ErrNotSupported.
func (s *Supervisor) Wait() error { return ErrNotSupported }

// Stats returns nothing.
func (s *Supervisor) Stats() Stats { return Stats{} }
