package maps

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// stampWords is the number of 8-byte words in a hammered value: all hold the same stamp,
// so a torn value (parts of two writes) or reused memory shows as words that differ.
const stampWords = 6

// stamp is the value written for key k the v-th time.
func stamp(k uint32, v uint64) uint64 { return uint64(k)<<40 | v&(1<<40-1) }

func stampValue(size int, s uint64) []byte {
	b := make([]byte, size)
	for i := 0; i+8 <= size; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], s)
	}
	return b
}

// checkStamp reports whether words at p (or in b) all hold one stamp of key k.
func checkStamp(words []uint64, k uint32) error {
	for i, w := range words {
		if w != words[0] {
			return fmt.Errorf("word %d is %#x, word 0 %#x: torn value", i, w, words[0])
		}
	}
	if uint32(words[0]>>40) != k {
		return fmt.Errorf("value %#x was written for key %d, not %d", words[0], words[0]>>40, k)
	}
	return nil
}

// TestLockFreeHammer hammers LookupPtr (inside epoch guards, as programs do) and Lookup
// from several goroutines while others update, delete and (LRU maps) evict, and checks
// that every value read is one that was written whole for that key, and that the memory
// behind a pointer does not change while the invocation that got it runs. Run with -race.
func TestLockFreeHammer(t *testing.T) {
	type variant struct {
		typ  Type
		file bool // file-backed (OpenFile)
	}
	variants := []variant{{Hash, false}, {PerCPUHash, false}, {LRUHash, false}, {LRUPerCPUHash, false}, {LPMTrie, false}}
	if runtime.GOOS != "windows" && runtime.GOOS != "plan9" && runtime.GOOS != "js" && runtime.GOOS != "wasip1" {
		variants = append(variants, variant{Hash, true}, variant{PerCPUHash, true}, variant{LRUHash, true}, variant{LRUPerCPUHash, true}, variant{LPMTrie, true})
	}
	for _, v := range variants {
		typ := v.typ
		name := typ.String()
		if v.file {
			name += "/file"
		}
		t.Run(name, func(t *testing.T) {
			e := NewEpochs(4)
			spec := Spec{Name: "hammer", Type: typ, KeySize: 4, ValueSize: 8 * stampWords, MaxEntries: 48}
			const keys = 64 // more than max_entries: updates fail with E2BIG or evict
			if typ == LPMTrie {
				spec.KeySize, spec.Flags = 8, FlagNoPrealloc
			}
			var m Map
			var err error
			if v.file {
				m, _, err = OpenFile(spec, e, filepath.Join(t.TempDir(), "m"))
			} else {
				m, err = New(spec, e)
			}
			if err != nil {
				t.Fatal(err)
			}
			if c, ok := m.(interface{ Close() error }); ok {
				defer c.Close()
			}
			vs := int(spec.ValueSize) // one value per CPU, each rounded to 8, for per-CPU maps
			if u, ok := m.(interface{ userValueSize() int }); ok {
				vs = u.userValueSize()
			}
			keyOf := func(k uint32) []byte {
				if typ == LPMTrie {
					// Routes of two lengths: k.0.0.0/8 and k.1.0.0/16, so lookups of
					// k.1.x.x see both, and deleting one changes the match.
					if k%2 == 0 {
						return lpmKey(8, byte(k), 0, 0, 0)
					}
					return lpmKey(16, byte(k-1), 1, 0, 0)
				}
				return u32(k)
			}
			lookupKey := func(k uint32) []byte {
				if typ == LPMTrie {
					return lpmKey(32, byte(k&^1), 1, 2, 3)
				}
				return u32(k)
			}
			// For the LPM trie a lookup of k.1.2.3 may match either route.
			okKey := func(got, k uint32) bool { return got == k || (typ == LPMTrie && got&^1 == k&^1) }
			check := func(words []uint64, k uint32) error {
				if err := checkStamp(words, uint32(words[0]>>40)); err != nil {
					return err
				}
				if !okKey(uint32(words[0]>>40), k) {
					return fmt.Errorf("value %#x was written for key %d, looked up %d", words[0], words[0]>>40, k)
				}
				return nil
			}
			// inPlace reports whether the map wrote a value in place (see below).
			inPlace := func() bool { return inPlaceWrites(m) != 0 }
			var stop atomic.Bool
			var errs = make(chan error, 16)
			fail := func(err error) {
				select {
				case errs <- err:
				default:
				}
				stop.Store(true)
			}
			var wg sync.WaitGroup
			var reads, hits atomic.Int64
			pm, _ := m.(PerCPUMap)
			for r := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(r), 1))
					val := make([]byte, vs)
					words := make([]uint64, stampWords)
					for i := 0; !stop.Load(); i++ {
						k := rng.Uint32N(keys)
						key := lookupKey(k)
						if i%4 == 3 {
							// User space copy.
							if err := m.Lookup(key, val); err == nil {
								for w := range words {
									words[w] = binary.LittleEndian.Uint64(val[8*w:])
								}
								if err := check(words, k); err != nil {
									fail(fmt.Errorf("Lookup %d: %w", k, err))
								}
							} else if !errors.Is(err, ErrKeyNotExist) {
								fail(err)
							}
							continue
						}
						g := e.Enter()
						var p unsafe.Pointer
						if pm != nil && typ != LPMTrie {
							p = pm.LookupPtrCPU(unsafe.Pointer(&key[0]), g.CPU())
						} else {
							p = m.LookupPtr(unsafe.Pointer(&key[0]))
						}
						reads.Add(1)
						if p != nil {
							hits.Add(1)
							first := unsafe.Slice((*uint64)(p), stampWords)
							copy(words, first)
							if err := check(words, k); err != nil {
								fail(fmt.Errorf("LookupPtr %d: %w", k, err))
							}
							// Let writers replace, delete and evict, then read again:
							// the invocation's memory must not have changed.
							for range 20 {
								if rng.IntN(8) == 0 {
									time.Sleep(0)
								}
							}
							for w := range words {
								if first[w] != words[w] && !inPlace() {
									fail(fmt.Errorf("LookupPtr %d: value changed under a running invocation: %#x, was %#x", k, first[w], words[w]))
									break
								}
							}
						}
						g.Leave()
					}
				}()
			}
			var version atomic.Uint64
			for w := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(w), 2))
					next := make([]byte, spec.KeySize)
					for i := 0; !stop.Load(); i++ {
						k := rng.Uint32N(keys)
						switch op := rng.IntN(10); {
						case op < 6:
							err := m.Update(keyOf(k), stampValue(vs, stamp(k, version.Add(1))), UpdateAny)
							if err != nil && !errors.Is(err, ErrFull) {
								fail(err)
							}
						case op < 9:
							if err := m.Delete(keyOf(k)); err != nil && !errors.Is(err, ErrKeyNotExist) {
								fail(err)
							}
						default:
							var key []byte
							for n := 0; m.NextKey(key, next) == nil && n < 2*keys; n++ {
								key = append(key[:0], next...)
							}
						}
					}
				}()
			}
			time.Sleep(300 * time.Millisecond)
			stop.Store(true)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if hits.Load() == 0 || hits.Load() == reads.Load() {
				t.Errorf("%d of %d lookups hit: the test did not exercise both cases", hits.Load(), reads.Load())
			}
			if n := inPlaceWrites(m); n != 0 {
				// A file-backed map out of spare slots (a reader held its epoch
				// through thousands of replaces) wrote values in place, as Linux's
				// preallocated maps do: values may change under a reader then.
				t.Logf("%d values written in place", n)
			}
			if held := e.Collect(); held != 0 {
				t.Errorf("%d retired values held with no invocation running", held)
			}
		})
	}
}

// inPlaceWrites returns how many replaces m wrote in place for lack of free memory.
func inPlaceWrites(m Map) uint64 {
	switch m := m.(type) {
	case *hash:
		return m.inPlace.Load()
	case *lpm:
		return m.inPlace.Load()
	}
	return 0
}

// TestNextKeyTableOrder: iteration visits every key once, in a few steps per key; a key
// that is not in the map restarts at the first key; deleting the current key while
// iterating (the kernel's idiom) restarts, so every key is still seen.
func TestNextKeyTableOrder(t *testing.T) {
	for _, typ := range []Type{Hash, LRUHash, LPMTrie} {
		spec := Spec{Name: "it", Type: typ, KeySize: 4, ValueSize: 8, MaxEntries: 1 << 17}
		key := u32
		n := uint32(100000)
		if typ == LPMTrie {
			spec.KeySize, spec.Flags = 8, FlagNoPrealloc
			key = func(i uint32) []byte {
				// Three prefix lengths, all with distinct data in the first 16 bits.
				return lpmKey(16+8*(i%3), byte(i>>8), byte(i), 0, 0)
			}
			n = 60000
		}
		m := mustNew(t, spec)
		for i := range n {
			if err := m.Update(key(i), u64(uint64(i)), UpdateNoExist); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		seen := map[string]bool{}
		next := make([]byte, spec.KeySize)
		var k []byte
		var lengths []uint32
		for m.NextKey(k, next) == nil {
			if seen[string(next)] {
				t.Fatalf("%s: key %x twice", typ, next)
			}
			seen[string(next)] = true
			k = append(k[:0], next...)
			if typ == LPMTrie {
				if l := binary.LittleEndian.Uint32(next); len(lengths) == 0 || lengths[len(lengths)-1] != l {
					lengths = append(lengths, l)
				}
			}
		}
		if len(seen) != int(n) {
			t.Fatalf("%s: iteration saw %d of %d keys", typ, len(seen), n)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s: iterating %d keys took %v", typ, n, d)
		}
		if typ == LPMTrie && fmt.Sprint(lengths) != "[32 24 16]" {
			t.Errorf("LPM iteration by prefix length: %v", lengths)
		}
		first := make([]byte, spec.KeySize)
		m.NextKey(nil, first)
		missing := key(n + 7)
		if err := m.NextKey(missing, next); err != nil || string(next) != string(first) {
			t.Errorf("%s: NextKey of a missing key = %x, %v; want the first key %x", typ, next, err, first)
		}
		// Drain: delete each key after fetching the next.
		count := 0
		k = nil
		for m.NextKey(k, next) == nil {
			if k != nil {
				if err := m.Delete(k); err != nil {
					t.Fatal(err)
				}
			}
			k = append(k[:0], next...)
			count++
		}
		if err := m.Delete(k); err != nil || count != int(n) {
			t.Fatalf("%s: drain visited %d keys, last delete %v", typ, count, err)
		}
		if err := m.NextKey(nil, next); !errors.Is(err, ErrKeyNotExist) {
			t.Fatalf("%s: not empty after the drain", typ)
		}
	}
}

// TestHashBucketCap: a huge max_entries does not allocate its buckets up front, and the
// map still works past the cap's load.
func TestHashBucketCap(t *testing.T) {
	m := mustNew(t, Spec{Name: "big", Type: Hash, KeySize: 4, ValueSize: 8, MaxEntries: 1 << 31})
	if nb := len(m.(*hash).t.buckets); nb != maxBuckets {
		t.Fatalf("%d buckets for 2^31 entries", nb)
	}
	small := mustNew(t, Spec{Name: "small", Type: Hash, KeySize: 4, ValueSize: 8, MaxEntries: 1000})
	if nb := len(small.(*hash).t.buckets); nb != 1024 {
		t.Fatalf("%d buckets for 1000 entries, want 1024 as Linux", nb)
	}
	for i := range uint32(2000) {
		err := small.Update(u32(i), u64(uint64(i)), UpdateAny)
		if (i < 1000) != (err == nil) {
			t.Fatalf("update %d: %v", i, err)
		}
	}
}

// TestLRUUsedMark: a lookup through LookupPtr marks the element used, a user-space
// Lookup does not (as the kernel's syscall lookup does not set the reference bit).
func TestLRUUsedMark(t *testing.T) {
	m := mustNew(t, Spec{Name: "l", Type: LRUHash, KeySize: 4, ValueSize: 8, MaxEntries: 2})
	m.Update(u32(1), u64(1), UpdateAny)
	m.Update(u32(2), u64(2), UpdateAny)
	m.Lookup(u32(1), make([]byte, 8)) // not a use
	m.Update(u32(3), u64(3), UpdateAny)
	if m.Lookup(u32(1), make([]byte, 8)) == nil {
		t.Fatal("user-space lookup kept key 1 from eviction")
	}
	k := u32(2)
	m.LookupPtr(unsafe.Pointer(&k[0]))
	m.Update(u32(4), u64(4), UpdateAny)
	if m.Lookup(u32(2), make([]byte, 8)) != nil || m.Lookup(u32(3), make([]byte, 8)) == nil {
		t.Fatal("LookupPtr did not give key 2 a second chance")
	}
}
