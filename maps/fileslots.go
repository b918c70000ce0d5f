package maps

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"
)

// A file-backed hash map keeps its elements in slots of its file, each:
//
//	state  uint64: 0 when the slot is free, else the generation of the update that
//	       wrote it (generations increase under the map's writer lock)
//	key    KeySize bytes, padded to 8
//	values stride×ncpu bytes
//
// A slot is written (key and value) while free, then published by storing its state;
// a replace publishes the new slot before it clears the old one, and a delete clears
// the slot. So a crash at any instant leaves every key either in its old slot or its new
// one, or (during a replace) in both, where the newer generation wins on reopening.
// The in-memory table (hash.t) is rebuilt from the slots when the file is opened, and
// its nodes point at the slots' values, so that programs read and write the file.
const slotState = 8

// A file-backed hash map's file has max_entries slots and as many again (at least
// slotSpare) for replaced and deleted elements to wait in until no running program can
// hold them. When they are all waiting, the file grows (doubling its slots), up to
// slotGrowth times its first size (address space is reserved for that much, the file
// takes only what is used); past that, a replace writes the value in place, as Linux's
// preallocated hash maps always do.
const (
	slotSpare  = 64
	slotGrowth = 256
)

// slotShape returns the sizes of the slot data of a file-backed hash map of spec with
// ncpu values per element, or an error when it is too large.
func slotShape(spec Spec, ncpu int) (fileShape, error) {
	n := uint64(spec.MaxEntries) + max(uint64(spec.MaxEntries), slotSpare)
	size := slotSize(spec, ncpu)
	minSize := n * size // no overflow: n < 2^33, size < 2^32 (ncpu < 2^9 checked)
	if ncpu >= 1<<9 {
		return fileShape{}, fmt.Errorf("map %q: %w: %d CPUs", spec.Name, ErrInvalid, ncpu)
	}
	if err := checkFileSize(spec, minSize); err != nil {
		return fileShape{}, err
	}
	growth := min(uint64(slotGrowth), maxMapFileData/minSize)
	return fileShape{min: minSize, max: minSize * growth, unit: size}, nil
}

// fileSlots is the valueStore of a file-backed hash map or LPM trie.
type fileSlots struct {
	spec   Spec
	epochs *Epochs
	ncpu   uintptr
	stride uintptr // value size rounded up to 8
	data   []byte
	size   uintptr // of a slot
	valOff uintptr // of the value in a slot
	gen    uint64  // the next generation, under h.mu

	mu    sync.Mutex
	free  []uint32 // a stack of free slots
	file  *os.File
	slots uint32 // in the file, under mu
}

// slotOwner is the map whose elements a fileSlots keeps: when the file is opened, it
// is given the elements the file holds.
type slotOwner interface {
	// validKey reports whether key can be an element's (an LPM trie's keys are
	// canonical); slots with other keys are dropped.
	validKey(key []byte) bool
	// addLoaded enters an element found in the file, oldest first. Writers only.
	addLoaded(key []byte, v *byte)
}

// newFileSlots returns the store of a map of spec with ncpu values per element in
// data, the slots of its file f (n of them now), and enters the elements the file holds
// into owner unless the file is new.
func newFileSlots(spec Spec, epochs *Epochs, ncpu int, owner slotOwner, data []byte, f *os.File, n uint32, created bool) *fileSlots {
	s := &fileSlots{
		spec:   spec,
		epochs: epochs,
		ncpu:   uintptr(ncpu),
		stride: (uintptr(spec.ValueSize) + 7) &^ 7,
		data:   data,
		size:   uintptr(slotSize(spec, ncpu)),
		valOff: slotState + (uintptr(spec.KeySize)+7)&^7,
		gen:    1,
		file:   f,
		slots:  n,
	}
	if created {
		s.addFree(0, n, nil)
		return s
	}
	s.rebuild(n, owner)
	return s
}

// slotSize is the size of a slot of a map of spec with ncpu values per element.
func slotSize(spec Spec, ncpu int) uint64 {
	return slotState + (uint64(spec.KeySize)+7)&^7 + (uint64(spec.ValueSize)+7)&^7*uint64(ncpu)
}

// addFree pushes slots from to to-1 that are not used on the free stack, highest first
// so that the lowest is taken first.
func (s *fileSlots) addFree(from, to uint32, used []bool) {
	for i := to; i > from; i-- {
		if used == nil || !used[i-1] {
			s.free = append(s.free, i-1)
		}
	}
}

// grow adds slots to the file, doubling them, unless it is as large as it may be. It
// reports whether it added any.
func (s *fileSlots) grow() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.free) > 0 {
		return true
	}
	limit := uint64(len(s.data)) / uint64(s.size)
	n := min(uint64(s.slots)*2, limit)
	if n <= uint64(s.slots) {
		return false
	}
	// New slots read as zeros: free.
	if err := s.file.Truncate(int64(mapFileHeader + n*uint64(s.size))); err != nil {
		return false
	}
	s.addFree(s.slots, uint32(n), nil)
	s.slots = uint32(n)
	return true
}

// state is slot i's state word.
func (s *fileSlots) state(i uint32) *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Pointer(&s.data[uintptr(i)*s.size]))
}

// slotOf returns the slot whose value v is.
func (s *fileSlots) slotOf(v *byte) uint32 {
	return uint32((uintptr(unsafe.Pointer(v)) - uintptr(unsafe.Pointer(&s.data[0])) - s.valOff) / s.size)
}

func (s *fileSlots) pop() (uint32, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.free) == 0 {
		return 0, false
	}
	i := s.free[len(s.free)-1]
	s.free = s.free[:len(s.free)-1]
	return i, true
}

func (s *fileSlots) push(i uint32) {
	s.mu.Lock()
	s.free = append(s.free, i)
	s.mu.Unlock()
}

// alloc takes a free slot, collecting retired ones if there is none, and writes key
// into it. The slot stays free in the file until published.
func (s *fileSlots) alloc(key []byte) *byte {
	i, ok := s.pop()
	if !ok {
		// Out of slots: collect the retired ones, if any can be (collecting walks
		// everything retired, too slow for every update while a program holds its
		// epoch through a long run of them), else grow the file.
		if s.epochs.collectable() {
			s.epochs.Collect()
			i, ok = s.pop()
		}
		if !ok && s.grow() {
			i, ok = s.pop()
		}
		if !ok {
			return nil
		}
	}
	base := uintptr(i) * s.size
	copy(s.data[base+slotState:], key)
	if s.ncpu == 1 {
		// The padding after the value, as zero as a new heap value's.
		clear(s.data[base+s.valOff+uintptr(s.spec.ValueSize) : base+s.valOff+s.stride])
	}
	return &s.data[base+s.valOff]
}

func (s *fileSlots) publish(v *byte) {
	s.state(s.slotOf(v)).Store(s.gen)
	s.gen++
}

func (s *fileSlots) unpublish(v *byte) { s.state(s.slotOf(v)).Store(0) }

func (s *fileSlots) retire(v *byte) { s.epochs.releaseLater(s, s.slotOf(v)) }

// release takes back a retired slot (releaser).
func (s *fileSlots) release(i uint32) { s.push(i) }

func (s *fileSlots) discard(v *byte) { s.push(s.slotOf(v)) }

// rebuild enters into owner the elements of the n slots of an existing file: the newest
// slot of each valid key, at most max_entries of them (the newest), oldest first;
// every other slot is cleared and free. Whatever the slots hold, the result is a valid
// map.
func (s *fileSlots) rebuild(n uint32, owner slotOwner) {
	type live struct {
		slot uint32
		gen  uint64
	}
	var lives []live
	for i := range n {
		if g := s.state(i).Load(); g != 0 {
			lives = append(lives, live{i, g})
		}
	}
	// Newest first: the first slot of a key wins.
	slices.SortFunc(lives, func(a, b live) int { return cmp.Compare(b.gen, a.gen) })
	ks := uintptr(s.spec.KeySize)
	keyOf := func(slot uint32) []byte {
		base := uintptr(slot)*s.size + slotState
		return s.data[base : base+ks]
	}
	seen := make(map[string]bool, len(lives))
	kept := lives[:0]
	for _, l := range lives {
		key := keyOf(l.slot)
		if seen[string(key)] || len(kept) == int(s.spec.MaxEntries) || !owner.validKey(key) {
			s.state(l.slot).Store(0)
			continue
		}
		seen[string(key)] = true
		kept = append(kept, l)
	}
	slices.Reverse(kept)
	used := make([]bool, n)
	for _, l := range kept {
		used[l.slot] = true
		owner.addLoaded(keyOf(l.slot), &s.data[uintptr(l.slot)*s.size+s.valOff])
	}
	if len(kept) > 0 {
		s.gen = kept[len(kept)-1].gen + 1
	}
	if s.gen >= 1<<62 {
		// Generations near the end of their range (a damaged file): number them
		// again, oldest first.
		for i, l := range kept {
			s.state(l.slot).Store(uint64(i) + 1)
		}
		s.gen = uint64(len(kept)) + 1
	}
	s.free = make([]uint32, 0, int(n)-len(kept))
	s.addFree(0, n, used)
}
