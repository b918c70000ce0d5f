package maps

import (
	"encoding/binary"
	"fmt"
	"unsafe"
)

// array is BPF_MAP_TYPE_ARRAY and BPF_MAP_TYPE_PERCPU_ARRAY: max_entries values (times
// the number of CPUs), keyed by a 4-byte index, allocated once and never freed, so
// pointers to them stay valid.
type array struct {
	spec   Spec
	stride uintptr // value size rounded up to 8, as the kernel does
	ncpu   uintptr // values per element: 1, or the CPU count of a per-CPU array
	values []byte
	// mapping is the file mapping values lies in, for file-backed arrays (OpenFile).
	mapping []byte
}

func newArray(spec Spec, ncpu int) (*array, error) {
	a, err := newArrayShape(spec, ncpu)
	if err != nil {
		return nil, err
	}
	a.values = make([]byte, a.dataSize())
	return a, nil
}

// newArrayShape checks spec and returns an array without its values.
func newArrayShape(spec Spec, ncpu int) (*array, error) {
	if spec.KeySize != 4 {
		return nil, fmt.Errorf("map %q: %w: array keys are 4 bytes, not %d", spec.Name, ErrInvalid, spec.KeySize)
	}
	stride := (uintptr(spec.ValueSize) + 7) &^ 7
	if uint64(stride)*uint64(spec.MaxEntries)*uint64(ncpu) > 1<<32 {
		return nil, fmt.Errorf("map %q: %w: %d entries of %d bytes is too large", spec.Name, ErrInvalid, spec.MaxEntries, spec.ValueSize)
	}
	return &array{spec: spec, stride: stride, ncpu: uintptr(ncpu)}, nil
}

// dataSize is the size of the array's values.
func (a *array) dataSize() uintptr { return a.stride * a.ncpu * uintptr(a.spec.MaxEntries) }

// userValueSize is the size of a value as user space reads and writes it: one value, or
// one 8-byte-aligned value per CPU.
func (a *array) userValueSize() int {
	if a.ncpu == 1 {
		return int(a.spec.ValueSize)
	}
	return int(a.stride * a.ncpu)
}

func (a *array) Spec() Spec { return a.spec }

// value returns element index as user space sees it.
func (a *array) value(index uint32) []byte {
	off := uintptr(index) * a.stride * a.ncpu
	return a.values[off : off+uintptr(a.userValueSize())]
}

func (a *array) index(key []byte) (uint32, error) {
	if err := checkSizes(a.spec, key, nil); err != nil {
		return 0, err
	}
	i := binary.LittleEndian.Uint32(key)
	if i >= a.spec.MaxEntries {
		return 0, fmt.Errorf("%w: index %d of map %q (%d entries)", ErrKeyNotExist, i, a.spec.Name, a.spec.MaxEntries)
	}
	return i, nil
}

func (a *array) Lookup(key, value []byte) error {
	if err := checkValue(a.spec, value, a.userValueSize()); err != nil {
		return err
	}
	i, err := a.index(key)
	if err != nil {
		return err
	}
	copy(value, a.value(i))
	hideLock(a.spec, value)
	return nil
}

func (a *array) Update(key, value []byte, flags uint64) error {
	if err := checkValue(a.spec, value, a.userValueSize()); err != nil {
		return err
	}
	switch flags {
	case UpdateAny, UpdateExist:
	case UpdateNoExist:
		return fmt.Errorf("%w: map %q: every array element exists", ErrKeyExist, a.spec.Name)
	default:
		return fmt.Errorf("%w: update flags %#x", ErrInvalid, flags)
	}
	i, err := a.index(key)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrFull, err) // the kernel says E2BIG for an index past the end
	}
	copyValue(a.spec, a.value(i), value)
	return nil
}

func (a *array) Delete(key []byte) error {
	if err := checkSizes(a.spec, key, nil); err != nil {
		return err
	}
	return fmt.Errorf("%w: array elements cannot be deleted", ErrInvalid)
}

func (a *array) NextKey(key, next []byte) error {
	if err := checkSizes(a.spec, nil, nil); err != nil {
		return err
	}
	if len(next) != 4 {
		return fmt.Errorf("%w: next key buffer is %d bytes", ErrInvalid, len(next))
	}
	var i uint32
	if key != nil {
		if len(key) != 4 {
			return fmt.Errorf("%w: key is %d bytes", ErrInvalid, len(key))
		}
		// As in the kernel, an index past the end restarts at 0.
		if cur := binary.LittleEndian.Uint32(key); cur < a.spec.MaxEntries {
			i = cur + 1
		}
	}
	if i >= a.spec.MaxEntries {
		return ErrKeyNotExist
	}
	binary.LittleEndian.PutUint32(next, i)
	return nil
}

func (a *array) LookupPtr(key unsafe.Pointer) unsafe.Pointer { return a.LookupPtrCPU(key, 0) }

func (a *array) LookupPtrCPU(key unsafe.Pointer, cpu int) unsafe.Pointer {
	i := *(*uint32)(key)
	if i >= a.spec.MaxEntries || uintptr(cpu) >= a.ncpu {
		return nil
	}
	return unsafe.Pointer(&a.values[(uintptr(i)*a.ncpu+uintptr(cpu))*a.stride])
}
