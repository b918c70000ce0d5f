//go:build !linux

package procevents

// Listener is not available on this platform.
type Listener struct{}

// Listen returns ErrNotSupported on this platform.
func Listen() (*Listener, error) { return nil, ErrNotSupported }

// Read returns ErrNotSupported.
func (l *Listener) Read() ([]Event, error) { return nil, ErrNotSupported }

// Close does nothing.
func (l *Listener) Close() error { return nil }
