package maps

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"unsafe"
)

// IDArray is an array whose elements name other objects by id, 0 meaning empty:
// BPF_MAP_TYPE_PROG_ARRAY (program ids), BPF_MAP_TYPE_ARRAY_OF_MAPS (map ids) and
// BPF_MAP_TYPE_XSKMAP (socket ids). User space writes ids; programs reach the objects
// through helpers (bpf_tail_call, bpf_map_lookup_elem, bpf_redirect_map), never through
// pointers into the array.
type IDArray struct {
	spec Spec
	ids  []atomic.Uint32
}

func newIDArray(spec Spec) (*IDArray, error) {
	if spec.KeySize != 4 || spec.ValueSize != 4 {
		return nil, fmt.Errorf("map %q: %w: %s maps have 4-byte keys and values", spec.Name, ErrInvalid, spec.Type)
	}
	return &IDArray{spec: spec, ids: make([]atomic.Uint32, spec.MaxEntries)}, nil
}

// Spec describes the map.
func (a *IDArray) Spec() Spec { return a.spec }

// ID returns the id at index, 0 if empty or out of range.
func (a *IDArray) ID(index uint32) uint32 {
	if index >= uint32(len(a.ids)) {
		return 0
	}
	return a.ids[index].Load()
}

// Slots returns the address of the array's ids (len 4-byte words, each written and read
// atomically) for compiled code that reads them directly, as the JIT's tail calls do.
// The memory lives as long as the array.
func (a *IDArray) Slots() (addr unsafe.Pointer, n int) {
	return unsafe.Pointer(unsafe.SliceData(a.ids)), len(a.ids)
}

func (a *IDArray) index(key []byte) (uint32, error) {
	if len(key) != 4 {
		return 0, fmt.Errorf("%w: key is %d bytes", ErrInvalid, len(key))
	}
	i := binary.LittleEndian.Uint32(key)
	if i >= uint32(len(a.ids)) {
		return 0, fmt.Errorf("%w: index %d of map %q (%d entries)", ErrInvalid, i, a.spec.Name, len(a.ids))
	}
	return i, nil
}

// Lookup returns the id at key, or ErrKeyNotExist for an empty slot.
func (a *IDArray) Lookup(key, value []byte) error {
	i, err := a.index(key)
	if err != nil {
		return err
	}
	if len(value) != 4 {
		return fmt.Errorf("%w: value is %d bytes", ErrInvalid, len(value))
	}
	id := a.ids[i].Load()
	if id == 0 {
		return ErrKeyNotExist
	}
	binary.LittleEndian.PutUint32(value, id)
	return nil
}

// Update stores an id; the caller checks that it names an object of the right kind.
func (a *IDArray) Update(key, value []byte, flags uint64) error {
	i, err := a.index(key)
	if err != nil {
		return err
	}
	if len(value) != 4 {
		return fmt.Errorf("%w: value is %d bytes", ErrInvalid, len(value))
	}
	if flags == UpdateNoExist {
		return ErrKeyExist
	}
	if flags > UpdateExist {
		return fmt.Errorf("%w: update flags %#x", ErrInvalid, flags)
	}
	a.ids[i].Store(binary.LittleEndian.Uint32(value))
	return nil
}

// Delete empties a slot.
func (a *IDArray) Delete(key []byte) error {
	i, err := a.index(key)
	if err != nil {
		return err
	}
	if a.ids[i].Swap(0) == 0 {
		return ErrKeyNotExist
	}
	return nil
}

// NextKey iterates over the slots in order, as for arrays.
func (a *IDArray) NextKey(key, next []byte) error {
	if len(next) != 4 {
		return fmt.Errorf("%w: next key buffer is %d bytes", ErrInvalid, len(next))
	}
	var i uint32
	if key != nil {
		if len(key) != 4 {
			return fmt.Errorf("%w: key is %d bytes", ErrInvalid, len(key))
		}
		if cur := binary.LittleEndian.Uint32(key); cur < uint32(len(a.ids)) {
			i = cur + 1
		}
	}
	if i >= uint32(len(a.ids)) {
		return ErrKeyNotExist
	}
	binary.LittleEndian.PutUint32(next, i)
	return nil
}

// LookupPtr returns nil: programs cannot read an id array's values.
func (a *IDArray) LookupPtr(unsafe.Pointer) unsafe.Pointer { return nil }
