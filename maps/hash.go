package maps

import (
	"container/list"
	"encoding/binary"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"unsafe"
)

// hash is BPF_MAP_TYPE_HASH and BPF_MAP_TYPE_PERCPU_HASH. Each value (or set of per-CPU
// values) has its own allocation; a replaced or deleted value is retired to the Epochs,
// never reused while a program may hold it.
type hash struct {
	spec   Spec
	epochs *Epochs
	stride uintptr // value size rounded up to 8
	ncpu   uintptr // values per element

	mu      sync.RWMutex
	entries map[string]*entry

	// lru is set for the LRU hash types: a full map evicts instead of refusing. order
	// holds the entries oldest first.
	lru   bool
	order *list.List
	// indexed maps (devmap, cpumap) take only keys below max_entries.
	indexed bool
}

// entry holds the current value of a key; replacing the value swaps the slice, so an
// update hashes the key once.
type entry struct {
	value []byte
	// LRU maps only: the key, and whether the entry was used since the last eviction
	// scan passed it (a second chance, as the kernel's LRU gives).
	key  string
	elem *list.Element
	used atomic.Bool
}

func newHash(spec Spec, epochs *Epochs, ncpu int) (*hash, error) {
	stride := (uintptr(spec.ValueSize) + 7) &^ 7
	return &hash{spec: spec, epochs: epochs, stride: stride, ncpu: uintptr(ncpu), entries: map[string]*entry{}}, nil
}

// evictLocked removes the least recently used entry: the oldest one not used since the
// scan last passed it; used ones go to the back with their mark cleared.
func (h *hash) evictLocked() []byte {
	for {
		front := h.order.Front()
		e := front.Value.(*entry)
		if e.used.Load() {
			e.used.Store(false)
			h.order.MoveToBack(front)
			continue
		}
		h.order.Remove(front)
		delete(h.entries, e.key)
		return e.value
	}
}

func (h *hash) userValueSize() int {
	if h.ncpu == 1 {
		return int(h.spec.ValueSize)
	}
	return int(h.stride * h.ncpu)
}

func (h *hash) Spec() Spec { return h.spec }

func (h *hash) Lookup(key, value []byte) error {
	if err := checkSizes(h.spec, key, nil); err != nil {
		return err
	}
	if err := checkValue(h.spec, value, h.userValueSize()); err != nil {
		return err
	}
	h.mu.RLock()
	e, ok := h.entries[string(key)]
	if ok {
		copy(value, e.value)
	}
	h.mu.RUnlock()
	if !ok {
		return ErrKeyNotExist
	}
	return nil
}

func (h *hash) Update(key, value []byte, flags uint64) error {
	if err := checkSizes(h.spec, key, nil); err != nil {
		return err
	}
	if err := checkValue(h.spec, value, h.userValueSize()); err != nil {
		return err
	}
	if flags > UpdateExist {
		return fmt.Errorf("%w: update flags %#x", ErrInvalid, flags)
	}
	if h.indexed && binary.LittleEndian.Uint32(key) >= h.spec.MaxEntries {
		return fmt.Errorf("%w: index %d of map %q (%d entries)", ErrFull, binary.LittleEndian.Uint32(key), h.spec.Name, h.spec.MaxEntries)
	}
	v := make([]byte, h.stride*h.ncpu)[:h.userValueSize()]
	copy(v, value)
	h.mu.Lock()
	e, exists := h.entries[string(key)]
	switch {
	case exists && flags == UpdateNoExist:
		h.mu.Unlock()
		return ErrKeyExist
	case !exists && flags == UpdateExist:
		h.mu.Unlock()
		return ErrKeyNotExist
	case !exists && len(h.entries) >= int(h.spec.MaxEntries) && !h.lru:
		h.mu.Unlock()
		return fmt.Errorf("%w: map %q holds %d entries", ErrFull, h.spec.Name, h.spec.MaxEntries)
	case !exists:
		var evicted []byte
		if h.lru && len(h.entries) >= int(h.spec.MaxEntries) {
			evicted = h.evictLocked()
		}
		ne := &entry{value: v}
		h.entries[string(key)] = ne
		if h.lru {
			ne.key = string(key)
			ne.elem = h.order.PushBack(ne)
		}
		h.mu.Unlock()
		if evicted != nil {
			h.epochs.Retire(evicted)
		}
		return nil
	}
	e.used.Store(true)
	old := e.value
	e.value = v
	h.mu.Unlock()
	h.epochs.Retire(old)
	return nil
}

func (h *hash) Delete(key []byte) error {
	if err := checkSizes(h.spec, key, nil); err != nil {
		return err
	}
	h.mu.Lock()
	e, ok := h.entries[string(key)]
	delete(h.entries, string(key))
	if ok && h.lru {
		h.order.Remove(e.elem)
	}
	h.mu.Unlock()
	if !ok {
		return ErrKeyNotExist
	}
	h.epochs.Retire(e.value)
	return nil
}

// NextKey iterates in ascending byte order of the keys. A key that is not in the map
// restarts the iteration, as in the kernel.
func (h *hash) NextKey(key, next []byte) error {
	if err := checkSizes(h.spec, nil, nil); err != nil {
		return err
	}
	if len(next) != int(h.spec.KeySize) || (key != nil && len(key) != int(h.spec.KeySize)) {
		return fmt.Errorf("%w: keys of map %q are %d bytes", ErrInvalid, h.spec.Name, h.spec.KeySize)
	}
	h.mu.RLock()
	keys := make([]string, 0, len(h.entries))
	for k := range h.entries {
		keys = append(keys, k)
	}
	_, present := h.entries[string(key)]
	h.mu.RUnlock()
	sort.Strings(keys)
	i := 0
	if key != nil && present {
		i = sort.SearchStrings(keys, string(key)) + 1
	}
	if i >= len(keys) {
		return ErrKeyNotExist
	}
	copy(next, keys[i])
	return nil
}

func (h *hash) LookupPtr(key unsafe.Pointer) unsafe.Pointer { return h.LookupPtrCPU(key, 0) }

func (h *hash) LookupPtrCPU(key unsafe.Pointer, cpu int) unsafe.Pointer {
	if uintptr(cpu) >= h.ncpu {
		return nil
	}
	k := unsafe.Slice((*byte)(key), h.spec.KeySize)
	h.mu.RLock()
	e := h.entries[string(k)]
	var p unsafe.Pointer
	if e != nil {
		p = unsafe.Add(unsafe.Pointer(unsafe.SliceData(e.value)), uintptr(cpu)*h.stride)
		if h.lru && !e.used.Load() {
			e.used.Store(true)
		}
	}
	h.mu.RUnlock()
	return p
}
