//go:build unix

package maps

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// mapFile opens or creates the file of a map of spec and maps it shared, header
// included, for shape.max bytes of data (past the end of the file for a file that may
// still grow). It returns the mapping, the open file and the size of its data. A new
// file is sized first and gets its header last, so that a file whose creation was cut
// short is refused rather than taken for an empty map.
func mapFile(spec Spec, ncpu int, shape fileShape, path string) (mem []byte, f *os.File, data uint64, created bool, err error) {
	if err := checkFileSize(spec, shape.max); err != nil {
		return nil, nil, 0, false, err
	}
	header := mapFileHeaderFor(spec, ncpu, uintptr(shape.max))
	f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, 0, false, fmt.Errorf("map %q: %w", spec.Name, err)
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, 0, false, fmt.Errorf("map %q: %w", spec.Name, err)
	}
	switch {
	case st.Size() == 0:
		created = true
		if err := f.Truncate(int64(mapFileHeader + shape.min)); err != nil {
			return nil, nil, 0, false, fmt.Errorf("map %q: %w", spec.Name, err)
		}
		if _, err := f.WriteAt(header, 0); err != nil {
			return nil, nil, 0, false, fmt.Errorf("map %q: %w", spec.Name, err)
		}
		data = shape.min
	case st.Size() < int64(len(header)):
		return nil, nil, 0, false, fmt.Errorf("%w: %s is %d bytes, too short for a map file", ErrBadMapFile, path, st.Size())
	default:
		have := make([]byte, len(header))
		if _, err := f.ReadAt(have, 0); err != nil {
			return nil, nil, 0, false, fmt.Errorf("map %q: %w", spec.Name, err)
		}
		if err := checkMapFileHeader(have, header); err != nil {
			return nil, nil, 0, false, fmt.Errorf("%w: %s: %v", ErrBadMapFile, path, err)
		}
		data = uint64(st.Size()) - mapFileHeader
		if st.Size() < mapFileHeader || !shape.fits(data) {
			return nil, nil, 0, false, fmt.Errorf("%w: %s is %d bytes, a %s map of %d entries of %d bytes takes %s", ErrBadMapFile, path, st.Size(), spec.Type, spec.MaxEntries, spec.ValueSize, shape)
		}
	}
	mem, err = unix.Mmap(int(f.Fd()), 0, mapFileHeader+int(shape.max), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, 0, false, fmt.Errorf("map %q: mmap %s: %w", spec.Name, path, err)
	}
	return mem, f, data, created, nil
}

// unmapFile unmaps a map file's memory.
func unmapFile(mem []byte) error { return unix.Munmap(mem) }

// syncFile writes a map file's memory to the disk; nil memory is nothing to write.
func syncFile(mem []byte) error {
	if mem == nil {
		return nil
	}
	return unix.Msync(mem, unix.MS_SYNC)
}
