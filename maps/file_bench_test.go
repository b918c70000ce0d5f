//go:build unix

package maps

import (
	"path/filepath"
	"testing"
	"unsafe"
)

// BenchmarkFileBacked compares file-backed maps (OpenFile) with in-memory ones (New):
// user-space Lookup and Update (a replace) and a program's LookupPtr, 4-byte keys and
// 8-byte values, 1024 elements.
func BenchmarkFileBacked(b *testing.B) {
	for _, typ := range []Type{Array, Hash, LRUHash} {
		for _, file := range []bool{false, true} {
			spec := Spec{Name: "b", Type: typ, KeySize: 4, ValueSize: 8, MaxEntries: 1024}
			e := NewEpochs(0)
			var m Map
			var err error
			name := typ.String() + "/memory"
			if file {
				name = typ.String() + "/file"
				m, _, err = OpenFile(spec, e, filepath.Join(b.TempDir(), "m"))
			} else {
				m, err = New(spec, e)
			}
			if err != nil {
				b.Fatal(err)
			}
			keys := make([][]byte, 1024)
			for i := range keys {
				keys[i] = u32(uint32(i))
				m.Update(keys[i], u64(uint64(i)), UpdateAny)
			}
			v := make([]byte, 8)
			b.Run(name+"/lookup", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					m.Lookup(keys[i&1023], v)
				}
			})
			b.Run(name+"/update", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					m.Update(keys[i&1023], v, UpdateAny)
				}
			})
			b.Run(name+"/lookup_ptr", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					m.LookupPtr(unsafe.Pointer(&keys[i&1023][0]))
				}
			})
			if c, ok := m.(interface{ Close() error }); ok {
				c.Close()
			}
		}
	}
}
