package maps

import (
	"errors"
	"fmt"
	"unsafe"
)

// Errors with the meaning of the kernel's errno values for map operations.
var (
	// ErrKeyNotExist is ENOENT: no such key (or no next key).
	ErrKeyNotExist = errors.New("key does not exist")
	// ErrKeyExist is EEXIST: BPF_NOEXIST and the key is there.
	ErrKeyExist = errors.New("key already exists")
	// ErrFull is E2BIG: the map holds max_entries elements already.
	ErrFull = errors.New("map is full")
	// ErrInvalid is EINVAL: bad flags, sizes or arguments.
	ErrInvalid = errors.New("invalid argument")
	// ErrNotSupported is for map types or operations anybpf does not provide.
	ErrNotSupported = errors.New("not supported")
)

// Update flags, Linux's values.
const (
	UpdateAny     uint64 = 0 // create or replace
	UpdateNoExist uint64 = 1 // create only
	UpdateExist   uint64 = 2 // replace only
	UpdateLock    uint64 = 4 // take the value's spin lock (not supported yet)
)

// Spec describes a map to create.
type Spec struct {
	Name       string
	Type       Type
	KeySize    uint32
	ValueSize  uint32
	MaxEntries uint32
	Flags      uint32
	// InnerMap is the template the maps stored in a map-of-maps must match; nil for
	// other types (and for maps-of-maps whose first inner map becomes the template).
	InnerMap *Spec
	// SpinLock says each value holds a struct bpf_spin_lock (4 bytes) at byte
	// SpinLockOffset (hash and array maps only, as in Linux). As Linux's copy_map_value
	// does, updates leave an array element's lock as it is and start a new hash
	// element's unlocked, and lookups from user space read it as 0, so that no update
	// can leave a lock taken that no program holds.
	SpinLock       bool
	SpinLockOffset uint32
}

// FlagInnerMap is BPF_F_INNER_MAP: maps stored in a map-of-maps whose template has this
// flag may differ from it in max_entries.
const FlagInnerMap = 1 << 12

// Compatible reports whether a map with spec s may be stored in a map-of-maps whose
// template is tmpl, by Linux's rule: same type, key size, value size and flags, and the
// same max_entries unless the template has BPF_F_INNER_MAP.
func (tmpl Spec) Compatible(s Spec) error {
	switch {
	case s.Type == ArrayOfMaps || s.Type == HashOfMaps:
		return fmt.Errorf("%w: map %q is itself a map of maps", ErrInvalid, s.Name)
	case s.Type != tmpl.Type:
		return fmt.Errorf("%w: map %q is a %s, the inner maps are %s", ErrInvalid, s.Name, s.Type, tmpl.Type)
	case s.KeySize != tmpl.KeySize || s.ValueSize != tmpl.ValueSize:
		return fmt.Errorf("%w: map %q has %d-byte keys and %d-byte values, the inner maps %d and %d", ErrInvalid, s.Name, s.KeySize, s.ValueSize, tmpl.KeySize, tmpl.ValueSize)
	case s.Flags&^FlagInnerMap != tmpl.Flags&^FlagInnerMap:
		return fmt.Errorf("%w: map %q has flags %#x, the inner maps %#x", ErrInvalid, s.Name, s.Flags, tmpl.Flags)
	case tmpl.Flags&FlagInnerMap == 0 && s.MaxEntries != tmpl.MaxEntries:
		return fmt.Errorf("%w: map %q has %d entries, the inner maps %d", ErrInvalid, s.Name, s.MaxEntries, tmpl.MaxEntries)
	}
	return nil
}

// Footprint is the most memory, in bytes, a map with this spec can hold when full, with
// ncpu values per key for per-CPU types: what a memory limit charges when the map is
// created (so that programs can never push a runtime over its limit later), and what
// "memlock" reports.
func (s Spec) Footprint(ncpu int) uint64 {
	const nodeOverhead = 64 // an element's bookkeeping in hash and trie maps
	key := uint64(s.KeySize+7) &^ 7
	value := uint64(s.ValueSize+7) &^ 7
	n := uint64(s.MaxEntries)
	switch s.Type {
	case Array:
		return n * value
	case PerCPUArray:
		return n * value * uint64(ncpu)
	case PerCPUHash, LRUPerCPUHash:
		return n * (key + value*uint64(ncpu) + nodeOverhead)
	case Queue, Stack:
		return n * value
	case RingBuf:
		return n
	case ProgArray, ArrayOfMaps, XSKMap, PerfEventArray, DevMap, CPUMap:
		return n * 8
	default: // hashes, tries
		return n * (key + value + nodeOverhead)
	}
}

// Map is an eBPF map. The byte-slice methods are for user space and copy; the Ptr
// methods are for helpers and return pointers into the map's stable value memory, which
// stays valid for the running invocation even if the element is deleted meanwhile (see
// Epochs).
type Map interface {
	Spec() Spec
	// Lookup copies the value of key into value.
	Lookup(key, value []byte) error
	// Update creates or replaces the value of key according to flags.
	Update(key, value []byte, flags uint64) error
	// Delete removes key.
	Delete(key []byte) error
	// NextKey stores in next the key after key (the first key when key is nil), or
	// returns ErrKeyNotExist at the end.
	NextKey(key, next []byte) error
	// LookupPtr returns the address of key's value, or nil.
	LookupPtr(key unsafe.Pointer) unsafe.Pointer
}

// PerCPUMap is a map that keeps a value per CPU (per running invocation, see Epochs).
// User space reads and writes all of them at once: NumCPU values, each rounded up to 8
// bytes, as with the kernel's per-CPU maps.
type PerCPUMap interface {
	Map
	// LookupPtrCPU returns the address of key's value for cpu, or nil.
	LookupPtrCPU(key unsafe.Pointer, cpu int) unsafe.Pointer
}

// Limits Linux places on every map that has keys and values: a key must fit on the
// 512-byte eBPF stack, and a value in one kmalloc (KMALLOC_MAX_SIZE on x86-64).
const (
	MaxKeySize   = 512
	MaxValueSize = 4 << 20
)

// New creates a map. epochs supplies the CPU count of per-CPU maps and delays the reuse
// of replaced values.
func New(spec Spec, epochs *Epochs) (Map, error) {
	if epochs == nil {
		return nil, fmt.Errorf("map %q: %w: no epoch tracker", spec.Name, ErrInvalid)
	}
	switch spec.Type {
	case RingBuf:
		return newRingBuf(spec)
	case PerfEventArray:
		return newPerfEventArray(spec)
	case ProgArray:
		if spec.MaxEntries == 0 {
			return nil, fmt.Errorf("map %q: %w: max entries 0", spec.Name, ErrInvalid)
		}
		return newIDArray(spec)
	case XSKMap:
		// Slots hold the ids of AF_XDP sockets, which the datapath that owns them
		// resolves; bpf_redirect_map falls back to its flags' action on an empty slot.
		if spec.MaxEntries == 0 {
			return nil, fmt.Errorf("map %q: %w: max entries 0", spec.Name, ErrInvalid)
		}
		return newIDArray(spec)
	case ArrayOfMaps:
		// Slots hold map ids, which the runtime resolves; it checks them against
		// InnerMap when user space stores them.
		if spec.MaxEntries == 0 {
			return nil, fmt.Errorf("map %q: %w: max entries 0", spec.Name, ErrInvalid)
		}
		return newIDArray(spec)
	case HashOfMaps:
		if spec.ValueSize != 4 {
			return nil, fmt.Errorf("map %q: %w: hash_of_maps values are 4-byte map ids, not %d bytes", spec.Name, ErrInvalid, spec.ValueSize)
		}
	case Array, PerCPUArray, Hash, PerCPUHash, LRUHash, LRUPerCPUHash, Queue, Stack, LPMTrie,
		DevMap, DevMapHash, CPUMap:
	default:
		return nil, fmt.Errorf("map %q: %w: type %s", spec.Name, ErrNotSupported, spec.Type)
	}
	if err := checkShape(spec); err != nil {
		return nil, err
	}
	switch spec.Type {
	case Array:
		return newArray(spec, 1)
	case DevMap, CPUMap, DevMapHash:
		// Redirect targets: the value is an ifindex (devmap) or a queue size (cpumap),
		// optionally followed by a program (struct bpf_devmap_val). Slots are empty
		// until set; devmap and cpumap keys are indexes below max_entries.
		if spec.KeySize != 4 || (spec.ValueSize != 4 && spec.ValueSize != 8) {
			return nil, fmt.Errorf("map %q: %w: %s keys are 4 bytes, values 4 or 8", spec.Name, ErrInvalid, spec.Type)
		}
		h, err := newHash(spec, epochs, 1)
		if err != nil {
			return nil, err
		}
		h.indexed = spec.Type != DevMapHash
		return h, nil
	case PerCPUArray:
		return newArray(spec, epochs.NumCPU())
	case HashOfMaps:
		return newHash(spec, epochs, 1)
	case Hash, PerCPUHash, LRUHash, LRUPerCPUHash:
		return newHashOfType(spec, epochs)
	case Queue:
		return newQueue(spec, false)
	case Stack:
		return newQueue(spec, true)
	default: // LPMTrie
		return newLPM(spec, epochs)
	}
}

// checkShape checks the sizes and entry count of a map with keys and values.
func checkShape(spec Spec) error {
	if spec.KeySize == 0 && spec.Type != Queue && spec.Type != Stack {
		return fmt.Errorf("map %q: %w: key size 0", spec.Name, ErrInvalid)
	}
	if spec.ValueSize == 0 || spec.MaxEntries == 0 {
		return fmt.Errorf("map %q: %w: value size %d, max entries %d", spec.Name, ErrInvalid, spec.ValueSize, spec.MaxEntries)
	}
	if spec.ValueSize > MaxValueSize {
		return fmt.Errorf("map %q: %w: value size %d is more than %d", spec.Name, ErrInvalid, spec.ValueSize, MaxValueSize)
	}
	if spec.KeySize > MaxKeySize {
		return fmt.Errorf("map %q: %w: key size %d is more than %d", spec.Name, ErrInvalid, spec.KeySize, MaxKeySize)
	}
	if spec.SpinLock {
		switch {
		case spec.Type != Hash && spec.Type != Array:
			return fmt.Errorf("map %q: %w: a bpf_spin_lock in the values of a %s map (hash and array maps only)", spec.Name, ErrNotSupported, spec.Type)
		case spec.SpinLockOffset%4 != 0 || uint64(spec.SpinLockOffset)+4 > uint64(spec.ValueSize):
			return fmt.Errorf("map %q: %w: bpf_spin_lock at offset %d of a %d-byte value", spec.Name, ErrInvalid, spec.SpinLockOffset, spec.ValueSize)
		}
	}
	return nil
}

// copyValue copies a value from user space or a program into a map's element, leaving
// the element's spin lock (if any) as it is.
func copyValue(spec Spec, dst, src []byte) {
	if !spec.SpinLock {
		copy(dst, src)
		return
	}
	l := spec.SpinLockOffset
	copy(dst[:l], src[:l])
	copy(dst[l+4:], src[l+4:])
}

// hideLock clears the spin lock (if any) of a value copied out to user space.
func hideLock(spec Spec, value []byte) {
	if spec.SpinLock {
		clear(value[spec.SpinLockOffset : spec.SpinLockOffset+4])
	}
}

// checkValue checks a user-space value buffer against the size the map expects.
func checkValue(spec Spec, value []byte, want int) error {
	if len(value) != want {
		return fmt.Errorf("%w: value is %d bytes, map %q takes %d", ErrInvalid, len(value), spec.Name, want)
	}
	return nil
}

func checkSizes(spec Spec, key, value []byte) error {
	if key != nil && len(key) != int(spec.KeySize) {
		return fmt.Errorf("%w: key is %d bytes, map %q has %d-byte keys", ErrInvalid, len(key), spec.Name, spec.KeySize)
	}
	if value != nil && len(value) != int(spec.ValueSize) {
		return fmt.Errorf("%w: value is %d bytes, map %q has %d-byte values", ErrInvalid, len(value), spec.Name, spec.ValueSize)
	}
	return nil
}
