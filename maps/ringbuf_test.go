package maps

import (
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"
	"unsafe"
)

func newTestRing(t *testing.T, size uint32) *RingBuffer {
	m, err := New(Spec{Name: "rb", Type: RingBuf, MaxEntries: size}, NewEpochs(0))
	if err != nil {
		t.Fatal(err)
	}
	return m.(*RingBuffer)
}

func TestRingBuf(t *testing.T) {
	if _, err := New(Spec{Type: RingBuf, MaxEntries: 5000}, NewEpochs(0)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("size not a power of two: %v", err)
	}
	r := newTestRing(t, 4096)
	rd := NewRingBufferReader(r)
	// Reserve two, submit the second first: the reader must wait for the first.
	p1 := r.Reserve(10, 0)
	p2 := r.Reserve(3, 0)
	copy(unsafe.Slice((*byte)(p1), 10), "0123456789")
	copy(unsafe.Slice((*byte)(p2), 3), "abc")
	r.Submit(p2, 0)
	rd.SetDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := rd.Read(); !errors.Is(err, ErrNoRecord) {
		t.Fatalf("read past an unsubmitted record: %v", err)
	}
	r.Submit(p1, 0)
	rd.SetDeadline(time.Time{})
	for _, want := range []string{"0123456789", "abc"} {
		rec, err := rd.Read()
		if err != nil || string(rec.RawSample) != want {
			t.Fatalf("read %q, %v; want %q", rec.RawSample, err, want)
		}
	}
	// Discarded records are skipped.
	p3 := r.Reserve(4, 0)
	r.Discard(p3, 0)
	if err := r.Output([]byte("kept"), 0); err != nil {
		t.Fatal(err)
	}
	if rec, err := rd.Read(); err != nil || string(rec.RawSample) != "kept" {
		t.Fatalf("after a discard: %q, %v", rec.RawSample, err)
	}
	if r.Reserve(1, 7) != nil || r.Reserve(0, 0) != nil || r.Reserve(4096, 0) != nil {
		t.Fatal("bad reserve accepted")
	}
	if r.Query(RingBufRingSize) != 4096 || r.Query(RingBufAvailData) != 0 {
		t.Fatalf("query: size %d avail %d", r.Query(RingBufRingSize), r.Query(RingBufAvailData))
	}
	go func() { time.Sleep(10 * time.Millisecond); rd.Close() }()
	if _, err := rd.Read(); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
}

// TestRingBufWrap fills the ring many times over with records of varying sizes from
// several producers while a reader drains it; every record arrives intact, in per-producer
// order.
func TestRingBufWrap(t *testing.T) {
	r := newTestRing(t, 4096)
	rd := NewRingBufferReader(r)
	const producers, each = 4, 2000
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < each; {
				size := 8 + (i*7+p)%200
				rec := make([]byte, size)
				binary.LittleEndian.PutUint32(rec, uint32(p))
				binary.LittleEndian.PutUint32(rec[4:], uint32(i))
				if r.Output(rec, 0) != nil {
					time.Sleep(time.Microsecond) // full: let the reader catch up
					continue
				}
				i++
			}
		}(p)
	}
	next := make([]uint32, producers)
	for n := 0; n < producers*each; n++ {
		rec, err := rd.Read()
		if err != nil {
			t.Fatal(err)
		}
		p, i := binary.LittleEndian.Uint32(rec.RawSample), binary.LittleEndian.Uint32(rec.RawSample[4:])
		if int(p) >= producers || i != next[p] || len(rec.RawSample) != 8+(int(i)*7+int(p))%200 {
			t.Fatalf("record %d: producer %d seq %d len %d, want seq %d", n, p, i, len(rec.RawSample), next[p])
		}
		next[p]++
	}
	wg.Wait()
}
