package maps

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sync/atomic"
	"unsafe"
)

// ErrBadMapFile is returned for a map file that is not one, is damaged, or holds a map
// of another shape than the one asked for.
var ErrBadMapFile = errors.New("maps: bad map file")

// Map files: a header page, then the map's data. The header holds a magic string, the
// format version, the spec's type, sizes, entry count and flags, the number of values
// per element (per-CPU maps), the size of the data, and a CRC-32 of all that.
//
// Array data is the values exactly as the map keeps them in memory. Hash data is an
// array of slots (see fileSlots), each a state word, the key and the value(s).
const (
	mapFileMagic   = "anybpf\x00m"
	mapFileVersion = 1
	mapFileHeader  = 4096
	// maxMapFileData bounds a map file's data (1 TiB, mapped but sparse).
	maxMapFileData = 1 << 40
)

// FileBacked reports whether OpenFile can keep maps of type t in a file.
func FileBacked(t Type) bool {
	switch t {
	case Array, PerCPUArray, Hash, PerCPUHash, LRUHash, LRUPerCPUHash, LPMTrie, Queue, Stack:
		return true
	}
	return false
}

// FileFootprint is the memory, in bytes, a file-backed map (OpenFile) with this spec
// holds, with ncpu values per key for per-CPU types: the file's data mapped in memory
// plus, for hash maps, the in-memory index (Footprint). (A hash map's file grows past
// it only while replaced elements wait for running programs, as an in-memory map's
// replaced values do.) It is 0 for types that cannot be file-backed.
func (s Spec) FileFootprint(ncpu int) uint64 {
	switch s.Type {
	case Array, PerCPUArray:
		return s.Footprint(ncpu)
	case Queue, Stack:
		return queueStateSize + queueRingSize(s)
	case Hash, PerCPUHash, LRUHash, LRUPerCPUHash, LPMTrie:
		if s.Type != PerCPUHash && s.Type != LRUPerCPUHash {
			ncpu = 1
		}
		shape, _ := slotShape(s, ncpu)
		return s.Footprint(ncpu) + shape.min
	}
	return 0
}

// OpenFile creates a map whose data lives in the file at path, or opens the one a
// previous process left there. The file is memory-mapped and shared: whatever user
// space or a program writes into the map is in the file (the page cache) as soon as it
// is written, so it survives the process, even a SIGKILL; Sync (on the returned map,
// an interface{ Sync() error }) writes it to the disk as well, for a machine crash.
// created says whether the file was new.
//
// A file that exists must hold a map of the same type, key and value sizes, entry
// count and flags (and, for per-CPU maps, the same CPU count, epochs.NumCPU());
// otherwise OpenFile fails with ErrBadMapFile and leaves the file alone.
//
// Array and per-CPU array maps keep their values at fixed places in the file. Hash,
// per-CPU hash, the LRU hash maps and LPM tries keep each element in a slot of the file
// (its key and value, and a generation number); a replaced element's slot is reused only once no
// running program can hold its value, as with the in-memory maps, and reopening keeps
// every element of the last completed update (an update cut short by a crash leaves the
// old or the new element, never a mix of keys). The order of an LRU map's elements is
// not kept: reopened, they are ordered by their last update. Queues and stacks keep
// their ring and a state word in the file; a push or pop cut short leaves the state
// before or after it. Other types fail with ErrNotSupported.
//
// Close the map (io.Closer) to unmap the file; nothing may use the map afterwards.
//
// The spin locks of a reopened map's values (Spec.SpinLock) start released: no program
// runs on it yet, and a lock word left set by a process killed while a program held it
// would otherwise never be released.
func OpenFile(spec Spec, epochs *Epochs, path string) (m Map, created bool, err error) {
	m, created, err = openFile(spec, epochs, path)
	if err == nil && !created && spec.SpinLock {
		releaseLocks(m, spec)
	}
	return m, created, err
}

// releaseLocks clears the spin lock word of every value of m.
func releaseLocks(m Map, spec Spec) {
	key, next := make([]byte, spec.KeySize), make([]byte, spec.KeySize)
	var prev []byte
	for m.NextKey(prev, next) == nil {
		copy(key, next)
		if p := m.LookupPtr(unsafe.Pointer(&key[0])); p != nil {
			(*atomic.Uint32)(unsafe.Add(p, spec.SpinLockOffset)).Store(0)
		}
		prev = key
	}
}

func openFile(spec Spec, epochs *Epochs, path string) (m Map, created bool, err error) {
	if epochs == nil {
		return nil, false, fmt.Errorf("map %q: %w: no epoch tracker", spec.Name, ErrInvalid)
	}
	if !FileBacked(spec.Type) {
		return nil, false, fmt.Errorf("map %q in %s: %w: file-backed %s maps", spec.Name, path, ErrNotSupported, spec.Type)
	}
	if err := checkShape(spec); err != nil {
		return nil, false, err
	}
	switch spec.Type {
	case Queue, Stack:
		q, created, err := openQueueFile(spec, path)
		if err != nil {
			return nil, false, err
		}
		return q, created, nil
	case Array, PerCPUArray:
		ncpu := 1
		if spec.Type == PerCPUArray {
			ncpu = epochs.NumCPU()
		}
		a, err := newArrayShape(spec, ncpu)
		if err != nil {
			return nil, false, err
		}
		size := uint64(a.dataSize())
		mem, f, _, created, err := mapFile(spec, ncpu, fileShape{size, size, size}, path)
		if err != nil {
			return nil, false, err
		}
		f.Close()
		a.values = mem[mapFileHeader:]
		a.mapping = mem
		return a, created, nil
	case LPMTrie:
		l, err := newLPM(spec, epochs)
		if err != nil {
			return nil, false, err
		}
		shape, err := slotShape(spec, 1)
		if err != nil {
			return nil, false, err
		}
		mem, f, data, created, err := mapFile(spec, 1, shape, path)
		if err != nil {
			return nil, false, err
		}
		slots := newFileSlots(spec, epochs, 1, l, mem[mapFileHeader:], f, uint32(data/shape.unit), created)
		l.slotFile = slotFile{mem, slots}
		l.store, l.reused = slots, true
		return l, created, nil
	default: // the hash maps
		h, err := newHashOfType(spec, epochs)
		if err != nil {
			return nil, false, err
		}
		shape, err := slotShape(spec, int(h.ncpu))
		if err != nil {
			return nil, false, err
		}
		mem, f, data, created, err := mapFile(spec, int(h.ncpu), shape, path)
		if err != nil {
			return nil, false, err
		}
		slots := newFileSlots(spec, epochs, int(h.ncpu), h, mem[mapFileHeader:], f, uint32(data/shape.unit), created)
		h.slotFile = slotFile{mem, slots}
		h.store, h.reused = slots, true
		return h, created, nil
	}
}

// fileShape is the size of a map file's data: from min to max bytes, a multiple of
// unit.
type fileShape struct{ min, max, unit uint64 }

func (s fileShape) fits(size uint64) bool {
	return size >= s.min && size <= s.max && size%s.unit == 0
}

func (s fileShape) String() string {
	if s.min == s.max {
		return fmt.Sprintf("%d", mapFileHeader+s.min)
	}
	return fmt.Sprintf("%d to %d in steps of %d", mapFileHeader+s.min, mapFileHeader+s.max, s.unit)
}

// checkFileSize checks the size of a map file's data against the bound and the
// address space.
func checkFileSize(spec Spec, size uint64) error {
	if size > maxMapFileData || uint64(int(size)) != size || uint64(uintptr(size)) != size {
		return fmt.Errorf("map %q: %w: a file of %d bytes is too large", spec.Name, ErrInvalid, size)
	}
	return nil
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
	m := a.mapping
	if m == nil {
		return nil
	}
	a.mapping, a.values = nil, nil
	return unmapFile(m)
}

// Sync writes a file-backed array's values to its file's disk (not needed to survive
// the process, only the machine).
func (a *array) Sync() error { return syncFile(a.mapping) }

// slotFile is the file of a hash map or LPM trie whose values are in file slots
// (OpenFile); the zero value is none.
type slotFile struct {
	mapping []byte
	slots   *fileSlots
}

// Close unmaps a file-backed map's file; for others it does nothing. Nothing may use
// the map afterwards.
func (f *slotFile) Close() error {
	m := f.mapping
	if m == nil {
		return nil
	}
	f.mapping = nil
	f.slots.file.Close()
	return unmapFile(m)
}

// Sync writes a file-backed map's slots to its file's disk (not needed to survive the
// process, only the machine).
func (f *slotFile) Sync() error { return syncFile(f.mapping) }
