package maps

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Ring buffer flags and query selectors, Linux's values.
const (
	RingBufNoWakeup    uint64 = 1 // BPF_RB_NO_WAKEUP
	RingBufForceWakeup uint64 = 2 // BPF_RB_FORCE_WAKEUP

	RingBufAvailData = 0 // BPF_RB_AVAIL_DATA
	RingBufRingSize  = 1 // BPF_RB_RING_SIZE
	RingBufConsPos   = 2 // BPF_RB_CONS_POS
	RingBufProdPos   = 3 // BPF_RB_PROD_POS
)

const (
	ringHeaderSize = 8
	ringBusyBit    = 1 << 31
	ringDiscardBit = 1 << 30
)

// ErrClosed is returned by a closed ring buffer reader.
var ErrClosed = os.ErrClosed

// RingBuffer is BPF_MAP_TYPE_RINGBUF: a multi-producer, single-consumer ring of records with
// 8-byte headers, as in the kernel. Programs reserve space, fill it in place and submit
// or discard it; a Reader consumes submitted records in order.
type RingBuffer struct {
	spec Spec
	data []byte
	mask uint64

	mu     sync.Mutex // serializes producers
	prod   atomic.Uint64
	cons   atomic.Uint64
	notify chan struct{}
}

func newRingBuf(spec Spec) (*RingBuffer, error) {
	// Key and value types are ignored, as cilium/ebpf does: objects often declare the
	// record type as the value for documentation.
	size := uint64(spec.MaxEntries)
	if size < 4096 || size&(size-1) != 0 || size > 1<<30 {
		return nil, fmt.Errorf("map %q: %w: a ring buffer's max_entries must be a power of two from 4096 to 1 GiB, not %d", spec.Name, ErrInvalid, size)
	}
	return &RingBuffer{spec: spec, data: make([]byte, size), mask: size - 1, notify: make(chan struct{}, 1)}, nil
}

func (r *RingBuffer) Spec() Spec { return r.spec }

func (r *RingBuffer) header(pos uint64) *atomic.Uint32 {
	return (*atomic.Uint32)(unsafe.Pointer(&r.data[pos&r.mask]))
}

// Reserve returns space for a record of size bytes, or nil when it does not fit (or flags
// is not 0), as bpf_ringbuf_reserve does.
func (r *RingBuffer) Reserve(size uint64, flags uint64) unsafe.Pointer {
	if flags != 0 || size == 0 || size > uint64(len(r.data))/2 {
		return nil
	}
	total := (size + ringHeaderSize + 7) &^ 7
	r.mu.Lock()
	defer r.mu.Unlock()
	prod, cons := r.prod.Load(), r.cons.Load()
	// A record never wraps: if it would cross the end, a discarded padding record fills
	// the rest of the ring first.
	pad := uint64(0)
	if off := prod & r.mask; off+total > uint64(len(r.data)) {
		pad = uint64(len(r.data)) - off
	}
	if prod+pad+total-cons > uint64(len(r.data)) {
		return nil
	}
	if pad > 0 {
		r.header(prod).Store(uint32(pad-ringHeaderSize) | ringDiscardBit)
		prod += pad
	}
	r.header(prod).Store(uint32(size) | ringBusyBit)
	r.prod.Store(prod + total)
	return unsafe.Pointer(&r.data[(prod+ringHeaderSize)&r.mask])
}

// Submit commits a reserved record; Discard drops it. flags selects the wakeup.
func (r *RingBuffer) Submit(sample unsafe.Pointer, flags uint64) { r.commit(sample, 0, flags) }

// Discard drops a reserved record.
func (r *RingBuffer) Discard(sample unsafe.Pointer, flags uint64) {
	r.commit(sample, ringDiscardBit, flags)
}

func (r *RingBuffer) commit(sample unsafe.Pointer, bits uint32, flags uint64) {
	h := (*atomic.Uint32)(unsafe.Add(sample, -ringHeaderSize))
	h.Store(h.Load()&^ringBusyBit | bits)
	if flags&RingBufNoWakeup == 0 {
		select {
		case r.notify <- struct{}{}:
		default:
		}
	}
}

// Output copies data into a new record, as bpf_ringbuf_output does.
func (r *RingBuffer) Output(data []byte, flags uint64) error {
	p := r.Reserve(uint64(len(data)), 0)
	if p == nil {
		return fmt.Errorf("%w: ring buffer %q has no room for %d bytes", ErrFull, r.spec.Name, len(data))
	}
	copy(unsafe.Slice((*byte)(p), len(data)), data)
	r.Submit(p, flags)
	return nil
}

// Query answers bpf_ringbuf_query.
func (r *RingBuffer) Query(what uint64) uint64 {
	switch what {
	case RingBufAvailData:
		return r.prod.Load() - r.cons.Load()
	case RingBufRingSize:
		return uint64(len(r.data))
	case RingBufConsPos:
		return r.cons.Load()
	case RingBufProdPos:
		return r.prod.Load()
	}
	return 0
}

// next returns the next submitted record, skipping discarded ones; ok is false when
// there is none yet.
func (r *RingBuffer) next(buf []byte) ([]byte, bool) {
	for {
		cons := r.cons.Load()
		if cons == r.prod.Load() {
			return buf, false
		}
		h := r.header(cons).Load()
		if h&ringBusyBit != 0 {
			return buf, false
		}
		n := uint64(h &^ (ringBusyBit | ringDiscardBit))
		total := (n + ringHeaderSize + 7) &^ 7
		if h&ringDiscardBit == 0 {
			start := (cons + ringHeaderSize) & r.mask
			buf = append(buf[:0], r.data[start:start+n]...)
			r.cons.Store(cons + total)
			return buf, true
		}
		r.cons.Store(cons + total)
	}
}

func (r *RingBuffer) Lookup(_, _ []byte) error {
	return fmt.Errorf("%w: ring buffers are read with a reader", ErrNotSupported)
}
func (r *RingBuffer) Update(_, _ []byte, _ uint64) error {
	return fmt.Errorf("%w: ring buffers are written by programs", ErrNotSupported)
}
func (r *RingBuffer) Delete([]byte) error {
	return fmt.Errorf("%w: ring buffers have no keys", ErrNotSupported)
}
func (r *RingBuffer) NextKey(_, _ []byte) error {
	return fmt.Errorf("%w: ring buffers have no keys", ErrNotSupported)
}
func (r *RingBuffer) LookupPtr(unsafe.Pointer) unsafe.Pointer { return nil }

// Record is a sample read from a ring buffer.
type Record struct {
	RawSample []byte
	// Remaining is the number of bytes still in the ring after this record.
	Remaining int
}

// ErrNoRecord is returned by Read when the deadline passes without a record.
var ErrNoRecord = errors.New("no record before the deadline")

// RingBufferReader reads records in order, like cilium/ebpf's ringbuf.Reader. It is for one
// goroutine at a time; Close may be called from any.
type RingBufferReader struct {
	r        *RingBuffer
	mu       sync.Mutex
	deadline time.Time
	closed   chan struct{}
	once     sync.Once
}

// NewRingBufferReader returns a reader of r's records.
func NewRingBufferReader(r *RingBuffer) *RingBufferReader {
	return &RingBufferReader{r: r, closed: make(chan struct{})}
}

// SetDeadline makes Read give up with ErrNoRecord at t; the zero time waits forever.
func (rd *RingBufferReader) SetDeadline(t time.Time) {
	rd.mu.Lock()
	rd.deadline = t
	rd.mu.Unlock()
}

// Close makes pending and later Reads return ErrClosed.
func (rd *RingBufferReader) Close() error {
	rd.once.Do(func() { close(rd.closed) })
	return nil
}

// Read waits for the next record.
func (rd *RingBufferReader) Read() (Record, error) {
	var rec Record
	err := rd.ReadInto(&rec)
	return rec, err
}

// ReadInto is Read reusing rec's buffer.
func (rd *RingBufferReader) ReadInto(rec *Record) error {
	rd.mu.Lock()
	deadline := rd.deadline
	rd.mu.Unlock()
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	for {
		select {
		case <-rd.closed:
			return ErrClosed
		default:
		}
		if buf, ok := rd.r.next(rec.RawSample); ok {
			rec.RawSample = buf
			rec.Remaining = int(rd.r.Query(RingBufAvailData))
			return nil
		}
		select {
		case <-rd.r.notify:
		case <-rd.closed:
			return ErrClosed
		case <-timeout:
			return ErrNoRecord
		case <-time.After(10 * time.Millisecond):
			// Records submitted with BPF_RB_NO_WAKEUP are found by polling.
		}
	}
}

// Owns reports whether p points into the ring's data.
func (r *RingBuffer) Owns(p unsafe.Pointer) bool {
	base := uintptr(unsafe.Pointer(&r.data[0]))
	return uintptr(p) >= base && uintptr(p) < base+uintptr(len(r.data))
}
