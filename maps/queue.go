package maps

import (
	"fmt"
	"sync"
	"unsafe"
)

// QueueMap is implemented by queue and stack maps, which have no keys.
type QueueMap interface {
	Map
	// Push adds a value; when the map is full, UpdateExist drops the oldest value to make
	// room, and UpdateAny fails with ErrFull.
	Push(value []byte, flags uint64) error
	// Pop removes the next value (oldest for a queue, newest for a stack) into value.
	Pop(value []byte) error
	// Peek copies the next value without removing it.
	Peek(value []byte) error
	// Elements returns copies of the values in the order Pop would return them.
	Elements() [][]byte
}

// queue is BPF_MAP_TYPE_QUEUE (FIFO) and BPF_MAP_TYPE_STACK (LIFO), a ring of
// max_entries values.
type queue struct {
	spec  Spec
	lifo  bool
	mu    sync.Mutex
	ring  []byte
	head  uint32 // index of the oldest value
	count uint32
}

func newQueue(spec Spec, lifo bool) (*queue, error) {
	if spec.KeySize != 0 {
		return nil, fmt.Errorf("map %q: %w: %s maps have no key, key size must be 0", spec.Name, ErrInvalid, spec.Type)
	}
	if uint64(spec.ValueSize)*uint64(spec.MaxEntries) > 1<<32 {
		return nil, fmt.Errorf("map %q: %w: too large", spec.Name, ErrInvalid)
	}
	return &queue{spec: spec, lifo: lifo, ring: make([]byte, uint64(spec.ValueSize)*uint64(spec.MaxEntries))}, nil
}

func (q *queue) Spec() Spec { return q.spec }

func (q *queue) slot(i uint32) []byte {
	off := uint64(i%q.spec.MaxEntries) * uint64(q.spec.ValueSize)
	return q.ring[off : off+uint64(q.spec.ValueSize)]
}

func (q *queue) Push(value []byte, flags uint64) error {
	if err := checkSizes(q.spec, nil, value); err != nil {
		return err
	}
	if flags != UpdateAny && flags != UpdateExist {
		return fmt.Errorf("%w: push flags %#x", ErrInvalid, flags)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.count == q.spec.MaxEntries {
		if flags != UpdateExist {
			return fmt.Errorf("%w: map %q holds %d values", ErrFull, q.spec.Name, q.count)
		}
		q.head++ // drop the oldest
		q.count--
	}
	copy(q.slot(q.head+q.count), value)
	q.count++
	return nil
}

func (q *queue) next() (uint32, error) {
	if q.count == 0 {
		return 0, ErrKeyNotExist
	}
	if q.lifo {
		return q.head + q.count - 1, nil
	}
	return q.head, nil
}

func (q *queue) Peek(value []byte) error { return q.take(value, false) }

func (q *queue) Pop(value []byte) error { return q.take(value, true) }

// take copies the next element into value and, when remove is set, removes it.
func (q *queue) take(value []byte, remove bool) error {
	if err := checkSizes(q.spec, nil, value); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	i, err := q.next()
	if err != nil {
		return err
	}
	copy(value, q.slot(i))
	if !remove {
		return nil
	}
	if !q.lifo {
		q.head++
	}
	q.count--
	return nil
}

// Lookup peeks, as BPF_MAP_LOOKUP_ELEM does for these maps; key must be empty.
func (q *queue) Lookup(key, value []byte) error {
	if len(key) != 0 {
		return fmt.Errorf("%w: %s maps have no key", ErrInvalid, q.spec.Type)
	}
	return q.Peek(value)
}

// Update pushes, as BPF_MAP_UPDATE_ELEM does for these maps; key must be empty.
func (q *queue) Update(key, value []byte, flags uint64) error {
	if len(key) != 0 {
		return fmt.Errorf("%w: %s maps have no key", ErrInvalid, q.spec.Type)
	}
	return q.Push(value, flags)
}

func (q *queue) Delete([]byte) error {
	return fmt.Errorf("%w: %s maps have no delete; pop instead", ErrInvalid, q.spec.Type)
}

func (q *queue) NextKey(_, _ []byte) error {
	return fmt.Errorf("%w: %s maps have no keys to iterate", ErrInvalid, q.spec.Type)
}

func (q *queue) LookupPtr(unsafe.Pointer) unsafe.Pointer { return nil }

// Elements returns copies of the values in the order Pop would return them.
func (q *queue) Elements() [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([][]byte, 0, q.count)
	for i := uint32(0); i < q.count; i++ {
		idx := q.head + i
		if q.lifo {
			idx = q.head + q.count - 1 - i
		}
		out = append(out, append([]byte(nil), q.slot(idx)...))
	}
	return out
}
