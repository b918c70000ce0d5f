package maps

import (
	"errors"
	"testing"
	"time"
)

func TestPerfEvents(t *testing.T) {
	m, err := New(Spec{Name: "events", Type: PerfEventArray, KeySize: 4, ValueSize: 4, MaxEntries: 2}, NewEpochs(2))
	if err != nil {
		t.Fatal(err)
	}
	pe := m.(*PerfEvents)
	if err := pe.Output(PerfCurrentCPU, 0, []byte("x")); !errors.Is(err, ErrKeyNotExist) {
		t.Fatalf("output without a reader: %v", err)
	}
	rd, err := NewPerfReader(pe, 2, 72)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewPerfReader(pe, 2, 64); err == nil {
		t.Fatal("second reader accepted")
	}
	pe.Output(PerfCurrentCPU, 1, []byte("on cpu 1"))
	pe.Output(0, 1, []byte("to cpu 0"))
	for _, want := range []PerfRecord{{CPU: 0, RawSample: []byte("to cpu 0")}, {CPU: 1, RawSample: []byte("on cpu 1")}} {
		rec, err := rd.Read()
		if err != nil || rec.CPU != want.CPU || string(rec.RawSample) != string(want.RawSample) {
			t.Fatalf("read %+v, %v; want %+v", rec, err, want)
		}
	}
	// 72 bytes hold three 8-byte samples (24 bytes each with headers); the fourth is lost.
	for i := 0; i < 4; i++ {
		err := pe.Output(PerfCurrentCPU, 0, []byte("12345678"))
		if (i < 3) != (err == nil) {
			t.Fatalf("sample %d: %v", i, err)
		}
	}
	rec, err := rd.Read()
	if err != nil || rec.LostSamples != 1 {
		t.Fatalf("lost report %+v, %v", rec, err)
	}
	for i := 0; i < 3; i++ {
		if rec, err := rd.Read(); err != nil || string(rec.RawSample) != "12345678" {
			t.Fatalf("sample %d: %+v, %v", i, rec, err)
		}
	}
	rd.SetDeadline(time.Now().Add(10 * time.Millisecond))
	if _, err := rd.Read(); !errors.Is(err, ErrNoRecord) {
		t.Fatalf("empty read: %v", err)
	}
	rd.Close()
	if _, err := rd.Read(); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	if err := pe.Output(PerfCurrentCPU, 0, []byte("x")); !errors.Is(err, ErrKeyNotExist) {
		t.Fatalf("output after the reader closed: %v", err)
	}
}
