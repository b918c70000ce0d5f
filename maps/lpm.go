package maps

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"
)

// FlagNoPrealloc is BPF_F_NO_PREALLOC, which the kernel requires of LPM tries.
const FlagNoPrealloc = 1

// lpm is BPF_MAP_TYPE_LPM_TRIE. Keys are struct bpf_lpm_trie_key: a host-order 32-bit
// prefix length followed by the data (an address in network order). Entries are kept in
// a lock-free table (see table) by exact (length, masked data); a lookup tries the prefix
// lengths in use from the longest down, so its cost grows with the number of distinct
// lengths, not of entries. Lookups take no lock: they read the published list of lengths
// and the table; writers serialize on mu, publish a node before its length and retire
// replaced or deleted values to the Epochs.
type lpm struct {
	spec    Spec
	epochs  *Epochs
	maxBits uint32
	stride  uintptr // value size rounded up to 8

	t       table
	lengths atomic.Pointer[[]uint32] // prefix lengths in use, longest first; never modified once published

	mu     sync.Mutex // serializes writers
	perLen map[uint32]int

	// store, slotFile, reused and inPlace are as in hash: the value memory (heap or
	// file slots), the file, whether user-space readers enter an epoch, and the count
	// of replaces written in place.
	store valueStore
	slotFile
	reused  bool
	inPlace atomic.Uint64
}

func newLPM(spec Spec, epochs *Epochs) (*lpm, error) {
	if spec.KeySize <= 4 || spec.KeySize > 4+256 {
		return nil, fmt.Errorf("map %q: %w: LPM trie keys are 5 to 260 bytes, not %d", spec.Name, ErrInvalid, spec.KeySize)
	}
	if spec.Flags&FlagNoPrealloc == 0 {
		return nil, fmt.Errorf("map %q: %w: LPM tries need BPF_F_NO_PREALLOC in map_flags", spec.Name, ErrInvalid)
	}
	l := &lpm{spec: spec, epochs: epochs, maxBits: 8 * (spec.KeySize - 4), stride: (uintptr(spec.ValueSize) + 7) &^ 7,
		t: newTable(spec.KeySize, spec.MaxEntries), perLen: map[uint32]int{}}
	l.lengths.Store(&[]uint32{})
	l.store = heapValues{l.stride, epochs}
	return l, nil
}

// validKey reports whether key is canonical: a prefix length within the key, no bits
// set past it (slotOwner).
func (l *lpm) validKey(key []byte) bool {
	n := binary.LittleEndian.Uint32(key)
	return n <= l.maxBits && string(canonical(nil, n, key[4:])) == string(key)
}

// addLoaded enters an entry found in the map's file (slotOwner).
func (l *lpm) addLoaded(key []byte, v *byte) {
	ne := l.t.newNode(l.t.hashOf(key), key)
	ne.value.Store(v)
	l.t.insert(ne)
	l.addLengthLocked(binary.LittleEndian.Uint32(key))
}

func (l *lpm) Spec() Spec { return l.spec }

// canonical returns the entry key for prefix length n of data: n, then data with the
// bits past n cleared.
func canonical(buf []byte, n uint32, data []byte) []byte {
	buf = binary.LittleEndian.AppendUint32(buf[:0], n)
	start := len(buf)
	buf = append(buf, data...)
	masked := buf[start:]
	full := n / 8
	if full < uint32(len(masked)) {
		masked[full] &= byte(0xff << (8 - n%8))
		clear(masked[full+1:])
	}
	return buf
}

// prefixLen returns the prefix length of a canonical entry key.
func prefixLen(k string) uint32 {
	return uint32(k[0]) | uint32(k[1])<<8 | uint32(k[2])<<16 | uint32(k[3])<<24
}

func (l *lpm) parse(key []byte) (uint32, []byte, error) {
	if err := checkSizes(l.spec, key, nil); err != nil {
		return 0, nil, err
	}
	n := binary.LittleEndian.Uint32(key)
	if n > l.maxBits {
		return 0, nil, fmt.Errorf("%w: prefix length %d, map %q has %d-bit keys", ErrInvalid, n, l.spec.Name, l.maxBits)
	}
	return n, key[4:], nil
}

// longest finds the entry with the longest prefix of data of at most n bits. It takes no
// lock. The lengths are tried longest first, so the data is masked a little more at each
// step rather than copied again.
func (l *lpm) longest(n uint32, data []byte) *node {
	var buf [4 + 256]byte
	k := buf[:4+len(data)]
	copy(k[4:], data)
	cleared := uint32(len(data)) // k[4+cleared:] is zero
	for _, length := range *l.lengths.Load() {
		if length > n {
			continue
		}
		if full := length / 8; full < cleared {
			k[4+full] &= byte(0xff << (8 - length%8))
			clear(k[4+full+1 : 4+cleared])
			cleared = full + 1
		}
		binary.LittleEndian.PutUint32(k, length)
		if e := l.t.find(l.t.hashOf(k), k); e != nil {
			return e
		}
	}
	return nil
}

// Lookup copies the value of the longest prefix matching key (of at most key's prefix
// length) into value. It takes no lock.
func (l *lpm) Lookup(key, value []byte) error {
	if err := checkSizes(l.spec, nil, value); err != nil {
		return err
	}
	n, data, err := l.parse(key)
	if err != nil {
		return err
	}
	if l.reused {
		g := l.epochs.Enter()
		defer g.Leave()
	}
	e := l.longest(n, data)
	if e == nil {
		return ErrKeyNotExist
	}
	copy(value, unsafe.Slice(e.value.Load(), l.spec.ValueSize))
	return nil
}

// LookupPtr returns the address of the value of the longest prefix matching key, or nil.
// It takes no lock.
func (l *lpm) LookupPtr(key unsafe.Pointer) unsafe.Pointer {
	k := unsafe.Slice((*byte)(key), l.spec.KeySize)
	n := min(binary.LittleEndian.Uint32(k), l.maxBits)
	if e := l.longest(n, k[4:]); e != nil {
		return unsafe.Pointer(e.value.Load())
	}
	return nil
}

func (l *lpm) Update(key, value []byte, flags uint64) error {
	if err := checkSizes(l.spec, nil, value); err != nil {
		return err
	}
	if flags > UpdateExist {
		return fmt.Errorf("%w: update flags %#x", ErrInvalid, flags)
	}
	n, data, err := l.parse(key)
	if err != nil {
		return err
	}
	k := canonical(nil, n, data)
	hv := l.t.hashOf(k)
	v := l.store.alloc(k)
	if v != nil {
		copy(unsafe.Slice(v, l.stride), value)
	}
	l.mu.Lock()
	e := l.t.find(hv, k)
	switch {
	case e != nil && flags == UpdateNoExist:
		l.mu.Unlock()
		l.discard(v)
		return ErrKeyExist
	case e == nil && flags == UpdateExist:
		l.mu.Unlock()
		l.discard(v)
		return ErrKeyNotExist
	case e == nil && l.t.count >= int(l.spec.MaxEntries):
		l.mu.Unlock()
		l.discard(v)
		// Linux says ENOSPC here, not E2BIG as hash maps do.
		return fmt.Errorf("%w (%w): map %q holds %d entries", ErrNoSpace, ErrFull, l.spec.Name, l.spec.MaxEntries)
	case e == nil && v == nil:
		l.mu.Unlock()
		return fmt.Errorf("%w: map %q: no free element, the replaced ones wait for running programs to finish", ErrNoSpace, l.spec.Name)
	case e == nil:
		ne := l.t.newNode(hv, k)
		ne.value.Store(v)
		l.store.publish(v)
		l.t.insert(ne) // before its length is published, so a lookup that sees the length finds it
		l.addLengthLocked(n)
		l.mu.Unlock()
		return nil
	case v == nil:
		// No free element (see hash.Update): write in place.
		copy(unsafe.Slice(e.value.Load(), l.stride), value)
		l.inPlace.Add(1)
		l.mu.Unlock()
		return nil
	}
	l.store.publish(v)
	old := e.value.Swap(v)
	l.store.unpublish(old)
	l.mu.Unlock()
	l.store.retire(old)
	return nil
}

// discard frees value memory allocated for an update that did not happen.
func (l *lpm) discard(v *byte) {
	if v != nil {
		l.store.discard(v)
	}
}

// addLengthLocked counts an entry of prefix length n, publishing a new list of lengths
// when n is new.
func (l *lpm) addLengthLocked(n uint32) {
	l.perLen[n]++
	if l.perLen[n] > 1 {
		return
	}
	old := *l.lengths.Load()
	lengths := make([]uint32, 0, len(old)+1)
	i := 0
	for i < len(old) && old[i] > n {
		i++
	}
	lengths = append(append(append(lengths, old[:i]...), n), old[i:]...)
	l.lengths.Store(&lengths)
}

// removeLengthLocked uncounts an entry of prefix length n, publishing a new list of
// lengths when it was the last.
func (l *lpm) removeLengthLocked(n uint32) {
	l.perLen[n]--
	if l.perLen[n] > 0 {
		return
	}
	delete(l.perLen, n)
	old := *l.lengths.Load()
	lengths := make([]uint32, 0, len(old))
	for _, length := range old {
		if length != n {
			lengths = append(lengths, length)
		}
	}
	l.lengths.Store(&lengths)
}

// Delete removes the entry with exactly key's prefix length and data.
func (l *lpm) Delete(key []byte) error {
	n, data, err := l.parse(key)
	if err != nil {
		return err
	}
	k := canonical(nil, n, data)
	hv := l.t.hashOf(k)
	l.mu.Lock()
	e := l.t.find(hv, k)
	if e == nil {
		l.mu.Unlock()
		return ErrKeyNotExist
	}
	l.t.remove(e)
	l.store.unpublish(e.value.Load())
	l.removeLengthLocked(n)
	l.mu.Unlock()
	l.store.retire(e.value.Load())
	return nil
}

// NextKey iterates the longest prefixes first, so that, as with the kernel's post-order
// walk, every prefix comes before the prefixes that contain it (deleting while iterating
// never strands a more specific route). Entries of one length come in table order. A key
// that is not in the map restarts the iteration, as in the kernel. It takes no lock; a
// step costs at most a scan of the table for the current length and one for the next.
func (l *lpm) NextKey(key, next []byte) error {
	if len(next) != int(l.spec.KeySize) || (key != nil && len(key) != int(l.spec.KeySize)) {
		return fmt.Errorf("%w: keys of map %q are %d bytes", ErrInvalid, l.spec.Name, l.spec.KeySize)
	}
	lengths := *l.lengths.Load()
	li, bucket := 0, uint64(0)
	var from *node // continue in this chain, after this node
	if key != nil {
		if n, data, err := l.parse(key); err == nil {
			k := canonical(nil, n, data)
			h := l.t.hashOf(k)
			if e := l.t.find(h, k); e != nil {
				for li < len(lengths) && lengths[li] > n {
					li++
				}
				if li < len(lengths) && lengths[li] == n {
					from, bucket = e, h&l.t.mask+1
				} else {
					li = 0 // its length is gone meanwhile: start over
				}
			}
		}
	}
	for ; li < len(lengths); li, bucket, from = li+1, 0, nil {
		n := lengths[li]
		if from != nil {
			for e := from.next.Load(); e != nil; e = e.next.Load() {
				if prefixLen(e.key) == n {
					copy(next, e.key)
					return nil
				}
			}
		}
		for ; bucket < uint64(len(l.t.buckets)); bucket++ {
			for e := l.t.buckets[bucket].Load(); e != nil; e = e.next.Load() {
				if prefixLen(e.key) == n {
					copy(next, e.key)
					return nil
				}
			}
		}
	}
	return ErrKeyNotExist
}
