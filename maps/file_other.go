//go:build !unix

package maps

import "fmt"

// OpenFile returns ErrNotSupported on this platform.
func OpenFile(spec Spec, epochs *Epochs, path string) (Map, bool, error) {
	return nil, false, fmt.Errorf("map %q in %s: %w: file-backed maps on this platform", spec.Name, path, ErrNotSupported)
}

// Close does nothing: arrays here are never file-backed.
func (a *array) Close() error { return nil }

// Sync does nothing.
func (a *array) Sync() error { return nil }
