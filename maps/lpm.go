package maps

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"
	"sync"
	"unsafe"
)

// FlagNoPrealloc is BPF_F_NO_PREALLOC, which the kernel requires of LPM tries.
const FlagNoPrealloc = 1

// lpm is BPF_MAP_TYPE_LPM_TRIE. Keys are struct bpf_lpm_trie_key: a host-order 32-bit
// prefix length followed by the data (an address in network order). Entries are kept by
// exact (length, masked data); a lookup tries the prefix lengths in use from the longest
// down, so its cost grows with the number of distinct lengths, not of entries.
type lpm struct {
	spec    Spec
	epochs  *Epochs
	maxBits uint32

	mu      sync.RWMutex
	entries map[string]*entry
	lengths []uint32 // prefix lengths in use, longest first
	perLen  map[uint32]int
}

func newLPM(spec Spec, epochs *Epochs) (*lpm, error) {
	if spec.KeySize <= 4 || spec.KeySize > 4+256 {
		return nil, fmt.Errorf("map %q: %w: LPM trie keys are 5 to 260 bytes, not %d", spec.Name, ErrInvalid, spec.KeySize)
	}
	if spec.Flags&FlagNoPrealloc == 0 {
		return nil, fmt.Errorf("map %q: %w: LPM tries need BPF_F_NO_PREALLOC in map_flags", spec.Name, ErrInvalid)
	}
	return &lpm{spec: spec, epochs: epochs, maxBits: 8 * (spec.KeySize - 4), entries: map[string]*entry{}, perLen: map[uint32]int{}}, nil
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

// longest finds the entry with the longest prefix of data of at most n bits.
func (l *lpm) longest(n uint32, data []byte) *entry {
	var buf [4 + 256]byte
	for _, length := range l.lengths {
		if length > n {
			continue
		}
		if e := l.entries[string(canonical(buf[:], length, data))]; e != nil {
			return e
		}
	}
	return nil
}

func (l *lpm) Lookup(key, value []byte) error {
	if err := checkSizes(l.spec, nil, value); err != nil {
		return err
	}
	n, data, err := l.parse(key)
	if err != nil {
		return err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	e := l.longest(n, data)
	if e == nil {
		return ErrKeyNotExist
	}
	copy(value, e.value)
	return nil
}

func (l *lpm) LookupPtr(key unsafe.Pointer) unsafe.Pointer {
	k := unsafe.Slice((*byte)(key), l.spec.KeySize)
	n := min(binary.LittleEndian.Uint32(k), l.maxBits)
	l.mu.RLock()
	defer l.mu.RUnlock()
	if e := l.longest(n, k[4:]); e != nil {
		return unsafe.Pointer(unsafe.SliceData(e.value))
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
	k := string(canonical(nil, n, data))
	v := make([]byte, (l.spec.ValueSize+7)&^7)[:l.spec.ValueSize]
	copy(v, value)
	l.mu.Lock()
	e, exists := l.entries[k]
	switch {
	case exists && flags == UpdateNoExist:
		l.mu.Unlock()
		return ErrKeyExist
	case !exists && flags == UpdateExist:
		l.mu.Unlock()
		return ErrKeyNotExist
	case !exists && len(l.entries) >= int(l.spec.MaxEntries):
		l.mu.Unlock()
		return fmt.Errorf("%w: map %q holds %d entries", ErrFull, l.spec.Name, l.spec.MaxEntries)
	case !exists:
		l.entries[k] = &entry{value: v}
		l.addLength(n)
		l.mu.Unlock()
		return nil
	}
	old := e.value
	e.value = v
	l.mu.Unlock()
	l.epochs.Retire(old)
	return nil
}

func (l *lpm) addLength(n uint32) {
	l.perLen[n]++
	if l.perLen[n] == 1 {
		l.lengths = append(l.lengths, n)
		sort.Slice(l.lengths, func(i, j int) bool { return l.lengths[i] > l.lengths[j] })
	}
}

// Delete removes the entry with exactly key's prefix length and data.
func (l *lpm) Delete(key []byte) error {
	n, data, err := l.parse(key)
	if err != nil {
		return err
	}
	k := string(canonical(nil, n, data))
	l.mu.Lock()
	e, ok := l.entries[k]
	if ok {
		delete(l.entries, k)
		l.perLen[n]--
		if l.perLen[n] == 0 {
			delete(l.perLen, n)
			for i, length := range l.lengths {
				if length == n {
					l.lengths = append(l.lengths[:i], l.lengths[i+1:]...)
					break
				}
			}
		}
	}
	l.mu.Unlock()
	if !ok {
		return ErrKeyNotExist
	}
	l.epochs.Retire(e.value)
	return nil
}

// NextKey iterates longest prefixes first, then by data.
func (l *lpm) NextKey(key, next []byte) error {
	if len(next) != int(l.spec.KeySize) || (key != nil && len(key) != int(l.spec.KeySize)) {
		return fmt.Errorf("%w: keys of map %q are %d bytes", ErrInvalid, l.spec.Name, l.spec.KeySize)
	}
	l.mu.RLock()
	keys := make([][]byte, 0, len(l.entries))
	for k := range l.entries {
		keys = append(keys, []byte(k))
	}
	l.mu.RUnlock()
	less := func(a, b []byte) bool {
		na, nb := binary.LittleEndian.Uint32(a), binary.LittleEndian.Uint32(b)
		if na != nb {
			return na > nb
		}
		return bytes.Compare(a[4:], b[4:]) < 0
	}
	sort.Slice(keys, func(i, j int) bool { return less(keys[i], keys[j]) })
	i := 0
	if key != nil {
		if n, data, err := l.parse(key); err == nil {
			cur := canonical(nil, n, data)
			i = sort.Search(len(keys), func(j int) bool { return !less(keys[j], cur) })
			if i < len(keys) && bytes.Equal(keys[i], cur) {
				i++
			} else {
				i = 0 // not in the map: start over, as the kernel does
			}
		}
	}
	if i >= len(keys) {
		return ErrKeyNotExist
	}
	copy(next, keys[i])
	return nil
}
