package maps

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Errors of the batch operations, with the meaning of the kernel's errno values.
var (
	// ErrNoSpace is ENOSPC: a hash map's batch lookup met a bucket with more elements
	// than the batch has room for, before it copied any (retry with a larger batch), or
	// an LPM trie is full (that error wraps ErrFull too).
	ErrNoSpace = errors.New("no space left in the batch")
	// ErrInterrupted is EINTR: a batch lookup kept finding the element it was about to
	// copy deleted, and gave up.
	ErrInterrupted = errors.New("interrupted")
)

// BatchOptions are the flags of a batch operation (struct bpf_attr's batch.elem_flags and
// batch.flags). As in Linux, ElemFlags may only hold UpdateLock (BPF_F_LOCK), which needs
// a value with a spin lock (none here), and hash maps' lookups refuse any Flags.
type BatchOptions struct {
	ElemFlags uint64
	Flags     uint64
}

// BatchCursor is where a batch lookup stopped: the zero value starts at the first
// element, and each BatchLookup or BatchLookupAndDelete moves it on. Its contents are
// opaque (a bucket number for hash maps, the last key copied for the others, as in
// Linux); a cursor belongs to the map it was first used with.
type BatchCursor struct {
	pos []byte
}

// batchLookuper is implemented by maps with their own batch lookup; the others go through
// NextKey and Lookup, the way the kernel's generic_map_lookup_batch does.
type batchLookuper interface {
	lookupBatch(c *BatchCursor, keys, values []byte, count int, del bool) (int, error)
}

// batchOps returns which batch operations Linux provides for the map's type: lookup and
// update for arrays, lookup, update and delete for LPM tries, all four for hash maps, and
// none for the others.
func batchOps(t Type) (lookup, lookupAndDelete, update, del bool) {
	switch t {
	case Hash, PerCPUHash, LRUHash, LRUPerCPUHash:
		return true, true, true, true
	case Array, PerCPUArray:
		return true, false, true, false
	case LPMTrie:
		return true, false, true, true
	}
	return false, false, false, false
}

// valueSizeOf returns the size of one of m's values as user space reads and writes it:
// one value per CPU, each rounded up to 8 bytes, for per-CPU maps.
func valueSizeOf(m Map) int {
	if u, ok := m.(interface{ userValueSize() int }); ok {
		return u.userValueSize()
	}
	return int(m.Spec().ValueSize)
}

// batchCount checks that keys holds whole keys, and values (when not nil) as many values,
// and returns how many.
func batchCount(m Map, keys, values []byte, checkValues bool) (int, error) {
	spec := m.Spec()
	if spec.KeySize == 0 || len(keys)%int(spec.KeySize) != 0 {
		return 0, fmt.Errorf("%w: map %q: batch of %d key bytes is not a whole number of %d-byte keys", ErrInvalid, spec.Name, len(keys), spec.KeySize)
	}
	count := len(keys) / int(spec.KeySize)
	if vs := valueSizeOf(m); checkValues && len(values) != count*vs {
		return 0, fmt.Errorf("%w: map %q: batch of %d keys needs %d value bytes (%d each), not %d", ErrInvalid, spec.Name, count, count*vs, vs, len(values))
	}
	return count, nil
}

// BatchLookup copies elements of m from the cursor on into keys and values (laid out one
// after the other, keys as many as fit in keys, and values the same number), as
// BPF_MAP_LOOKUP_BATCH does. It returns how many it copied; when it reached the end of
// the map the error is ErrKeyNotExist, possibly with a non-zero count. A hash map copies
// whole buckets: one that does not fit ends the batch early, or fails with ErrNoSpace
// when nothing was copied. Maps that Linux gives no batch lookup return ErrNotSupported.
func BatchLookup(m Map, cursor *BatchCursor, keys, values []byte, opts BatchOptions) (int, error) {
	n, err := batchLookup(m, cursor, keys, values, opts, false)
	if err != nil {
		return n, fmt.Errorf("map %q: batch lookup: %w", m.Spec().Name, err)
	}
	return n, nil
}

// BatchLookupAndDelete is BatchLookup that also deletes the elements it copies
// (BPF_MAP_LOOKUP_AND_DELETE_BATCH), which Linux provides for hash maps only.
func BatchLookupAndDelete(m Map, cursor *BatchCursor, keys, values []byte, opts BatchOptions) (int, error) {
	n, err := batchLookup(m, cursor, keys, values, opts, true)
	if err != nil {
		return n, fmt.Errorf("map %q: batch lookup and delete: %w", m.Spec().Name, err)
	}
	return n, nil
}

func batchLookup(m Map, cursor *BatchCursor, keys, values []byte, opts BatchOptions, del bool) (int, error) {
	lookup, lookupAndDelete, _, _ := batchOps(m.Spec().Type)
	if (!del && !lookup) || (del && !lookupAndDelete) {
		return 0, fmt.Errorf("%w for %s maps", ErrNotSupported, m.Spec().Type)
	}
	// Element flags may only be BPF_F_LOCK, which needs a spin lock in the value (there
	// is none). Like Linux, only the hash maps' batch lookup checks the other flags.
	_, hashLookup := m.(batchLookuper)
	if opts.ElemFlags != 0 || (hashLookup && opts.Flags != 0) {
		return 0, fmt.Errorf("%w: flags %#x, element flags %#x", ErrInvalid, opts.Flags, opts.ElemFlags)
	}
	if cursor == nil {
		return 0, fmt.Errorf("%w: no cursor", ErrInvalid)
	}
	count, err := batchCount(m, keys, values, true)
	if err != nil || count == 0 {
		return 0, err
	}
	if b, ok := m.(batchLookuper); ok {
		return b.lookupBatch(cursor, keys, values, count, del)
	}
	return genericLookupBatch(m, cursor, keys, values, count)
}

// lookupRetries is how often a generic batch lookup moves past an element deleted between
// NextKey and Lookup before giving up, Linux's MAP_LOOKUP_RETRIES.
const lookupRetries = 3

// genericLookupBatch is the kernel's generic_map_lookup_batch: NextKey from the last key
// copied, then Lookup, until the batch is full or the map ends. The cursor is the last key
// copied, and stays as it was when none was.
func genericLookupBatch(m Map, cursor *BatchCursor, keys, values []byte, count int) (int, error) {
	ks, vs := int(m.Spec().KeySize), valueSizeOf(m)
	var prev []byte
	if cursor.pos != nil {
		if len(cursor.pos) != ks {
			return 0, fmt.Errorf("%w: cursor of another map", ErrInvalid)
		}
		prev = append([]byte(nil), cursor.pos...)
	}
	key := make([]byte, ks)
	retry := lookupRetries
	cp := 0
	var err error
	for cp < count {
		if err = m.NextKey(prev, key); err != nil {
			break
		}
		err = m.Lookup(key, values[cp*vs:(cp+1)*vs])
		if errors.Is(err, ErrKeyNotExist) {
			if retry > 0 {
				retry--
				continue
			}
			err = ErrInterrupted
			break
		}
		if err != nil {
			return 0, err
		}
		copy(keys[cp*ks:], key)
		prev = append(prev[:0], key...)
		retry = lookupRetries
		cp++
	}
	if cp > 0 {
		cursor.pos = prev
	}
	return cp, err
}

// lookupBatch is the kernel's htab_map_lookup_batch: the cursor is a bucket number, and
// the batch takes whole buckets. A lookup reads the buckets without a lock; a lookup and
// delete takes the writer lock for each bucket it empties.
func (h *hash) lookupBatch(cursor *BatchCursor, keys, values []byte, count int, del bool) (int, error) {
	var bucket uint64
	if cursor.pos != nil {
		if len(cursor.pos) != 4 {
			return 0, fmt.Errorf("%w: cursor of another map", ErrInvalid)
		}
		bucket = uint64(binary.LittleEndian.Uint32(cursor.pos))
	}
	nb := uint64(len(h.t.buckets))
	if bucket >= nb {
		return 0, ErrKeyNotExist
	}
	ks := int(h.spec.KeySize)
	var chain []*node
	var retired []*byte
	total := 0
	var err error
	if h.reused && !del {
		// Copies without the writer lock: keep the values from being reused.
		g := h.epochs.Enter()
		defer g.Leave()
	}
	for ; bucket < nb; bucket++ {
		if del {
			h.mu.Lock()
		}
		chain = chain[:0]
		for n := h.t.buckets[bucket].Load(); n != nil; n = n.next.Load() {
			chain = append(chain, n)
		}
		if len(chain) > count-total {
			if del {
				h.mu.Unlock()
			}
			if total == 0 {
				err = fmt.Errorf("%w: bucket %d holds %d elements, the batch has room for %d", ErrNoSpace, bucket, len(chain), count)
			}
			break
		}
		for _, n := range chain {
			copy(keys[total*ks:], n.key)
			copy(values[total*h.vsize:(total+1)*h.vsize], h.valueMem(n.value.Load()))
			if del {
				h.removeLocked(n)
				retired = append(retired, n.value.Load())
			}
			total++
		}
		if del {
			h.mu.Unlock()
		}
	}
	if bucket >= nb {
		err = ErrKeyNotExist
	}
	cursor.pos = binary.LittleEndian.AppendUint32(cursor.pos[:0], uint32(bucket))
	for _, v := range retired {
		h.store.retire(v)
	}
	return total, err
}

// BatchUpdate updates the elements keys and values hold (one after the other), as
// BPF_MAP_UPDATE_BATCH does: each with Update and opts.ElemFlags (like Linux, only
// UpdateLock is accepted there, and it needs a spin lock), stopping at the first error.
// It returns how many it updated. Maps that Linux gives no batch update return
// ErrNotSupported.
func BatchUpdate(m Map, keys, values []byte, opts BatchOptions) (int, error) {
	n, err := batchUpdate(m, keys, values, opts)
	if err != nil {
		return n, fmt.Errorf("map %q: batch update: %w", m.Spec().Name, err)
	}
	return n, nil
}

func batchUpdate(m Map, keys, values []byte, opts BatchOptions) (int, error) {
	if _, _, ok, _ := batchOps(m.Spec().Type); !ok {
		return 0, fmt.Errorf("%w for %s maps", ErrNotSupported, m.Spec().Type)
	}
	if opts.ElemFlags&^UpdateLock != 0 {
		return 0, fmt.Errorf("%w: element flags %#x", ErrInvalid, opts.ElemFlags)
	}
	count, err := batchCount(m, keys, values, true)
	if err != nil {
		return 0, err
	}
	ks, vs := int(m.Spec().KeySize), valueSizeOf(m)
	for i := 0; i < count; i++ {
		if err := m.Update(keys[i*ks:(i+1)*ks], values[i*vs:(i+1)*vs], opts.ElemFlags); err != nil {
			return i, fmt.Errorf("element %d: %w", i, err)
		}
	}
	return count, nil
}

// BatchDelete deletes the keys keys holds (one after the other), as BPF_MAP_DELETE_BATCH
// does, stopping at the first error (ErrKeyNotExist for a missing key). It returns how
// many it deleted. Maps that Linux gives no batch delete return ErrNotSupported.
func BatchDelete(m Map, keys []byte, opts BatchOptions) (int, error) {
	n, err := batchDelete(m, keys, opts)
	if err != nil {
		return n, fmt.Errorf("map %q: batch delete: %w", m.Spec().Name, err)
	}
	return n, nil
}

func batchDelete(m Map, keys []byte, opts BatchOptions) (int, error) {
	if _, _, _, ok := batchOps(m.Spec().Type); !ok {
		return 0, fmt.Errorf("%w for %s maps", ErrNotSupported, m.Spec().Type)
	}
	if opts.ElemFlags&^UpdateLock != 0 {
		return 0, fmt.Errorf("%w: element flags %#x", ErrInvalid, opts.ElemFlags)
	}
	count, err := batchCount(m, keys, nil, false)
	if err != nil {
		return 0, err
	}
	ks := int(m.Spec().KeySize)
	for i := 0; i < count; i++ {
		if err := m.Delete(keys[i*ks : (i+1)*ks]); err != nil {
			return i, fmt.Errorf("element %d: %w", i, err)
		}
	}
	return count, nil
}
