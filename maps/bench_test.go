package maps

import (
	"testing"
	"unsafe"
)

// BenchmarkUserOps measures Lookup and Update from Go with 4-byte keys and 8-byte values
// (issue #3: at least 5 million per second per core, i.e. at most 200 ns each).
func BenchmarkUserOps(b *testing.B) {
	for _, typ := range []Type{Array, Hash} {
		m, err := New(Spec{Name: "b", Type: typ, KeySize: 4, ValueSize: 8, MaxEntries: 1024}, NewEpochs(0))
		if err != nil {
			b.Fatal(err)
		}
		keys := make([][]byte, 1024)
		for i := range keys {
			keys[i] = u32(uint32(i))
			m.Update(keys[i], u64(uint64(i)), UpdateAny)
		}
		v := make([]byte, 8)
		b.Run(typ.String()+"/lookup", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				m.Lookup(keys[i&1023], v)
			}
		})
		b.Run(typ.String()+"/update", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				m.Update(keys[i&1023], v, UpdateAny)
			}
		})
		b.Run(typ.String()+"/lookup_ptr", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				m.LookupPtr(unsafe.Pointer(&keys[i&1023][0]))
			}
		})
	}
}

// BenchmarkLPMLookup measures the helper-side lookup in tries of 1K and 1M /24 routes
// plus a default route (the issue #3 LPM benchmark shape).
func BenchmarkLPMLookup(b *testing.B) {
	for _, n := range []int{1 << 10, 1 << 20} {
		m, err := New(Spec{Name: "lpm", Type: LPMTrie, KeySize: 8, ValueSize: 8, MaxEntries: uint32(n + 1), Flags: FlagNoPrealloc}, NewEpochs(0))
		if err != nil {
			b.Fatal(err)
		}
		m.Update(lpmKey(0, 0, 0, 0, 0), u64(0), UpdateAny)
		for i := 0; i < n; i++ {
			m.Update(lpmKey(24, byte(i>>16), byte(i>>8), byte(i), 0), u64(uint64(i)), UpdateAny)
		}
		keys := make([][]byte, 1024)
		for i := range keys {
			j := (i * 7919) % n
			keys[i] = lpmKey(32, byte(j>>16), byte(j>>8), byte(j), byte(i))
		}
		b.Run(map[int]string{1 << 10: "1K", 1 << 20: "1M"}[n], func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if m.LookupPtr(unsafe.Pointer(&keys[i&1023][0])) == nil {
					b.Fatal("no match")
				}
			}
		})
	}
}
