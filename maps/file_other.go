//go:build !unix

package maps

import (
	"fmt"
	"os"
)

// mapFile returns ErrNotSupported on this platform.
func mapFile(spec Spec, _ int, _ fileShape, path string) ([]byte, *os.File, uint64, bool, error) {
	return nil, nil, 0, false, fmt.Errorf("map %q in %s: %w: file-backed maps on this platform", spec.Name, path, ErrNotSupported)
}

// unmapFile does nothing: no map is file-backed here.
func unmapFile([]byte) error { return nil }

// syncFile does nothing: no map is file-backed here.
func syncFile([]byte) error { return nil }
