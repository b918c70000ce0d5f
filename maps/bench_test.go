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
