//go:build !linux

package xdp

import (
	"fmt"

	"github.com/anybpf/anybpf"
)

// Attachment is a program attached to an interface.
type Attachment struct{}

// Attach is not supported on this platform.
func Attach(prog *anybpf.Program, opts Options) (*Attachment, error) {
	return nil, fmt.Errorf("attach xdp to %s: %w", opts.Interface, ErrNotSupported)
}

// Close does nothing.
func (a *Attachment) Close() error { return nil }

// Stats returns zero counts.
func (a *Attachment) Stats() Stats { return Stats{} }

// Info returns the program's name, and the interface and its peer.
func (a *Attachment) Info() (program, iface, peer string) { return "", "", "" }
