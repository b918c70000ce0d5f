package maps

import (
	"container/list"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"unsafe"
)

// maxBuckets caps a table's bucket array (8 MiB of pointers), so that a map declared with
// a huge max_entries does not allocate gigabytes before it holds anything; past it the
// chains grow longer instead.
const maxBuckets = 1 << 20

// table is a hash table read without locks, the way the kernel's RCU hash table is: a
// fixed power-of-two array of buckets, each an atomically published singly linked chain
// of nodes. A node's key and hash never change after it is published; its value is
// behind an atomic pointer, so a writer replaces it by publishing a new one. Writers
// (insert, remove) must be serialized by the owner; readers (find, next) may run
// concurrently with them and see each chain either before or after a change. A removed
// node keeps its next pointer, so a reader standing on it still reaches the rest of the
// chain; nodes are never reused, so no reader can see one change key.
type table struct {
	seed    maphash.Seed
	buckets []atomic.Pointer[node]
	mask    uint64
	short   bool // keys of at most 8 bytes: compared by node.word, not through node.key
	count   int  // elements, under the owner's writer lock
}

// node is one element. value points to the first byte of the element's value memory (8
// bytes aligned, per-CPU values one after the other), which stays valid for programs
// holding it until the Epochs drop it after a replace or delete.
type node struct {
	next  atomic.Pointer[node]
	hash  uint64
	word  uint64 // the key's bytes, when it has at most 8 (see table.short)
	key   string
	value atomic.Pointer[byte]
	// LRU maps only: whether the element was used since the eviction scan last passed
	// it (the kernel's reference bit, a second chance), and its place in the LRU order
	// (under the writer lock).
	used atomic.Bool
	elem *list.Element
}

// newTable returns a table for keys of keySize bytes with max_entries rounded up to a
// power of two buckets, as the kernel sizes its hash tables, capped at maxBuckets.
func newTable(keySize, maxEntries uint32) table {
	n := uint64(1)
	for n < uint64(maxEntries) && n < maxBuckets {
		n <<= 1
	}
	return table{seed: maphash.MakeSeed(), buckets: make([]atomic.Pointer[node], n), mask: n - 1, short: keySize <= 8}
}

func (t *table) hashOf(key []byte) uint64 { return maphash.Bytes(t.seed, key) }

// keyWord packs a key of at most 8 bytes into a word.
func keyWord(key []byte) uint64 {
	switch len(key) {
	case 4:
		return uint64(binary.LittleEndian.Uint32(key))
	case 8:
		return binary.LittleEndian.Uint64(key)
	}
	var w uint64
	for i, b := range key {
		w |= uint64(b) << (8 * i)
	}
	return w
}

// newNode returns an unpublished node for key with hash h.
func (t *table) newNode(h uint64, key []byte) *node {
	n := &node{hash: h, key: string(key)}
	if t.short {
		n.word = keyWord(key)
	}
	return n
}

// find returns the node of key (with hash h), or nil. It takes no lock. Short keys are
// compared as words, which saves a cache miss on the key's own memory.
func (t *table) find(h uint64, key []byte) *node {
	n := t.buckets[h&t.mask].Load()
	if t.short {
		w := keyWord(key)
		for ; n != nil; n = n.next.Load() {
			if n.word == w && n.hash == h {
				return n
			}
		}
		return nil
	}
	for ; n != nil; n = n.next.Load() {
		if n.hash == h && n.key == string(key) {
			return n
		}
	}
	return nil
}

// insert publishes n, fully built, at the head of its chain. Writers only.
func (t *table) insert(n *node) {
	b := &t.buckets[n.hash&t.mask]
	n.next.Store(b.Load())
	b.Store(n)
	t.count++
}

// remove unlinks n from its chain. Writers only.
func (t *table) remove(n *node) {
	b := &t.buckets[n.hash&t.mask]
	if b.Load() == n {
		b.Store(n.next.Load())
		t.count--
		return
	}
	for p := b.Load(); p != nil; p = p.next.Load() {
		if p.next.Load() == n {
			p.next.Store(n.next.Load())
			t.count--
			return
		}
	}
}

// firstFrom returns the first node of the first non-empty bucket at or after bucket i.
func (t *table) firstFrom(i uint64) *node {
	for ; i < uint64(len(t.buckets)); i++ {
		if n := t.buckets[i].Load(); n != nil {
			return n
		}
	}
	return nil
}

// next returns the node after key's in table order, the kernel's htab_map_get_next_key
// order: the next node of key's chain, else the first node of the next non-empty
// bucket. A nil key, or one not in the table, starts from the first node. It takes no
// lock.
func (t *table) next(key []byte) *node {
	if key == nil {
		return t.firstFrom(0)
	}
	h := t.hashOf(key)
	n := t.find(h, key)
	if n == nil {
		return t.firstFrom(0)
	}
	if nx := n.next.Load(); nx != nil {
		return nx
	}
	return t.firstFrom(h&t.mask + 1)
}

// hash is BPF_MAP_TYPE_HASH, PERCPU_HASH, LRU_HASH, LRU_PERCPU_HASH and the redirect maps
// (DEVMAP, DEVMAP_HASH, CPUMAP). Lookups take no lock; updates and deletes serialize on
// mu. Each value (or set of per-CPU values) has its own allocation; a replaced or deleted
// value is retired to the Epochs, never reused while a program may hold it.
type hash struct {
	spec   Spec
	epochs *Epochs
	stride uintptr // value size rounded up to 8
	ncpu   uintptr // values per element
	vsize  int     // value size as user space sees it

	t  table
	mu sync.Mutex // serializes writers

	// store provides the elements' value memory: the Go heap (heapValues), or the
	// slots of a map file (fileSlots).
	store valueStore
	// slotFile is the file of a file-backed map (OpenFile); its Close and Sync are
	// the map's.
	slotFile
	// reused is set when the store reuses retired value memory (file slots) rather
	// than leaving it to the garbage collector: user-space readers then enter an
	// epoch, as programs do, so that what they copy is not reused under them.
	reused bool
	// inPlace counts the replaces written in place for lack of free value memory.
	inPlace atomic.Uint64

	// lru is set for the LRU hash types: a full map evicts instead of refusing. order
	// holds the elements oldest first (under mu).
	lru   bool
	order *list.List
	// indexed maps (devmap, cpumap) take only keys below max_entries.
	indexed bool
}

func newHash(spec Spec, epochs *Epochs, ncpu int) (*hash, error) {
	stride := (uintptr(spec.ValueSize) + 7) &^ 7
	h := &hash{spec: spec, epochs: epochs, stride: stride, ncpu: uintptr(ncpu), t: newTable(spec.KeySize, spec.MaxEntries)}
	h.vsize = int(spec.ValueSize)
	if ncpu > 1 {
		h.vsize = int(stride) * ncpu
	}
	h.store = heapValues{stride * uintptr(ncpu), epochs}
	return h, nil
}

// newHashOfType creates the hash, per-CPU hash and LRU hash maps (in memory; OpenFile
// then moves their values into a file).
func newHashOfType(spec Spec, epochs *Epochs) (*hash, error) {
	ncpu := 1
	if spec.Type == PerCPUHash || spec.Type == LRUPerCPUHash {
		ncpu = epochs.NumCPU()
	}
	h, err := newHash(spec, epochs, ncpu)
	if err != nil {
		return nil, err
	}
	if spec.Type == LRUHash || spec.Type == LRUPerCPUHash {
		h.lru, h.order = true, list.New()
	}
	return h, nil
}

// valueStore provides the value memory of a hash map's elements, stride×ncpu bytes
// each, 8-byte aligned. The writer lock orders publish and unpublish; a file-backed
// store records them in its file so that the map can be rebuilt from it.
type valueStore interface {
	// alloc returns memory for a new element of key, or nil when there is none free
	// (file slots all in use or waiting for running programs). It takes no lock of
	// the map's.
	alloc(key []byte) *byte
	// publish records that the element with value v is in the map. Under the writer
	// lock, before the element becomes visible.
	publish(v *byte)
	// unpublish records that the element with value v has left the map. Under the
	// writer lock.
	unpublish(v *byte)
	// retire frees v, unpublished, once no running program can still hold it.
	retire(v *byte)
	// discard frees v, which was never published, at once.
	discard(v *byte)
}

// heapValues allocates values of size bytes on the Go heap and leaves retired ones to
// the Epochs and the garbage collector.
type heapValues struct {
	size   uintptr
	epochs *Epochs
}

func (s heapValues) alloc([]byte) *byte { return &make([]byte, s.size)[0] }
func (heapValues) publish(*byte)        {}
func (heapValues) unpublish(*byte)      {}
func (s heapValues) retire(v *byte)     { s.epochs.Retire(unsafe.Slice(v, s.size)) }
func (heapValues) discard(*byte)        {}

// validKey accepts every key (slotOwner).
func (h *hash) validKey([]byte) bool { return true }

// addLoaded enters an element found in the map's file (slotOwner).
func (h *hash) addLoaded(key []byte, v *byte) {
	nn := h.t.newNode(h.t.hashOf(key), key)
	nn.value.Store(v)
	if h.lru {
		nn.elem = h.order.PushBack(nn)
	}
	h.t.insert(nn)
}

// valueMem returns the whole allocation behind a node's value pointer.
func (h *hash) valueMem(p *byte) []byte { return unsafe.Slice(p, h.stride*h.ncpu) }

// evictLocked removes the least recently used element: the oldest one not used since the
// scan last passed it; used ones go to the back with their mark cleared. It returns the
// evicted node, whose value the caller unpublishes (after publishing the element that
// takes its place, so that a crash in between loses neither) and retires once mu is
// released.
func (h *hash) evictLocked() *node {
	for {
		front := h.order.Front()
		if front == nil {
			return nil
		}
		n, _ := front.Value.(*node)
		if n.used.Load() {
			n.used.Store(false)
			h.order.MoveToBack(front)
			continue
		}
		h.order.Remove(front)
		n.elem = nil
		h.t.remove(n)
		return n
	}
}

func (h *hash) userValueSize() int { return h.vsize }

func (h *hash) Spec() Spec { return h.spec }

// Lookup copies key's value (all CPUs' for per-CPU maps) into value without taking a
// lock (a file-backed map enters an epoch). As with the kernel's syscall lookup, it does not mark an LRU element used.
func (h *hash) Lookup(key, value []byte) error {
	if err := checkSizes(h.spec, key, nil); err != nil {
		return err
	}
	if err := checkValue(h.spec, value, h.vsize); err != nil {
		return err
	}
	if h.reused {
		g := h.epochs.Enter()
		defer g.Leave()
	}
	n := h.t.find(h.t.hashOf(key), key)
	if n == nil {
		return ErrKeyNotExist
	}
	copy(value, unsafe.Slice(n.value.Load(), h.vsize))
	hideLock(h.spec, value)
	return nil
}

func (h *hash) Update(key, value []byte, flags uint64) error {
	if err := checkSizes(h.spec, key, nil); err != nil {
		return err
	}
	if err := checkValue(h.spec, value, h.vsize); err != nil {
		return err
	}
	if flags > UpdateExist {
		return fmt.Errorf("%w: update flags %#x", ErrInvalid, flags)
	}
	if h.indexed && binary.LittleEndian.Uint32(key) >= h.spec.MaxEntries {
		return fmt.Errorf("%w: index %d of map %q (%d entries)", ErrFull, binary.LittleEndian.Uint32(key), h.spec.Name, h.spec.MaxEntries)
	}
	hv := h.t.hashOf(key)
	v := h.store.alloc(key)
	if v != nil {
		copy(h.valueMem(v), value)
		hideLock(h.spec, h.valueMem(v)) // a new element starts unlocked
	}
	h.mu.Lock()
	n := h.t.find(hv, key)
	switch {
	case n != nil && flags == UpdateNoExist:
		h.mu.Unlock()
		h.discard(v)
		return ErrKeyExist
	case n == nil && flags == UpdateExist:
		h.mu.Unlock()
		h.discard(v)
		return ErrKeyNotExist
	case n == nil && h.t.count >= int(h.spec.MaxEntries) && !h.lru:
		h.mu.Unlock()
		h.discard(v)
		return fmt.Errorf("%w: map %q holds %d entries", ErrFull, h.spec.Name, h.spec.MaxEntries)
	case n == nil && v == nil:
		h.mu.Unlock()
		return fmt.Errorf("%w: map %q: no free element, the replaced ones wait for running programs to finish", ErrFull, h.spec.Name)
	case n == nil:
		var evicted *node
		if h.lru && h.t.count >= int(h.spec.MaxEntries) {
			evicted = h.evictLocked()
		}
		nn := h.t.newNode(hv, key)
		nn.value.Store(v)
		if h.lru {
			nn.elem = h.order.PushBack(nn)
		}
		h.store.publish(v)
		h.t.insert(nn)
		if evicted != nil {
			h.store.unpublish(evicted.value.Load())
		}
		h.mu.Unlock()
		if evicted != nil {
			h.store.retire(evicted.value.Load())
		}
		return nil
	case v == nil:
		// No free element to replace it with (a file-backed map whose spare slots
		// all wait for running programs): write in place, as the kernel's
		// preallocated hash maps always do.
		n.used.Store(true)
		copyValue(h.spec, h.valueMem(n.value.Load()), value)
		h.inPlace.Add(1)
		h.mu.Unlock()
		return nil
	}
	n.used.Store(true)
	h.store.publish(v)
	old := n.value.Swap(v)
	h.store.unpublish(old)
	h.mu.Unlock()
	h.store.retire(old)
	return nil
}

// discard frees value memory allocated for an update that did not happen.
func (h *hash) discard(v *byte) {
	if v != nil {
		h.store.discard(v)
	}
}

func (h *hash) Delete(key []byte) error {
	if err := checkSizes(h.spec, key, nil); err != nil {
		return err
	}
	hv := h.t.hashOf(key)
	h.mu.Lock()
	n := h.t.find(hv, key)
	if n == nil {
		h.mu.Unlock()
		return ErrKeyNotExist
	}
	h.removeLocked(n)
	h.mu.Unlock()
	h.store.retire(n.value.Load())
	return nil
}

// removeLocked unlinks n from the table and the LRU order and unpublishes its value. The
// caller retires the value after releasing mu.
func (h *hash) removeLocked(n *node) {
	h.t.remove(n)
	h.store.unpublish(n.value.Load())
	if h.lru && n.elem != nil {
		h.order.Remove(n.elem)
		n.elem = nil
	}
}

// NextKey iterates in table order, as the kernel does: the next key in the key's bucket,
// else the first key of the next non-empty bucket. A key that is not in the map restarts
// the iteration from the first key, as in the kernel. It takes no lock, and one step
// costs a chain walk plus the empty buckets skipped.
func (h *hash) NextKey(key, next []byte) error {
	if len(next) != int(h.spec.KeySize) || (key != nil && len(key) != int(h.spec.KeySize)) {
		return fmt.Errorf("%w: keys of map %q are %d bytes", ErrInvalid, h.spec.Name, h.spec.KeySize)
	}
	n := h.t.next(key)
	if n == nil {
		return ErrKeyNotExist
	}
	copy(next, n.key)
	return nil
}

// LookupPtr returns the address of key's value (CPU 0's for per-CPU maps), or nil. It
// takes no lock; on an LRU map it marks the element used.
func (h *hash) LookupPtr(key unsafe.Pointer) unsafe.Pointer { return h.LookupPtrCPU(key, 0) }

// LookupPtrCPU returns the address of key's value for cpu, or nil. It takes no lock and
// does no read-modify-write: an LRU element's used mark is only stored when not yet set.
func (h *hash) LookupPtrCPU(key unsafe.Pointer, cpu int) unsafe.Pointer {
	if uintptr(cpu) >= h.ncpu {
		return nil
	}
	k := unsafe.Slice((*byte)(key), h.spec.KeySize)
	n := h.t.find(h.t.hashOf(k), k)
	if n == nil {
		return nil
	}
	if h.lru && !n.used.Load() {
		n.used.Store(true)
	}
	return unsafe.Add(unsafe.Pointer(n.value.Load()), uintptr(cpu)*h.stride)
}
