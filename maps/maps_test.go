package maps

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"
)

func u32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func u64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

func mustNew(t *testing.T, spec Spec) Map {
	t.Helper()
	m, err := New(spec, NewEpochs(0))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestNewErrors(t *testing.T) {
	for _, spec := range []Spec{
		{Type: Array, KeySize: 8, ValueSize: 8, MaxEntries: 1},
		{Type: Array, KeySize: 4, ValueSize: 0, MaxEntries: 1},
		{Type: Hash, KeySize: 0, ValueSize: 8, MaxEntries: 1},
		{Type: Hash, KeySize: 4, ValueSize: 8, MaxEntries: 0},
		{Type: Array, KeySize: 4, ValueSize: MaxValueSize + 1, MaxEntries: 1},
		{Type: Hash, KeySize: MaxKeySize + 1, ValueSize: 8, MaxEntries: 1},
		{Type: StackTrace, KeySize: 4, ValueSize: 8, MaxEntries: 1},
		{Type: LRUHash, KeySize: 4, ValueSize: 8, MaxEntries: 1, SpinLock: true},
		{Type: Array, KeySize: 4, ValueSize: 8, MaxEntries: 1, SpinLock: true, SpinLockOffset: 6},
		{Type: Array, KeySize: 4, ValueSize: 8, MaxEntries: 1, SpinLock: true, SpinLockOffset: 8},
	} {
		if _, err := New(spec, NewEpochs(0)); err == nil {
			t.Errorf("New(%+v) succeeded", spec)
		}
	}
}

// TestUpdateFlags checks BPF_ANY, BPF_NOEXIST and BPF_EXIST against what the kernel does
// for each map type.
func TestUpdateFlags(t *testing.T) {
	for _, tc := range []struct {
		typ   Type
		flags uint64
		exist bool // whether the key is in the map before the update
		err   error
	}{
		{Array, UpdateAny, true, nil},
		{Array, UpdateExist, true, nil},
		{Array, UpdateNoExist, true, ErrKeyExist},
		{Array, 7, true, ErrInvalid},
		{Hash, UpdateAny, false, nil},
		{Hash, UpdateAny, true, nil},
		{Hash, UpdateNoExist, false, nil},
		{Hash, UpdateNoExist, true, ErrKeyExist},
		{Hash, UpdateExist, false, ErrKeyNotExist},
		{Hash, UpdateExist, true, nil},
		{Hash, 3, true, ErrInvalid},
	} {
		m := mustNew(t, Spec{Name: "m", Type: tc.typ, KeySize: 4, ValueSize: 8, MaxEntries: 4})
		if tc.exist && tc.typ == Hash {
			if err := m.Update(u32(1), u64(1), UpdateAny); err != nil {
				t.Fatal(err)
			}
		}
		err := m.Update(u32(1), u64(42), tc.flags)
		if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
			t.Errorf("%s update flags %d (exists %v): %v, want %v", tc.typ, tc.flags, tc.exist, err, tc.err)
			continue
		}
		got := make([]byte, 8)
		if err := m.Lookup(u32(1), got); err == nil && tc.err == nil && binary.LittleEndian.Uint64(got) != 42 {
			t.Errorf("%s: value %d after update, want 42", tc.typ, binary.LittleEndian.Uint64(got))
		}
	}
}

func TestArray(t *testing.T) {
	m := mustNew(t, Spec{Name: "a", Type: Array, KeySize: 4, ValueSize: 12, MaxEntries: 3})
	v := make([]byte, 12)
	if err := m.Lookup(u32(2), v); err != nil || string(v) != string(make([]byte, 12)) {
		t.Fatalf("fresh element: %x, %v", v, err)
	}
	if err := m.Lookup(u32(3), v); !errors.Is(err, ErrKeyNotExist) {
		t.Fatalf("lookup past the end: %v", err)
	}
	if err := m.Update(u32(3), v, UpdateAny); !errors.Is(err, ErrFull) {
		t.Fatalf("update past the end: %v", err)
	}
	if err := m.Delete(u32(0)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("delete: %v", err)
	}
	if err := m.Lookup(u32(0), make([]byte, 8)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("short value buffer: %v", err)
	}
	copy(v, "hello world!")
	m.Update(u32(1), v, UpdateAny)
	p := m.LookupPtr(unsafe.Pointer(&u32(1)[0]))
	if p == nil || string(unsafe.Slice((*byte)(p), 12)) != "hello world!" || uintptr(p)%8 != 0 {
		t.Fatalf("LookupPtr = %p", p)
	}
	if m.LookupPtr(unsafe.Pointer(&u32(9)[0])) != nil {
		t.Fatal("LookupPtr past the end")
	}
	var keys []uint32
	next := make([]byte, 4)
	var key []byte
	for m.NextKey(key, next) == nil {
		keys = append(keys, binary.LittleEndian.Uint32(next))
		key = append([]byte(nil), next...)
	}
	if len(keys) != 3 || keys[0] != 0 || keys[2] != 2 {
		t.Fatalf("iteration: %v", keys)
	}
}

func TestHash(t *testing.T) {
	m := mustNew(t, Spec{Name: "h", Type: Hash, KeySize: 4, ValueSize: 8, MaxEntries: 3})
	for i := uint32(1); i <= 3; i++ {
		if err := m.Update(u32(i*10), u64(uint64(i)), UpdateNoExist); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Update(u32(99), u64(1), UpdateAny); !errors.Is(err, ErrFull) {
		t.Fatalf("update of a full map: %v", err)
	}
	if err := m.Update(u32(20), u64(7), UpdateAny); err != nil {
		t.Fatalf("replace in a full map: %v", err)
	}
	if err := m.Delete(u32(99)); !errors.Is(err, ErrKeyNotExist) {
		t.Fatalf("delete missing: %v", err)
	}
	// Iterate, deleting the current key as we go: the kernel's idiom for draining a map.
	var seen []uint32
	next := make([]byte, 4)
	var key []byte
	for m.NextKey(key, next) == nil {
		seen = append(seen, binary.LittleEndian.Uint32(next))
		key = append([]byte(nil), next...)
	}
	if len(seen) != 3 {
		t.Fatalf("iteration saw %v", seen)
	}
	for m.NextKey(nil, next) == nil {
		if err := m.Delete(next); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.NextKey(nil, next); !errors.Is(err, ErrKeyNotExist) {
		t.Fatalf("empty map iteration: %v", err)
	}
}

// TestEpochs: a value deleted while an invocation holds a pointer to it stays allocated
// and unchanged until the invocation leaves.
func TestEpochs(t *testing.T) {
	e := NewEpochs(4)
	m, _ := New(Spec{Name: "h", Type: Hash, KeySize: 4, ValueSize: 8, MaxEntries: 8}, e)
	m.Update(u32(1), u64(1234), UpdateAny)
	g := e.Enter()
	p := m.LookupPtr(unsafe.Pointer(&u32(1)[0]))
	m.Delete(u32(1))
	m.Update(u32(1), u64(5), UpdateAny)
	m.Update(u32(1), u64(6), UpdateAny)
	if held := e.Collect(); held != 2 {
		t.Fatalf("%d retired values held while an invocation runs, want 2 (1234 and 5)", held)
	}
	if *(*uint64)(p) != 1234 {
		t.Fatalf("the old value changed under the running invocation")
	}
	g.Leave()
	if held := e.Collect(); held != 0 {
		t.Fatalf("%d retired values held after the invocation left", held)
	}
	// An invocation that entered after the retirement does not keep it.
	m.Update(u32(1), u64(7), UpdateAny)
	g2 := e.Enter()
	m.Update(u32(1), u64(8), UpdateAny)
	if held := e.Collect(); held != 1 {
		t.Fatalf("held %d, want 1 (the value retired while g2 ran)", held)
	}
	g2.Leave()
}

// TestConcurrent: 8 goroutines act as programs, incrementing shared counters through
// LookupPtr with atomics inside epoch guards, while user space updates other keys and
// iterates; the final counts are exact. Run with -race.
func TestConcurrent(t *testing.T) {
	e := NewEpochs(0)
	for _, typ := range []Type{Array, Hash} {
		m, err := New(Spec{Name: "c", Type: typ, KeySize: 4, ValueSize: 8, MaxEntries: 64}, e)
		if err != nil {
			t.Fatal(err)
		}
		if typ == Hash {
			for k := uint32(0); k < 4; k++ {
				m.Update(u32(k), u64(0), UpdateAny)
			}
		}
		const workers, iters = 8, 2000
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				key := u32(uint32(w % 4))
				for i := 0; i < iters; i++ {
					g := e.Enter()
					p := m.LookupPtr(unsafe.Pointer(&key[0]))
					atomic.AddUint64((*uint64)(p), 1)
					g.Leave()
				}
			}(w)
		}
		stop := make(chan struct{})
		var churn sync.WaitGroup
		churn.Add(1)
		go func() {
			defer churn.Done()
			next := make([]byte, 4)
			for i := uint32(0); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := 10 + i%40
				m.Update(u32(k), u64(uint64(i)), UpdateAny)
				if typ == Hash && i%3 == 0 {
					m.Delete(u32(k))
				}
				m.NextKey(nil, next)
			}
		}()
		wg.Wait()
		close(stop)
		churn.Wait()
		var total uint64
		v := make([]byte, 8)
		for k := uint32(0); k < 4; k++ {
			if err := m.Lookup(u32(k), v); err != nil {
				t.Fatal(err)
			}
			total += binary.LittleEndian.Uint64(v)
		}
		if total != workers*iters {
			t.Errorf("%s: counted %d, want %d", typ, total, workers*iters)
		}
	}
}

// TestPerCPU: invocations increment their own CPU's value without atomics; user space
// reads one value per CPU and the sum is exact. Run with -race.
func TestPerCPU(t *testing.T) {
	e := NewEpochs(3)
	for _, typ := range []Type{PerCPUArray, PerCPUHash} {
		m, err := New(Spec{Name: "p", Type: typ, KeySize: 4, ValueSize: 4, MaxEntries: 8}, e)
		if err != nil {
			t.Fatal(err)
		}
		pm := m.(PerCPUMap)
		userSize := 8 * e.NumCPU() // 4-byte values round up to 8
		if err := m.Update(u32(5), make([]byte, 4), UpdateAny); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%s: update with one value: %v", typ, err)
		}
		if err := m.Update(u32(5), make([]byte, userSize), UpdateAny); err != nil {
			t.Fatal(err)
		}
		const workers, iters = 8, 3000
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				key := u32(5)
				for i := 0; i < iters; i++ {
					g := e.Enter()
					p := pm.LookupPtrCPU(unsafe.Pointer(&key[0]), g.CPU())
					*(*uint32)(p) += 1
					g.Leave()
				}
			}()
		}
		wg.Wait()
		v := make([]byte, userSize)
		if err := m.Lookup(u32(5), v); err != nil {
			t.Fatal(err)
		}
		var sum uint32
		for cpu := 0; cpu < e.NumCPU(); cpu++ {
			sum += binary.LittleEndian.Uint32(v[8*cpu:])
		}
		if sum != workers*iters {
			t.Errorf("%s: per-CPU values sum to %d, want %d", typ, sum, workers*iters)
		}
		if pm.LookupPtrCPU(unsafe.Pointer(&u32(5)[0]), e.NumCPU()) != nil {
			t.Errorf("%s: CPU out of range gave a value", typ)
		}
	}
}

// TestLRU: a full LRU map evicts the entry used least recently instead of refusing.
func TestLRU(t *testing.T) {
	for _, typ := range []Type{LRUHash, LRUPerCPUHash} {
		e := NewEpochs(2)
		m, err := New(Spec{Name: "l", Type: typ, KeySize: 4, ValueSize: 8, MaxEntries: 3}, e)
		if err != nil {
			t.Fatal(err)
		}
		vsize := 8
		if typ == LRUPerCPUHash {
			vsize = 8 * e.NumCPU()
		}
		val := make([]byte, vsize)
		for k := uint32(1); k <= 3; k++ {
			if err := m.Update(u32(k), val, UpdateAny); err != nil {
				t.Fatal(err)
			}
		}
		// Use 1 and 3 (as a program would), then insert 4: 2 goes.
		for _, k := range []uint32{1, 3} {
			key := u32(k)
			if m.LookupPtr(unsafe.Pointer(&key[0])) == nil {
				t.Fatalf("%s: key %d missing", typ, k)
			}
		}
		if err := m.Update(u32(4), val, UpdateNoExist); err != nil {
			t.Fatalf("%s: insert into a full LRU map: %v", typ, err)
		}
		for k, want := range map[uint32]bool{1: true, 2: false, 3: true, 4: true} {
			err := m.Lookup(u32(k), val)
			if (err == nil) != want {
				t.Errorf("%s: key %d present=%v, want %v", typ, k, err == nil, want)
			}
		}
		if err := m.Delete(u32(1)); err != nil {
			t.Fatal(err)
		}
		if err := m.Update(u32(5), val, UpdateAny); err != nil {
			t.Fatal(err)
		}
		if err := m.Lookup(u32(3), val); err != nil {
			t.Errorf("%s: a free slot after delete still evicted key 3", typ)
		}
	}
}

// TestSpinLockWord: updates never set the struct bpf_spin_lock of a value (an array
// element's stays as it is, a new hash element's starts unlocked) and lookups read it as
// 0, so no update can leave a lock taken that no program holds.
func TestSpinLockWord(t *testing.T) {
	for _, typ := range []Type{Array, Hash} {
		t.Run(typ.String(), func(t *testing.T) {
			m := mustNew(t, Spec{Type: typ, KeySize: 4, ValueSize: 16, MaxEntries: 4, SpinLock: true, SpinLockOffset: 8})
			key := u32(1)
			value := make([]byte, 16)
			for i := range value {
				value[i] = byte(0xa0 + i)
			}
			if err := m.Update(key, value, UpdateAny); err != nil {
				t.Fatal(err)
			}
			lock := (*atomic.Uint32)(unsafe.Add(m.LookupPtr(unsafe.Pointer(&key[0])), 8))
			if got := lock.Load(); got != 0 {
				t.Fatalf("the update set the lock word to %#x", got)
			}
			lock.Store(1) // a program holds the lock
			got := make([]byte, 16)
			if err := m.Lookup(key, got); err != nil {
				t.Fatal(err)
			}
			want := append(append(append([]byte(nil), value[:8]...), 0, 0, 0, 0), value[12:]...)
			if string(got) != string(want) {
				t.Fatalf("lookup % x, want % x (the lock reads as 0)", got, want)
			}
			value[0] = 0x11
			if err := m.Update(key, value, UpdateExist); err != nil {
				t.Fatal(err)
			}
			ptr := m.LookupPtr(unsafe.Pointer(&key[0]))
			if b := *(*byte)(ptr); b != 0x11 {
				t.Fatalf("update not applied: first byte %#x", b)
			}
			held := (*atomic.Uint32)(unsafe.Add(ptr, 8)).Load()
			switch typ {
			case Array: // in place: the holder's lock stays held, the update does not take it
				if held != 1 {
					t.Fatalf("the update changed the held lock to %#x", held)
				}
			case Hash: // a new element, unlocked
				if held != 0 {
					t.Fatalf("the new element's lock is %#x", held)
				}
			}
		})
	}
}
