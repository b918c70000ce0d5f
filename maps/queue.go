package maps

import (
	"fmt"
	"sync"
	"sync/atomic"
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
// max_entries+1 values: a push writes its value into a free slot first and then publishes
// it by storing the state word (head and count in one 8-byte store), so that a
// file-backed queue (OpenFile) cut short by a crash holds the state before or after the
// push, never a half-written value; the spare slot lets a push that drops the oldest value
// do the same.
type queue struct {
	spec  Spec
	lifo  bool
	mu    sync.Mutex
	ring  []byte
	state *atomic.Uint64 // head (index of the oldest value) << 32 | count
	// mapping is the file a file-backed queue lives in (OpenFile), nil otherwise.
	mapping []byte
}

func newQueue(spec Spec, lifo bool) (*queue, error) {
	if err := checkQueue(spec); err != nil {
		return nil, err
	}
	return &queue{spec: spec, lifo: lifo, ring: make([]byte, queueRingSize(spec)), state: new(atomic.Uint64)}, nil
}

func checkQueue(spec Spec) error {
	if spec.KeySize != 0 {
		return fmt.Errorf("map %q: %w: %s maps have no key, key size must be 0", spec.Name, ErrInvalid, spec.Type)
	}
	if queueRingSize(spec) > 1<<32 {
		return fmt.Errorf("map %q: %w: too large", spec.Name, ErrInvalid)
	}
	return nil
}

// queueRingSize is the size of a queue's ring: max_entries values and a spare one.
func queueRingSize(spec Spec) uint64 {
	return uint64(spec.ValueSize) * (uint64(spec.MaxEntries) + 1)
}

func (q *queue) Spec() Spec { return q.spec }

func (q *queue) slot(i uint32) []byte {
	off := uint64(i%(q.spec.MaxEntries+1)) * uint64(q.spec.ValueSize)
	return q.ring[off : off+uint64(q.spec.ValueSize)]
}

// load returns the head and count; store publishes new ones. Both under mu.
func (q *queue) load() (head, count uint32) {
	s := q.state.Load()
	return uint32(s >> 32), uint32(s)
}

func (q *queue) store(head, count uint32) {
	q.state.Store(uint64(head%(q.spec.MaxEntries+1))<<32 | uint64(count))
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
	head, count := q.load()
	if count == q.spec.MaxEntries && flags != UpdateExist {
		return fmt.Errorf("%w: map %q holds %d values", ErrFull, q.spec.Name, count)
	}
	copy(q.slot(head+count), value) // a free slot: the spare one when full
	if count == q.spec.MaxEntries {
		q.store(head+1, count) // drop the oldest
		return nil
	}
	q.store(head, count+1)
	return nil
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
	head, count := q.load()
	if count == 0 {
		return ErrKeyNotExist
	}
	i := head
	if q.lifo {
		i = head + count - 1
	}
	copy(value, q.slot(i))
	if !remove {
		return nil
	}
	if !q.lifo {
		head++
	}
	q.store(head, count-1)
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
	head, count := q.load()
	out := make([][]byte, 0, count)
	for i := uint32(0); i < count; i++ {
		idx := head + i
		if q.lifo {
			idx = head + count - 1 - i
		}
		out = append(out, append([]byte(nil), q.slot(idx)...))
	}
	return out
}

// Close unmaps a file-backed queue's file; for others it does nothing. Nothing may use
// the map afterwards.
func (q *queue) Close() error {
	m := q.mapping
	if m == nil {
		return nil
	}
	q.mapping, q.ring = nil, nil
	return unmapFile(m)
}

// Sync writes a file-backed queue to its file's disk.
func (q *queue) Sync() error { return syncFile(q.mapping) }

// queueStateSize is the room for a file-backed queue's state word before its ring.
const queueStateSize = 8

// openQueueFile is OpenFile for queues and stacks: the state word, then the ring.
func openQueueFile(spec Spec, path string) (*queue, bool, error) {
	if err := checkQueue(spec); err != nil {
		return nil, false, err
	}
	size := queueStateSize + queueRingSize(spec)
	mem, f, _, created, err := mapFile(spec, 1, fileShape{size, size, size}, path)
	if err != nil {
		return nil, false, err
	}
	f.Close()
	data := mem[mapFileHeader:]
	q := &queue{spec: spec, lifo: spec.Type == Stack, ring: data[queueStateSize:], state: (*atomic.Uint64)(unsafe.Pointer(&data[0])), mapping: mem}
	if head, count := q.load(); head > spec.MaxEntries || count > spec.MaxEntries {
		q.Close()
		return nil, false, fmt.Errorf("%w: %s: queue state head %d, count %d past %d entries", ErrBadMapFile, path, head, count, spec.MaxEntries)
	}
	return q, created, nil
}
