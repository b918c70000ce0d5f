//go:build !linux

package supervisor

import "os/exec"

// MaybeChild does nothing on this platform.
func MaybeChild() {}

// Supervisor is not available on this platform.
type Supervisor struct{}

// Start returns ErrNotSupported on this platform.
func Start(cmd *exec.Cmd, hooks Hooks) (*Supervisor, error) { return nil, ErrNotSupported }

// StartWith returns ErrNotSupported on this platform.
func StartWith(cmd *exec.Cmd, hooks Hooks, opts Options) (*Supervisor, error) {
	return nil, ErrNotSupported
}

// Adopt returns ErrNotSupported on this platform.
func Adopt(listener int, hooks Hooks) (*Supervisor, error) { return nil, ErrNotSupported }

// Launched is not available on this platform.
type Launched struct {
	// Cmd is the started process.
	Cmd *exec.Cmd
	// Listener is the filter's listener.
	Listener int
}

// Launch returns ErrNotSupported on this platform.
func Launch(cmd *exec.Cmd, intercept Intercept) (*Launched, error) { return nil, ErrNotSupported }

// Release returns ErrNotSupported.
func (l *Launched) Release() error { return ErrNotSupported }

// Pid returns 0.
func (s *Supervisor) Pid() int { return 0 }

// Hooks returns no hooks.
func (s *Supervisor) Hooks() Hooks { return Hooks{} }

// SetHooks does nothing.
func (s *Supervisor) SetHooks(h Hooks) {}

// Done returns a closed channel.
func (s *Supervisor) Done() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// Wait returns ErrNotSupported.
func (s *Supervisor) Wait() error { return ErrNotSupported }

// Close returns ErrNotSupported.
func (s *Supervisor) Close() error { return ErrNotSupported }

// Stats returns nothing.
func (s *Supervisor) Stats() Stats { return Stats{} }
