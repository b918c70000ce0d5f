package maps

import (
	"fmt"
	"sync"
	"time"
	"unsafe"
)

// PerfCurrentCPU is BPF_F_CURRENT_CPU: output to the running invocation's CPU.
const PerfCurrentCPU = 0xffffffff

// PerfEvents is BPF_MAP_TYPE_PERF_EVENT_ARRAY: one buffer of samples per CPU, which
// programs write with bpf_perf_event_output and a PerfReader drains. In Linux user space
// opens a perf event per CPU and stores its fd in the map; here NewPerfReader installs the
// buffers. Without a reader, output fails with ErrKeyNotExist (ENOENT), as in Linux.
type PerfEvents struct {
	spec Spec
	mu   sync.Mutex
	cpus []*perfBuffer // nil until a reader installs them
	wake chan struct{}
}

type perfBuffer struct {
	size    int // bytes of samples the buffer holds
	used    int
	samples [][]byte
	lost    uint64
}

func newPerfEventArray(spec Spec) (*PerfEvents, error) {
	return &PerfEvents{spec: spec, wake: make(chan struct{}, 1)}, nil
}

// Spec describes the map.
func (p *PerfEvents) Spec() Spec { return p.spec }

// Output appends a sample to cpu's buffer (index is the flags' low 32 bits:
// PerfCurrentCPU or a CPU number). A full buffer counts the sample as lost.
func (p *PerfEvents) Output(index uint64, cpu int, sample []byte) error {
	if index != PerfCurrentCPU {
		cpu = int(index)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cpus == nil || cpu < 0 || cpu >= len(p.cpus) {
		return fmt.Errorf("%w: no perf buffer for CPU %d of map %q", ErrKeyNotExist, cpu, p.spec.Name)
	}
	b := p.cpus[cpu]
	// Each sample costs its perf_event_header (8 bytes) and a 4-byte size, 8-aligned.
	cost := (len(sample) + 12 + 7) &^ 7
	if b.used+cost > b.size {
		b.lost++
		return fmt.Errorf("%w: perf buffer of CPU %d is full", ErrFull, cpu)
	}
	b.used += cost
	b.samples = append(b.samples, append([]byte(nil), sample...))
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

func (p *PerfEvents) Lookup(_, _ []byte) error {
	return fmt.Errorf("%w: perf event arrays are read with a reader", ErrNotSupported)
}
func (p *PerfEvents) Update(_, _ []byte, _ uint64) error {
	return fmt.Errorf("%w: perf event arrays are set up by a reader", ErrNotSupported)
}
func (p *PerfEvents) Delete([]byte) error {
	return fmt.Errorf("%w: perf event arrays are set up by a reader", ErrNotSupported)
}
func (p *PerfEvents) NextKey(_, _ []byte) error {
	return fmt.Errorf("%w: perf event arrays have no keys to iterate", ErrNotSupported)
}
func (p *PerfEvents) LookupPtr(unsafe.Pointer) unsafe.Pointer { return nil }

// PerfRecord is a sample read from a perf event array, like cilium/ebpf's perf.Record.
type PerfRecord struct {
	CPU       int
	RawSample []byte
	// LostSamples is set instead of RawSample when samples were dropped on CPU.
	LostSamples uint64
}

// PerfReader reads the samples of a perf event array in per-CPU order.
type PerfReader struct {
	p        *PerfEvents
	closed   chan struct{}
	once     sync.Once
	deadline time.Time
	next     int // the CPU to look at first, for fairness
}

// NewPerfReader installs a buffer of perCPUBuffer bytes for each of ncpu CPUs and returns
// a reader of them.
func NewPerfReader(p *PerfEvents, ncpu, perCPUBuffer int) (*PerfReader, error) {
	if ncpu <= 0 || perCPUBuffer <= 0 {
		return nil, fmt.Errorf("%w: %d CPUs of %d bytes", ErrInvalid, ncpu, perCPUBuffer)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cpus != nil {
		return nil, fmt.Errorf("%w: map %q already has a reader", ErrKeyExist, p.spec.Name)
	}
	p.cpus = make([]*perfBuffer, ncpu)
	for i := range p.cpus {
		p.cpus[i] = &perfBuffer{size: perCPUBuffer}
	}
	return &PerfReader{p: p, closed: make(chan struct{})}, nil
}

// SetDeadline makes Read give up with ErrNoRecord at t; the zero time waits forever.
func (r *PerfReader) SetDeadline(t time.Time) { r.deadline = t }

// Close removes the buffers; pending and later Reads return ErrClosed.
func (r *PerfReader) Close() error {
	r.once.Do(func() {
		close(r.closed)
		r.p.mu.Lock()
		r.p.cpus = nil
		r.p.mu.Unlock()
	})
	return nil
}

func (r *PerfReader) poll() (PerfRecord, bool) {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	for i := range r.p.cpus {
		cpu := (r.next + i) % len(r.p.cpus)
		b := r.p.cpus[cpu]
		if b.lost > 0 {
			rec := PerfRecord{CPU: cpu, LostSamples: b.lost}
			b.lost = 0
			return rec, true
		}
		if len(b.samples) > 0 {
			s := b.samples[0]
			b.samples = b.samples[1:]
			b.used -= (len(s) + 12 + 7) &^ 7
			r.next = cpu
			return PerfRecord{CPU: cpu, RawSample: s}, true
		}
	}
	return PerfRecord{}, false
}

// Read waits for the next sample or lost-sample report.
func (r *PerfReader) Read() (PerfRecord, error) {
	var timeout <-chan time.Time
	if !r.deadline.IsZero() {
		t := time.NewTimer(time.Until(r.deadline))
		defer t.Stop()
		timeout = t.C
	}
	for {
		select {
		case <-r.closed:
			return PerfRecord{}, ErrClosed
		default:
		}
		if rec, ok := r.poll(); ok {
			return rec, nil
		}
		select {
		case <-r.p.wake:
		case <-r.closed:
			return PerfRecord{}, ErrClosed
		case <-timeout:
			return PerfRecord{}, ErrNoRecord
		}
	}
}
