package maps

import (
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"
)

// BenchmarkLookupPtrParallel measures the helper-side lookup from GOMAXPROCS goroutines at
// once, alone and with a goroutine updating other keys all the while: what programs
// running concurrently pay for reading a shared hash map or LPM trie.
func BenchmarkLookupPtrParallel(b *testing.B) {
	for _, typ := range []Type{Hash, LPMTrie} {
		spec := Spec{Name: "p", Type: typ, KeySize: 4, ValueSize: 8, MaxEntries: 2048}
		key := u32
		if typ == LPMTrie {
			spec.KeySize, spec.Flags = 8, FlagNoPrealloc
			key = func(i uint32) []byte { return lpmKey(24, byte(i>>16), byte(i>>8), byte(i), 0) }
		}
		m, err := New(spec, NewEpochs(0))
		if err != nil {
			b.Fatal(err)
		}
		keys := make([][]byte, 1024)
		for i := range keys {
			keys[i] = key(uint32(i))
			m.Update(keys[i], u64(uint64(i)), UpdateAny)
		}
		for _, writer := range []bool{false, true} {
			name := typ.String() + "/readers"
			if writer {
				name += "+writer"
			}
			b.Run(name, func(b *testing.B) {
				var stop atomic.Bool
				var wg sync.WaitGroup
				if writer {
					wg.Add(1)
					go func() {
						defer wg.Done()
						v := u64(1)
						for i := uint32(0); !stop.Load(); i++ {
							k := key(1024 + i%1024)
							m.Update(k, v, UpdateAny)
							m.Delete(k)
						}
					}()
				}
				b.RunParallel(func(pb *testing.PB) {
					i := 0
					for pb.Next() {
						if m.LookupPtr(unsafe.Pointer(&keys[i&1023][0])) == nil {
							b.Error("no value")
							return
						}
						i++
					}
				})
				stop.Store(true)
				wg.Wait()
			})
		}
	}
}
