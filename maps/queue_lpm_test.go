package maps

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
	"unsafe"
)

func TestQueueStack(t *testing.T) {
	for _, tc := range []struct {
		typ  Type
		want []uint32 // pop order after pushing 1, 2, 3 and then 4 with UpdateExist
	}{
		{Queue, []uint32{2, 3, 4}},
		{Stack, []uint32{4, 3, 2}},
	} {
		m, err := New(Spec{Name: "q", Type: tc.typ, ValueSize: 4, MaxEntries: 3}, NewEpochs(0))
		if err != nil {
			t.Fatal(err)
		}
		q := m.(QueueMap)
		v := make([]byte, 4)
		if err := q.Peek(v); !errors.Is(err, ErrKeyNotExist) {
			t.Fatalf("%s: peek of empty: %v", tc.typ, err)
		}
		for i := uint32(1); i <= 3; i++ {
			if err := m.Update(nil, u32(i), UpdateAny); err != nil {
				t.Fatal(err)
			}
		}
		if err := q.Push(u32(4), UpdateAny); !errors.Is(err, ErrFull) {
			t.Fatalf("%s: push to full: %v", tc.typ, err)
		}
		if err := q.Push(u32(4), UpdateExist); err != nil {
			t.Fatalf("%s: push with BPF_EXIST: %v", tc.typ, err)
		}
		if err := m.Lookup(nil, v); err != nil || binary.LittleEndian.Uint32(v) != tc.want[0] {
			t.Fatalf("%s: peek = %d, %v", tc.typ, binary.LittleEndian.Uint32(v), err)
		}
		for _, want := range tc.want {
			if err := q.Pop(v); err != nil || binary.LittleEndian.Uint32(v) != want {
				t.Fatalf("%s: pop = %d, %v, want %d", tc.typ, binary.LittleEndian.Uint32(v), err, want)
			}
		}
		if err := q.Pop(v); !errors.Is(err, ErrKeyNotExist) {
			t.Fatalf("%s: pop of empty: %v", tc.typ, err)
		}
		if m.Delete(nil) == nil || m.NextKey(nil, v) == nil || q.Push(u32(1), UpdateNoExist) == nil {
			t.Fatalf("%s: delete, iteration or BPF_NOEXIST accepted", tc.typ)
		}
	}
	if _, err := New(Spec{Type: Queue, KeySize: 4, ValueSize: 4, MaxEntries: 1}, NewEpochs(0)); err == nil {
		t.Fatal("queue with a key accepted")
	}
}

func lpmKey(prefix uint32, addr ...byte) []byte {
	return append(binary.LittleEndian.AppendUint32(nil, prefix), addr...)
}

func TestLPM(t *testing.T) {
	if _, err := New(Spec{Type: LPMTrie, KeySize: 8, ValueSize: 4, MaxEntries: 8}, NewEpochs(0)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("LPM trie without BPF_F_NO_PREALLOC: %v", err)
	}
	m, err := New(Spec{Name: "routes", Type: LPMTrie, KeySize: 8, ValueSize: 4, MaxEntries: 8, Flags: FlagNoPrealloc}, NewEpochs(0))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		key []byte
		v   uint32
	}{
		{lpmKey(8, 10, 0, 0, 0), 8},
		{lpmKey(16, 10, 1, 0, 0), 16},
		{lpmKey(0, 0, 0, 0, 0), 1},
		{lpmKey(27, 192, 168, 1, 32), 27},
	} {
		if err := m.Update(r.key, u32(r.v), UpdateNoExist); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Update(lpmKey(16, 10, 1, 99, 7), u32(0), UpdateNoExist); !errors.Is(err, ErrKeyExist) {
		t.Fatalf("same prefix with other host bits: %v", err)
	}
	if err := m.Update(lpmKey(33, 1, 2, 3, 4), u32(0), UpdateAny); !errors.Is(err, ErrInvalid) {
		t.Fatalf("prefix longer than the key: %v", err)
	}
	v := make([]byte, 4)
	for _, tc := range []struct {
		addr []byte
		want uint32
	}{
		{[]byte{10, 1, 2, 3}, 16},
		{[]byte{10, 2, 0, 1}, 8},
		{[]byte{11, 0, 0, 1}, 1},
		{[]byte{192, 168, 1, 63}, 27},
		{[]byte{192, 168, 1, 64}, 1},
	} {
		if err := m.Lookup(lpmKey(32, tc.addr...), v); err != nil || binary.LittleEndian.Uint32(v) != tc.want {
			t.Errorf("lookup %v = %d, %v; want %d", tc.addr, binary.LittleEndian.Uint32(v), err, tc.want)
		}
		k := lpmKey(32, tc.addr...)
		if p := m.LookupPtr(unsafe.Pointer(&k[0])); p == nil || *(*uint32)(p) != tc.want {
			t.Errorf("LookupPtr %v wrong", tc.addr)
		}
	}
	// A lookup's own prefix length limits the match.
	if err := m.Lookup(lpmKey(12, 10, 1, 2, 3), v); err != nil || binary.LittleEndian.Uint32(v) != 8 {
		t.Errorf("lookup 10.1.2.3/12 = %d, %v; want 8", binary.LittleEndian.Uint32(v), err)
	}
	if err := m.Delete(lpmKey(0, 0, 0, 0, 0)); err != nil {
		t.Fatal(err)
	}
	if err := m.Lookup(lpmKey(32, 11, 0, 0, 1), v); !errors.Is(err, ErrKeyNotExist) {
		t.Fatalf("after deleting the default route: %v", err)
	}
	var order []uint32
	next := make([]byte, 8)
	var key []byte
	for m.NextKey(key, next) == nil {
		order = append(order, binary.LittleEndian.Uint32(next))
		key = append([]byte(nil), next...)
	}
	if len(order) != 3 || order[0] != 27 || order[2] != 8 {
		t.Fatalf("iteration order by prefix length: %v", order)
	}
}

// TestLPMRandom compares lookups with a brute-force longest-prefix search over random
// routes.
func TestLPMRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	m, _ := New(Spec{Name: "r", Type: LPMTrie, KeySize: 8, ValueSize: 4, MaxEntries: 1000, Flags: FlagNoPrealloc}, NewEpochs(0))
	type route struct {
		prefix uint32
		addr   uint32
	}
	var routes []route
	for i := 0; i < 300; i++ {
		r := route{prefix: uint32(rng.IntN(33)), addr: rng.Uint32()}
		if r.prefix < 32 {
			r.addr &^= 0xffffffff >> r.prefix
		}
		k := lpmKey(r.prefix, byte(r.addr>>24), byte(r.addr>>16), byte(r.addr>>8), byte(r.addr))
		if m.Update(k, u32(uint32(i)), UpdateNoExist) == nil {
			routes = append(routes, r)
		}
	}
	v := make([]byte, 4)
	for i := 0; i < 5000; i++ {
		addr := rng.Uint32()
		if i%2 == 0 {
			addr = routes[rng.IntN(len(routes))].addr ^ (rng.Uint32() >> 20)
		}
		best := -1
		for j, r := range routes {
			mask := uint32(0)
			if r.prefix > 0 {
				mask = 0xffffffff << (32 - r.prefix)
			}
			if addr&mask == r.addr && (best < 0 || r.prefix > routes[best].prefix) {
				best = j
			}
		}
		err := m.Lookup(lpmKey(32, byte(addr>>24), byte(addr>>16), byte(addr>>8), byte(addr)), v)
		if best < 0 {
			if !errors.Is(err, ErrKeyNotExist) {
				t.Fatalf("%08x: got a match, want none", addr)
			}
			continue
		}
		want := routes[best]
		k := lpmKey(want.prefix, byte(want.addr>>24), byte(want.addr>>16), byte(want.addr>>8), byte(want.addr))
		wantV := make([]byte, 4)
		m.Lookup(k, wantV)
		if err != nil || string(v) != string(wantV) {
			t.Fatalf("%08x: got %x (%v), want the /%d route's %x", addr, v, err, want.prefix, wantV)
		}
	}
}
