package maps

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
)

// errClass names the errno an error stands for, for ours and the kernel's alike.
func errClass(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrNoSpace), errors.Is(err, syscall.ENOSPC):
		return "ENOSPC"
	case errors.Is(err, ErrFull), errors.Is(err, syscall.E2BIG):
		return "E2BIG" // before ENOENT: an array index past the end wraps both
	case errors.Is(err, ErrKeyNotExist), errors.Is(err, syscall.ENOENT):
		return "ENOENT"
	case errors.Is(err, ErrKeyExist), errors.Is(err, syscall.EEXIST):
		return "EEXIST"
	case errors.Is(err, ErrInvalid), errors.Is(err, syscall.EINVAL):
		return "EINVAL"
	case errors.Is(err, ErrNotSupported), errors.Is(err, ebpf.ErrNotSupported):
		return "ENOTSUPP"
	}
	return "other: " + err.Error()
}

// kernelMap creates a kernel map like spec, or skips the test when bpf() is unavailable.
func kernelMap(t *testing.T, spec Spec) *ebpf.Map {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the kernel oracle needs root")
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Skipf("the kernel oracle needs bpf(): %v", err)
	}
	km, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.MapType(spec.Type), KeySize: spec.KeySize, ValueSize: spec.ValueSize, MaxEntries: spec.MaxEntries, Flags: spec.Flags})
	if err != nil {
		t.Skipf("the kernel oracle needs bpf(): %v", err)
	}
	t.Cleanup(func() { km.Close() })
	return km
}

// oraclePair is the same map in the kernel and here. Keys are 4 bytes (8 for the LPM
// trie) and values 8, so that batches are []uint32 (or []uint64) and []uint64.
type oraclePair struct {
	t      *testing.T
	spec   Spec
	kernel *ebpf.Map
	ours   Map
	ncpu   int // values per element: the kernel's possible CPUs for per-CPU maps, else 1
}

func newOraclePair(t *testing.T, spec Spec) *oraclePair {
	km := kernelMap(t, spec)
	p := &oraclePair{t: t, spec: spec, kernel: km, ncpu: 1}
	slots := 0
	if spec.Type == PerCPUHash || spec.Type == PerCPUArray {
		// Our per-CPU values then have the kernel's layout: one 8-byte value per
		// possible CPU.
		n, err := ebpf.PossibleCPU()
		if err != nil {
			t.Skipf("possible CPUs: %v", err)
		}
		p.ncpu, slots = n, n
	}
	m, err := New(spec, NewEpochs(slots))
	if err != nil {
		t.Fatal(err)
	}
	p.ours = m
	return p
}

// perCPU gives each element one value per CPU (v, v+1, ...) for per-CPU maps.
func (p *oraclePair) perCPU(vals []uint64) []uint64 {
	var out []uint64
	for _, v := range vals {
		for cpu := range p.ncpu {
			out = append(out, v+uint64(cpu))
		}
	}
	return out
}

// keyBytes and keySlice turn numeric keys into our flat batch and the kernel's slice.
func (p *oraclePair) keyBytes(keys []uint64) []byte {
	var b []byte
	for _, k := range keys {
		if p.spec.KeySize == 8 {
			b = binary.LittleEndian.AppendUint64(b, k)
		} else {
			b = binary.LittleEndian.AppendUint32(b, uint32(k))
		}
	}
	return b
}

func (p *oraclePair) keySlice(keys []uint64) any {
	if p.spec.KeySize == 8 {
		return slices.Clone(keys)
	}
	out := make([]uint32, len(keys))
	for i, k := range keys {
		out[i] = uint32(k)
	}
	return out
}

func valueBytes(vals []uint64) []byte {
	var b []byte
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	return b
}

// contents returns every element, kernel's and ours, as sorted "key=value" strings.
func (p *oraclePair) contents() (kernel, ours []string) {
	var k []byte
	var v []uint64
	it := p.kernel.Iterate()
	if p.ncpu == 1 {
		var v1 uint64
		for it.Next(&k, &v1) {
			kernel = append(kernel, fmt.Sprintf("%x=%x", k, valueBytes([]uint64{v1})))
		}
	} else {
		for it.Next(&k, &v) {
			kernel = append(kernel, fmt.Sprintf("%x=%x", k, valueBytes(v)))
		}
	}
	next := make([]byte, p.spec.KeySize)
	var key []byte
	for p.ours.NextKey(key, next) == nil {
		val := make([]byte, valueSizeOf(p.ours))
		if err := p.ours.Lookup(next, val); err == nil {
			ours = append(ours, fmt.Sprintf("%x=%x", next, val))
		}
		key = append(key[:0], next...)
	}
	slices.Sort(kernel)
	slices.Sort(ours)
	return kernel, ours
}

func (p *oraclePair) sameContents(what string) {
	p.t.Helper()
	kernel, ours := p.contents()
	if !slices.Equal(kernel, ours) {
		p.t.Errorf("%s after %s: contents differ\nkernel %v\nanybpf %v", p.spec.Type, what, kernel, ours)
	}
}

// update runs a batch update on both and compares the count and error (the count only
// when the kernel wrote one: an early EINVAL leaves it as it was).
func (p *oraclePair) update(keys, vals []uint64, opts BatchOptions) {
	p.t.Helper()
	vals = p.perCPU(vals)
	kn, kerr := p.kernel.BatchUpdate(p.keySlice(keys), vals, &ebpf.BatchOptions{ElemFlags: opts.ElemFlags, Flags: opts.Flags})
	on, oerr := BatchUpdate(p.ours, p.keyBytes(keys), valueBytes(vals), opts)
	p.compare(fmt.Sprintf("batch update %v %+v", keys, opts), kn, kerr, on, oerr)
}

func (p *oraclePair) delete(keys []uint64, opts BatchOptions) {
	p.t.Helper()
	kn, kerr := p.kernel.BatchDelete(p.keySlice(keys), &ebpf.BatchOptions{ElemFlags: opts.ElemFlags, Flags: opts.Flags})
	on, oerr := BatchDelete(p.ours, p.keyBytes(keys), opts)
	p.compare(fmt.Sprintf("batch delete %v %+v", keys, opts), kn, kerr, on, oerr)
}

func (p *oraclePair) compare(what string, kn int, kerr error, on int, oerr error) {
	p.t.Helper()
	kc, oc := errClass(kerr), errClass(oerr)
	if kc != oc || (kn != on && kc != "EINVAL" && kc != "ENOTSUPP") {
		p.t.Errorf("%s %s: kernel %d, %s (%v); anybpf %d, %s (%v)", p.spec.Type, what, kn, kc, kerr, on, oc, oerr)
	}
	p.sameContents(what)
}

// drain reads the whole map with batch lookups of size n (and deletes, with del), and
// returns the elements as sorted "key=value" strings and the error sequence; each call's
// count must fit the batch and the last must end with ENOENT.
func drainOurs(t *testing.T, m Map, n int, del bool) ([]string, error) {
	spec := m.Spec()
	var c BatchCursor
	var out []string
	for range 10000 {
		keys := make([]byte, n*int(spec.KeySize))
		vs := valueSizeOf(m)
		vals := make([]byte, n*vs)
		var got int
		var err error
		if del {
			got, err = BatchLookupAndDelete(m, &c, keys, vals, BatchOptions{})
		} else {
			got, err = BatchLookup(m, &c, keys, vals, BatchOptions{})
		}
		if got < 0 || got > n {
			t.Fatalf("batch of %d returned %d", n, got)
		}
		for i := range got {
			out = append(out, fmt.Sprintf("%x=%x", keys[i*int(spec.KeySize):(i+1)*int(spec.KeySize)], vals[i*vs:(i+1)*vs]))
		}
		if err != nil {
			slices.Sort(out)
			return out, err
		}
	}
	t.Fatal("batch lookup never ended")
	return nil, nil
}

func drainKernel(t *testing.T, km *ebpf.Map, keySize, ncpu, n int, del bool) ([]string, error) {
	var c ebpf.MapBatchCursor
	var out []string
	for range 10000 {
		vals := make([]uint64, n*ncpu)
		var got int
		var err error
		var keyOut func(i int) string
		if keySize == 8 {
			keys := make([]uint64, n)
			if del {
				got, err = km.BatchLookupAndDelete(&c, keys, vals, nil)
			} else {
				got, err = km.BatchLookup(&c, keys, vals, nil)
			}
			keyOut = func(i int) string { return fmt.Sprintf("%x", binary.LittleEndian.AppendUint64(nil, keys[i])) }
		} else {
			keys := make([]uint32, n)
			if del {
				got, err = km.BatchLookupAndDelete(&c, keys, vals, nil)
			} else {
				got, err = km.BatchLookup(&c, keys, vals, nil)
			}
			keyOut = func(i int) string { return fmt.Sprintf("%x", binary.LittleEndian.AppendUint32(nil, keys[i])) }
		}
		for i := range got {
			out = append(out, keyOut(i)+"="+fmt.Sprintf("%x", valueBytes(vals[i*ncpu:(i+1)*ncpu])))
		}
		if err != nil {
			slices.Sort(out)
			return out, err
		}
	}
	t.Fatal("kernel batch lookup never ended")
	return nil, nil
}

// TestBatchOracle runs the same batch operations on kernel maps and ours and compares
// counts, errors and contents.
func TestBatchOracle(t *testing.T) {
	for _, spec := range []Spec{
		{Name: "h", Type: Hash, KeySize: 4, ValueSize: 8, MaxEntries: 8},
		{Name: "p", Type: PerCPUHash, KeySize: 4, ValueSize: 8, MaxEntries: 8},
		{Name: "q", Type: PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 8},
		{Name: "l", Type: LRUHash, KeySize: 4, ValueSize: 8, MaxEntries: 8},
		{Name: "a", Type: Array, KeySize: 4, ValueSize: 8, MaxEntries: 8},
		{Name: "t", Type: LPMTrie, KeySize: 8, ValueSize: 8, MaxEntries: 8, Flags: FlagNoPrealloc},
		{Name: "d", Type: DevMapHash, KeySize: 4, ValueSize: 8, MaxEntries: 8},
	} {
		t.Run(spec.Type.String(), func(t *testing.T) {
			p := newOraclePair(t, spec)
			key := func(i uint64) uint64 {
				if spec.Type == LPMTrie {
					return 32 | i<<32 // /32 routes to 0.0.0.i (network order)
				}
				return i
			}
			keys := func(is ...uint64) []uint64 {
				out := make([]uint64, len(is))
				for j, i := range is {
					out[j] = key(i)
				}
				return out
			}
			p.update(keys(1, 2, 3), []uint64{10, 20, 30}, BatchOptions{})
			p.update(keys(1), []uint64{11}, BatchOptions{ElemFlags: UpdateNoExist})
			p.update(keys(1), []uint64{11}, BatchOptions{ElemFlags: UpdateLock})
			p.update(keys(1), []uint64{11}, BatchOptions{Flags: 1})
			p.update(nil, nil, BatchOptions{})
			switch spec.Type {
			case Array, PerCPUArray:
				p.update(keys(4, 5, 9, 6), []uint64{40, 50, 90, 60}, BatchOptions{})
			case LRUHash:
				// The kernel's LRU evicts by its own per-CPU lists: stay below max_entries.
				p.update(keys(4, 5), []uint64{40, 50}, BatchOptions{})
			default:
				// More than max_entries: E2BIG part way.
				p.update(keys(4, 5, 6, 7, 8, 9, 10, 11), []uint64{40, 50, 60, 70, 80, 90, 100, 110}, BatchOptions{})
			}
			p.delete(keys(2, 99, 3), BatchOptions{})
			p.delete(keys(4), BatchOptions{ElemFlags: UpdateNoExist})
			p.delete(keys(4), BatchOptions{Flags: 1})
			p.delete(nil, BatchOptions{})

			// Lookups: bucket layouts differ, so compare what a whole drain returns, and
			// the calls' errors where the layout does not matter.
			for _, n := range []int{1, 2, 3, 100} {
				kset, kerr := drainKernel(t, p.kernel, int(spec.KeySize), p.ncpu, n, false)
				oset, oerr := drainOurs(t, p.ours, n, false)
				kc, oc := errClass(kerr), errClass(oerr)
				if kc == "ENOSPC" || oc == "ENOSPC" {
					if kc != "ENOSPC" && kc != "ENOENT" || oc != "ENOSPC" && oc != "ENOENT" {
						t.Errorf("batch lookup of %d: kernel %v, anybpf %v", n, kerr, oerr)
					}
					continue
				}
				if kc != oc || (kc == "ENOENT" && !slices.Equal(kset, oset)) {
					t.Errorf("batch lookup of %d: kernel %v %v, anybpf %v %v", n, kset, kerr, oset, oerr)
				}
			}
			var kc ebpf.MapBatchCursor
			var oc BatchCursor
			_, kerr := p.kernel.BatchLookup(&kc, p.keySlice([]uint64{0}), make([]uint64, p.ncpu), &ebpf.BatchOptions{ElemFlags: UpdateLock})
			_, oerr := BatchLookup(p.ours, &oc, make([]byte, spec.KeySize), make([]byte, valueSizeOf(p.ours)), BatchOptions{ElemFlags: UpdateLock})
			if errClass(kerr) != errClass(oerr) {
				t.Errorf("batch lookup with BPF_F_LOCK: kernel %v, anybpf %v", kerr, oerr)
			}
			_, kerr = p.kernel.BatchLookup(&kc, p.keySlice([]uint64{0}), make([]uint64, p.ncpu), &ebpf.BatchOptions{Flags: 1})
			_, oerr = BatchLookup(p.ours, &oc, make([]byte, spec.KeySize), make([]byte, valueSizeOf(p.ours)), BatchOptions{Flags: 1})
			if errClass(kerr) != errClass(oerr) {
				t.Errorf("batch lookup with flags: kernel %v, anybpf %v", kerr, oerr)
			}

			// Lookup and delete, in batches that hold every element: the map ends empty.
			kset, kerr := drainKernel(t, p.kernel, int(spec.KeySize), p.ncpu, 100, true)
			oset, oerr := drainOurs(t, p.ours, 100, true)
			if errClass(kerr) != errClass(oerr) || (kerr != nil && errClass(kerr) == "ENOENT" && !slices.Equal(kset, oset)) {
				t.Errorf("batch lookup and delete: kernel %v %v, anybpf %v %v", kset, kerr, oset, oerr)
			}
			p.sameContents("batch lookup and delete")
		})
	}
}

// TestBatchHashCursor checks the hash map's bucket cursor on a map big enough for many
// buckets: batches never split a bucket, cover every element once, and ENOSPC keeps the
// cursor where it was.
func TestBatchHashCursor(t *testing.T) {
	for _, typ := range []Type{Hash, PerCPUHash, LRUHash, LRUPerCPUHash} {
		e := NewEpochs(3)
		m, err := New(Spec{Name: "b", Type: typ, KeySize: 4, ValueSize: 4, MaxEntries: 1000}, e)
		if err != nil {
			t.Fatal(err)
		}
		vs := valueSizeOf(m)
		var keys, vals []byte
		for i := range uint32(1000) {
			keys = append(keys, u32(i)...)
			v := make([]byte, vs)
			for cpu := 0; cpu*8 < vs; cpu++ {
				binary.LittleEndian.PutUint32(v[cpu*8:], i*10+uint32(cpu))
			}
			vals = append(vals, v...)
		}
		if n, err := BatchUpdate(m, keys, vals, BatchOptions{}); n != 1000 || err != nil {
			t.Fatalf("%s: batch update: %d, %v", typ, n, err)
		}
		if n, err := BatchUpdate(m, keys[:4], vals[:vs-1], BatchOptions{}); n != 0 || !errors.Is(err, ErrInvalid) {
			t.Fatalf("%s: batch update with a short value: %d, %v", typ, n, err)
		}
		for _, size := range []int{1, 3, 7, 64, 2000} {
			var c BatchCursor
			seen := map[uint32]bool{}
			spaceErrs := 0
			for {
				k := make([]byte, 4*size)
				v := make([]byte, vs*size)
				n, err := BatchLookup(m, &c, k, v, BatchOptions{})
				for i := range n {
					key := binary.LittleEndian.Uint32(k[4*i:])
					if seen[key] {
						t.Fatalf("%s: batch of %d: key %d twice", typ, size, key)
					}
					seen[key] = true
					for cpu := 0; cpu*8 < vs; cpu++ {
						if got := binary.LittleEndian.Uint32(v[i*vs+cpu*8:]); got != key*10+uint32(cpu) {
							t.Fatalf("%s: key %d cpu %d value %d", typ, key, cpu, got)
						}
					}
				}
				if errors.Is(err, ErrNoSpace) {
					if n != 0 {
						t.Fatalf("%s: ENOSPC with %d copied", typ, n)
					}
					spaceErrs++
					if spaceErrs > 1 {
						// The same bucket again: skip it by asking for more room.
						size *= 2
					}
					continue
				}
				spaceErrs = 0
				if errors.Is(err, ErrKeyNotExist) {
					break
				}
				if err != nil {
					t.Fatalf("%s: %v", typ, err)
				}
				if n == 0 {
					t.Fatalf("%s: batch of %d returned nothing and no error", typ, size)
				}
			}
			if len(seen) != 1000 {
				t.Fatalf("%s: batches of %d saw %d keys", typ, size, len(seen))
			}
			// Past the end, the cursor stays there.
			if n, err := BatchLookup(m, &c, make([]byte, 4), make([]byte, vs), BatchOptions{}); n != 0 || !errors.Is(err, ErrKeyNotExist) {
				t.Fatalf("%s: lookup past the end: %d, %v", typ, n, err)
			}
		}
		// Lookup and delete everything, then the map is empty and the values retired.
		var c BatchCursor
		total := 0
		for {
			n, err := BatchLookupAndDelete(m, &c, make([]byte, 4*64), make([]byte, vs*64), BatchOptions{})
			total += n
			if errors.Is(err, ErrKeyNotExist) {
				break
			}
			if err != nil {
				t.Fatalf("%s: lookup and delete: %v", typ, err)
			}
		}
		if total != 1000 || m.NextKey(nil, make([]byte, 4)) == nil {
			t.Fatalf("%s: lookup and delete took %d, map not empty", typ, total)
		}
		// Delete batch stops at the first missing key.
		BatchUpdate(m, keys[:12], vals[:3*vs], BatchOptions{})
		del := append(append(u32(0), u32(1)...), append(u32(500), u32(2)...)...)
		if n, err := BatchDelete(m, del, BatchOptions{}); n != 2 || !errors.Is(err, ErrKeyNotExist) {
			t.Fatalf("%s: batch delete: %d, %v", typ, n, err)
		}
	}
}

// TestBatchGeneric checks the generic batch lookup (arrays, LPM tries) and which
// operations each map type has.
func TestBatchGeneric(t *testing.T) {
	e := NewEpochs(2)
	a, _ := New(Spec{Name: "a", Type: PerCPUArray, KeySize: 4, ValueSize: 4, MaxEntries: 5}, e)
	vs := valueSizeOf(a)
	if vs != 16 {
		t.Fatalf("per-CPU array user value size %d", vs)
	}
	var c BatchCursor
	var got []uint32
	for {
		k := make([]byte, 8)
		n, err := BatchLookup(a, &c, k, make([]byte, 2*vs), BatchOptions{})
		for i := range n {
			got = append(got, binary.LittleEndian.Uint32(k[4*i:]))
		}
		if errors.Is(err, ErrKeyNotExist) {
			break
		}
		if err != nil || n != 2 {
			t.Fatalf("array batch: %d, %v", n, err)
		}
	}
	if !slices.Equal(got, []uint32{0, 1, 2, 3, 4}) {
		t.Fatalf("array batches: %v", got)
	}
	for _, tc := range []struct {
		spec                  Spec
		lookup, lookupDel, up bool
		del                   bool
	}{
		{Spec{Type: Array, KeySize: 4, ValueSize: 4, MaxEntries: 2}, true, false, true, false},
		{Spec{Type: LPMTrie, KeySize: 8, ValueSize: 4, MaxEntries: 2, Flags: FlagNoPrealloc}, true, false, true, true},
		{Spec{Type: DevMap, KeySize: 4, ValueSize: 4, MaxEntries: 2}, false, false, false, false},
		{Spec{Type: CPUMap, KeySize: 4, ValueSize: 4, MaxEntries: 2}, false, false, false, false},
		{Spec{Type: Queue, ValueSize: 4, MaxEntries: 2}, false, false, false, false},
	} {
		m, err := New(tc.spec, e)
		if err != nil {
			t.Fatal(err)
		}
		ks := max(int(tc.spec.KeySize), 1)
		var c BatchCursor
		_, err = BatchLookup(m, &c, make([]byte, ks), make([]byte, 4), BatchOptions{})
		if errors.Is(err, ErrNotSupported) == tc.lookup {
			t.Errorf("%s batch lookup: %v", tc.spec.Type, err)
		}
		_, err = BatchLookupAndDelete(m, &c, make([]byte, ks), make([]byte, 4), BatchOptions{})
		if errors.Is(err, ErrNotSupported) == tc.lookupDel {
			t.Errorf("%s batch lookup and delete: %v", tc.spec.Type, err)
		}
		_, err = BatchUpdate(m, nil, nil, BatchOptions{})
		if errors.Is(err, ErrNotSupported) == tc.up {
			t.Errorf("%s batch update: %v", tc.spec.Type, err)
		}
		_, err = BatchDelete(m, nil, BatchOptions{})
		if errors.Is(err, ErrNotSupported) == tc.del {
			t.Errorf("%s batch delete: %v", tc.spec.Type, err)
		}
	}
}
