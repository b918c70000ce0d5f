//go:build unix

package maps

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"

	"golang.org/x/sys/unix"
)

// OpenFile creates a map whose values live in the file at path, or opens the one a
// previous process left there. The file is memory-mapped and shared: whatever user
// space or a program writes into the map is in the file (the page cache) as soon as it
// is written, so it survives the process, even a SIGKILL. A file that exists must hold
// a map of the same spec (and, for per-CPU maps, the same CPU count); otherwise OpenFile
// fails with ErrBadMapFile and leaves it alone. created says whether the file was new.
// Array and per-CPU array maps only; other types fail with ErrNotSupported. Close the map
// (io.Closer) to unmap it.
func OpenFile(spec Spec, epochs *Epochs, path string) (m Map, created bool, err error) {
	if epochs == nil {
		return nil, false, fmt.Errorf("map %q: %w: no epoch tracker", spec.Name, ErrInvalid)
	}
	ncpu := 1
	switch spec.Type {
	case Array:
	case PerCPUArray:
		ncpu = epochs.NumCPU()
	default:
		return nil, false, fmt.Errorf("map %q in %s: %w: file-backed %s maps", spec.Name, path, ErrNotSupported, spec.Type)
	}
	if spec.ValueSize == 0 || spec.ValueSize > MaxValueSize || spec.MaxEntries == 0 {
		return nil, false, fmt.Errorf("map %q: %w: value size %d, max entries %d", spec.Name, ErrInvalid, spec.ValueSize, spec.MaxEntries)
	}
	a, err := newArrayShape(spec, ncpu)
	if err != nil {
		return nil, false, err
	}
	size := a.dataSize()
	header := mapFileHeaderFor(spec, ncpu, size)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("map %q: %w", spec.Name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, false, fmt.Errorf("map %q: %w", spec.Name, err)
	}
	switch {
	case st.Size() == 0:
		created = true
		// A new file: size it, then write the header last, so that a file whose
		// creation was cut short is refused rather than taken for an empty map.
		if err := f.Truncate(int64(mapFileHeader + size)); err != nil {
			return nil, false, fmt.Errorf("map %q: %w", spec.Name, err)
		}
		if _, err := f.WriteAt(header, 0); err != nil {
			return nil, false, fmt.Errorf("map %q: %w", spec.Name, err)
		}
	case st.Size() != int64(mapFileHeader+size):
		return nil, false, fmt.Errorf("%w: %s is %d bytes, a %s map of %d entries of %d bytes takes %d", ErrBadMapFile, path, st.Size(), spec.Type, spec.MaxEntries, spec.ValueSize, mapFileHeader+size)
	default:
		have := make([]byte, len(header))
		if _, err := f.ReadAt(have, 0); err != nil {
			return nil, false, fmt.Errorf("map %q: %w", spec.Name, err)
		}
		if err := checkMapFileHeader(have, header); err != nil {
			return nil, false, fmt.Errorf("%w: %s: %v", ErrBadMapFile, path, err)
		}
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, mapFileHeader+int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, false, fmt.Errorf("map %q: mmap %s: %w", spec.Name, path, err)
	}
	a.values = mem[mapFileHeader:]
	a.mapping = mem
	return a, created, nil
}

// mapFileHeaderFor is the header of a file holding a map of spec.
func mapFileHeaderFor(spec Spec, ncpu int, size uintptr) []byte {
	h := make([]byte, 48)
	copy(h, mapFileMagic)
	put := binary.LittleEndian.PutUint32
	put(h[8:], mapFileVersion)
	put(h[12:], uint32(spec.Type))
	put(h[16:], spec.KeySize)
	put(h[20:], spec.ValueSize)
	put(h[24:], spec.MaxEntries)
	put(h[28:], spec.Flags)
	put(h[32:], uint32(ncpu))
	binary.LittleEndian.PutUint64(h[36:], uint64(size))
	put(h[44:], crc32.ChecksumIEEE(h[:44]))
	return h
}

// checkMapFileHeader compares a file's header with the one wanted, saying what differs.
func checkMapFileHeader(have, want []byte) error {
	u := binary.LittleEndian.Uint32
	switch {
	case string(have[:8]) != mapFileMagic:
		return errors.New("not a map file")
	case u(have[44:]) != crc32.ChecksumIEEE(have[:44]):
		return errors.New("damaged header")
	case u(have[8:]) != mapFileVersion:
		return fmt.Errorf("format version %d, not %d", u(have[8:]), mapFileVersion)
	case u(have[32:]) != u(want[32:]):
		return fmt.Errorf("written with %d values per element (CPUs), not %d", u(have[32:]), u(want[32:]))
	case string(have[12:44]) != string(want[12:44]):
		return fmt.Errorf("holds a map of type %s, key %d, value %d, %d entries, flags %#x", Type(u(have[12:])), u(have[16:]), u(have[20:]), u(have[24:]), u(have[28:]))
	}
	return nil
}

// Close unmaps a file-backed array; for others it does nothing. Nothing may use the
// map afterwards.
func (a *array) Close() error {
	if a.mapping == nil {
		return nil
	}
	m := a.mapping
	a.mapping, a.values = nil, nil
	return unix.Munmap(m)
}

// Sync writes a file-backed array's values to its file (not needed to survive the
// process, only the machine).
func (a *array) Sync() error {
	if a.mapping == nil {
		return nil
	}
	return unix.Msync(a.mapping, unix.MS_SYNC)
}
