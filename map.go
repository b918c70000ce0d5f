package anybpf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"reflect"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/maps"
)

// Map is a loaded map.
//
// A map lives while anything holds a reference to it: the user (until Close), each
// program that refers to it, and each map-of-maps slot that stores it. Once the last
// reference is gone its memory is released, after every program run that might still
// point into it has finished.
type Map struct {
	name   string
	rt     *Runtime
	m      maps.Map
	handle uint64
	id     uint32
	ncpu   int // values per key in user space: the CPU count for per-CPU maps, else 1
	// typ, keySize and valueSz are the spec's, kept here for the helpers' fast path.
	typ              maps.Type
	keySize, valueSz uint32
	// err is set when anybpf cannot provide the map's type; m is nil then.
	err error
	// reopened is set for a file-backed map that kept a previous process's contents.
	reopened bool
	// region is the map's value memory when it is fixed (arrays, global data), which
	// checked mode lets programs access directly.
	region engine.Region
	// footprint is what the map is charged against the runtime's memory limit.
	footprint uint64

	refs       atomic.Int32
	userClosed atomic.Bool

	// Maps of maps: the template inner maps must match (nil until the first one is
	// stored, when the object declared none), and the lock that keeps user-space
	// updates and the references they hold in step.
	outer sync.Mutex
	inner *maps.Spec
}

// isOuter reports whether the map's values are other maps.
func (m *Map) isOuter() bool { return m.typ == maps.ArrayOfMaps || m.typ == maps.HashOfMaps }

// NewMap creates a map that belongs to no collection; Close releases it.
func (rt *Runtime) NewMap(spec maps.Spec) (*Map, error) {
	if rt.closed.Load() {
		return nil, fmt.Errorf("create map %s: runtime %w", spec.Name, ErrClosed)
	}
	return rt.newMap(spec, false, "")
}

// OpenMapFile creates a map whose contents live in the file at path, or reopens the one
// a previous process left there with its contents (see maps.OpenFile: array, per-CPU
// array, hash, per-CPU hash, LRU hash maps and LPM tries, maps.FileBacked). What
// programs and user space write is in the file as soon as it is written, so it survives
// this process, even a SIGKILL. A file holding a map of another type, key or value size, entry count
// or flags is refused with maps.ErrBadMapFile. The map is charged its
// maps.Spec.FileFootprint against the memory limit.
func (rt *Runtime) OpenMapFile(spec maps.Spec, path string) (*Map, error) {
	if rt.closed.Load() {
		return nil, fmt.Errorf("create map %s: runtime %w", spec.Name, ErrClosed)
	}
	return rt.newMap(spec, false, path)
}

// newMap creates a map, charges it against the memory limit and registers it, with one
// reference, the caller's.
func (rt *Runtime) newMap(spec maps.Spec, readOnly bool, file string) (*Map, error) {
	ncpu := 1
	switch spec.Type {
	case maps.PerCPUArray, maps.PerCPUHash, maps.LRUPerCPUHash:
		ncpu = rt.epochs.NumCPU()
	}
	lm := &Map{name: spec.Name, rt: rt, ncpu: ncpu, typ: spec.Type, keySize: spec.KeySize, valueSz: spec.ValueSize, footprint: spec.Footprint(ncpu)}
	if file != "" && maps.FileBacked(spec.Type) {
		lm.footprint = spec.FileFootprint(ncpu)
	}
	if err := rt.charge(lm.footprint); err != nil {
		return nil, fmt.Errorf("map %s: %w", spec.Name, err)
	}
	var m maps.Map
	var err error
	if file != "" {
		var created bool
		m, created, err = maps.OpenFile(spec, rt.epochs, file)
		lm.reopened = err == nil && !created
	} else {
		m, err = maps.New(spec, rt.epochs)
	}
	if err != nil {
		rt.uncharge(lm.footprint)
		return nil, fmt.Errorf("map %s: %w", spec.Name, err)
	}
	lm.m = m
	lm.inner = spec.InnerMap

	if spec.Type == maps.Array {
		key := uint32(0)
		p := m.LookupPtr(unsafe.Pointer(&key))
		size := uintptr(spec.ValueSize+7) &^ 7 * uintptr(spec.MaxEntries)
		lm.region = engine.Region{Addr: uintptr(p), Size: size, Writable: !readOnly, Name: spec.Name}
	}
	lm.refs.Store(1)
	rt.register(lm)
	return lm, nil
}

// Sync writes the contents of a file-backed map (OpenMapFile, CollectionOptions.MapFile)
// to its file's disk, to survive a machine crash (the process's death, even a SIGKILL,
// needs nothing: the contents are in the page cache as they are written). It does
// nothing for other maps.
func (m *Map) Sync() error {
	if m.m == nil {
		return nil
	}
	if s, ok := m.m.(interface{ Sync() error }); ok {
		if err := s.Sync(); err != nil {
			return fmt.Errorf("map %s: sync: %w", m.name, err)
		}
	}
	return nil
}

// ID is the map's id in its runtime, what maps-of-maps hold and what their lookups
// return.
func (m *Map) ID() uint32 { return m.id }

// Close releases the user's reference to the map. Programs and maps-of-maps that use it
// keep it alive; the user can no longer use it. Close is idempotent.
func (m *Map) Close() error {
	if m.m == nil || m.userClosed.Swap(true) {
		return nil
	}
	m.release()
	return nil
}

func (m *Map) acquire() { m.refs.Add(1) }

func (m *Map) release() {
	if m.m == nil {
		return
	}
	if m.refs.Add(-1) != 0 {
		return
	}
	// The last reference: let go of the inner maps, then unpublish the map once no
	// running program can still be using it.
	if m.isOuter() {
		m.outer.Lock()
		var held []uint32
		m.eachInner(func(id uint32) { held = append(held, id) })
		m.outer.Unlock()
		for _, id := range held {
			if inner := m.rt.mapByID(id); inner != nil {
				inner.release()
			}
		}
	}
	m.rt.uncharge(m.footprint)
	m.rt.epochs.Defer(func() {
		m.rt.unregisterMap(m)
		// No program can be using it any more: a file-backed map lets go of its file.
		if c, ok := m.m.(io.Closer); ok {
			c.Close()
		}
	})
}

// eachInner calls fn with the id in every slot of a map-of-maps.
func (m *Map) eachInner(fn func(id uint32)) {
	if a, ok := m.m.(*maps.IDArray); ok {
		for i := uint32(0); i < a.Spec().MaxEntries; i++ {
			if id := a.ID(i); id != 0 {
				fn(id)
			}
		}
		return
	}
	var key []byte
	next := make([]byte, m.keySize)
	v := make([]byte, 4)
	for m.m.NextKey(key, next) == nil {
		key = append(key[:0], next...)
		if m.m.Lookup(key, v) == nil {
			fn(binary.LittleEndian.Uint32(v))
		}
	}
}

// innerHandle is what bpf_map_lookup_elem returns for a map-of-maps: the handle of the
// map stored at key, or 0.
func (m *Map) innerHandle(key unsafe.Pointer) uint64 {
	var id uint32
	if a, ok := m.m.(*maps.IDArray); ok {
		id = a.ID(*(*uint32)(key))
	} else if p := m.m.LookupPtr(key); p != nil {
		id = *(*uint32)(p)
	}
	if id == 0 {
		return 0
	}
	return mapHandleBase | uint64(id-1)
}

// usable returns an error when the map cannot be used from user space.
func (m *Map) usable() error {
	switch {
	case m.err != nil:
		return fmt.Errorf("map %s: %w", m.name, m.err)
	case m.userClosed.Load():
		return fmt.Errorf("map %s: %w", m.name, ErrClosed)
	}
	return nil
}

// encode turns a key or value into bytes: []byte as is, anything else with
// encoding/binary in little-endian order.
func encode(v any, size int) ([]byte, error) {
	if b, ok := v.([]byte); ok {
		return b, nil
	}
	if v == nil {
		if size <= 0 {
			return []byte{}, nil // the key of queues and stacks
		}
		return nil, fmt.Errorf("nil, the map wants %d bytes", size)
	}
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, v); err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	if size >= 0 && buf.Len() != size {
		return nil, fmt.Errorf("%T is %d bytes, the map wants %d", v, buf.Len(), size)
	}
	return buf.Bytes(), nil
}

func (m *Map) valueSize() int {
	if m.ncpu > 1 {
		return int((m.valueSz+7)&^7) * m.ncpu
	}
	return int(m.valueSz)
}

// Lookup reads key's value into valueOut, a []byte of the value size or a pointer to a
// fixed-size value. For maps of maps the value is the inner map's id.
func (m *Map) Lookup(key, valueOut any) error {
	if err := m.usable(); err != nil {
		return err
	}
	k, err := encode(key, int(m.keySize))
	if err != nil {
		return fmt.Errorf("map %s: key: %w", m.name, err)
	}
	if b, ok := valueOut.([]byte); ok {
		return m.m.Lookup(k, b)
	}
	rv := reflect.ValueOf(valueOut)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("map %s: value out must be a []byte or a non-nil pointer, not %T", m.name, valueOut)
	}
	buf := make([]byte, m.valueSize())
	if err := m.m.Lookup(k, buf); err != nil {
		return err
	}
	return binary.Read(bytes.NewReader(buf), binary.LittleEndian, valueOut)
}

// LookupAndDelete takes the next value out of a queue or stack map into valueOut (the
// oldest for a queue, the newest for a stack), as BPF_MAP_LOOKUP_AND_DELETE_ELEM does
// for them; key must be nil. maps.ErrKeyNotExist when the map is empty; other map
// types fail with maps.ErrNotSupported.
func (m *Map) LookupAndDelete(key, valueOut any) error {
	if err := m.usable(); err != nil {
		return err
	}
	q, ok := m.m.(maps.QueueMap)
	if !ok {
		return fmt.Errorf("map %s: lookup and delete of a %s: %w (queues and stacks only)", m.name, m.typ, maps.ErrNotSupported)
	}
	if k, err := encode(key, 0); err != nil || len(k) != 0 {
		return fmt.Errorf("map %s: %w: a %s has no keys", m.name, maps.ErrInvalid, m.typ)
	}
	buf, ok := valueOut.([]byte)
	if !ok {
		buf = make([]byte, m.valueSize())
	}
	if err := q.Pop(buf); err != nil {
		return err
	}
	if ok {
		return nil
	}
	return decodeValue(m.name, buf, valueOut)
}

// decodeValue stores a value's bytes into valueOut, a non-nil pointer to a fixed-size
// value.
func decodeValue(mapName string, b []byte, valueOut any) error {
	rv := reflect.ValueOf(valueOut)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("map %s: value out must be a []byte or a non-nil pointer, not %T", mapName, valueOut)
	}
	return binary.Read(bytes.NewReader(b), binary.LittleEndian, valueOut)
}

// Update sets key's value (flags: maps.UpdateAny, UpdateNoExist, UpdateExist). A
// program array takes a *Program (or its id); a map of maps a *Map (or its id), which
// must match the inner map template.
func (m *Map) Update(key, value any, flags uint64) error {
	if err := m.usable(); err != nil {
		return err
	}
	k, err := encode(key, int(m.keySize))
	if err != nil {
		return fmt.Errorf("map %s: key: %w", m.name, err)
	}
	switch v := value.(type) {
	case *Program:
		if m.typ != maps.ProgArray {
			return fmt.Errorf("map %s: a program is a value only of program arrays", m.name)
		}
		value = v.id
	case *Map:
		if !m.isOuter() {
			return fmt.Errorf("map %s: a map is a value only of maps of maps", m.name)
		}
		value = v.id
	}
	val, err := encode(value, m.valueSize())
	if err != nil {
		return fmt.Errorf("map %s: value: %w", m.name, err)
	}
	if m.isOuter() {
		return m.updateOuter(k, binary.LittleEndian.Uint32(val), flags)
	}
	return m.m.Update(k, val, flags)
}

// updateOuter stores a map in a map of maps: the slot takes a reference to it and lets
// go of the one it held before.
func (m *Map) updateOuter(key []byte, id uint32, flags uint64) error {
	inner := m.rt.mapByID(id)
	if inner == nil || inner.refs.Load() == 0 {
		return fmt.Errorf("map %s: %w: %d is not the id of a map", m.name, maps.ErrInvalid, id)
	}
	m.outer.Lock()
	defer m.outer.Unlock()
	if m.inner == nil {
		tmpl := inner.m.Spec()
		tmpl.Name = m.name + ".inner"
		m.inner = &tmpl
	}
	if err := m.inner.Compatible(inner.m.Spec()); err != nil {
		return fmt.Errorf("map %s: %w", m.name, err)
	}
	old := make([]byte, 4)
	hadOld := m.m.Lookup(key, old) == nil
	inner.acquire()
	if err := m.m.Update(key, binary.LittleEndian.AppendUint32(nil, id), flags); err != nil {
		inner.release()
		return err
	}
	if hadOld {
		if prev := m.rt.mapByID(binary.LittleEndian.Uint32(old)); prev != nil {
			prev.release()
		}
	}
	return nil
}

// Delete removes key.
func (m *Map) Delete(key any) error {
	if err := m.usable(); err != nil {
		return err
	}
	k, err := encode(key, int(m.keySize))
	if err != nil {
		return fmt.Errorf("map %s: key: %w", m.name, err)
	}
	if !m.isOuter() {
		return m.m.Delete(k)
	}
	m.outer.Lock()
	defer m.outer.Unlock()
	old := make([]byte, 4)
	hadOld := m.m.Lookup(k, old) == nil
	if err := m.m.Delete(k); err != nil {
		return err
	}
	if hadOld {
		if prev := m.rt.mapByID(binary.LittleEndian.Uint32(old)); prev != nil {
			prev.release()
		}
	}
	return nil
}

// NextKey writes the key after key (the first when key is nil) into nextOut.
func (m *Map) NextKey(key any, nextOut []byte) error {
	if err := m.usable(); err != nil {
		return err
	}
	var k []byte
	if key != nil {
		var err error
		if k, err = encode(key, int(m.keySize)); err != nil {
			return fmt.Errorf("map %s: key: %w", m.name, err)
		}
	}
	return m.m.NextKey(k, nextOut)
}

// Spec describes the map (only its name, when its type is not supported).
func (m *Map) Spec() maps.Spec {
	if m.m == nil {
		return maps.Spec{Name: m.name}
	}
	s := m.m.Spec()
	if m.isOuter() {
		m.outer.Lock()
		s.InnerMap = m.inner
		m.outer.Unlock()
	}
	return s
}

// Underlying returns the map implementation, for readers such as
// maps.NewRingBufferReader; nil when the map's type is not supported.
func (m *Map) Underlying() maps.Map { return m.m }

// BatchLookup copies up to len(keysOut)/KeySize elements, starting where cursor stopped
// (a zero cursor starts at the first), into keysOut and valuesOut (per-CPU maps: every
// CPU's value, each rounded up to 8 bytes), as BPF_MAP_LOOKUP_BATCH does. It returns the
// count copied; ErrKeyNotExist (with the count) means the map has no more elements.
func (m *Map) BatchLookup(cursor *maps.BatchCursor, keysOut, valuesOut []byte, opts maps.BatchOptions) (int, error) {
	if err := m.usable(); err != nil {
		return 0, err
	}
	return maps.BatchLookup(m.m, cursor, keysOut, valuesOut, opts)
}

// BatchLookupAndDelete is BatchLookup that also deletes what it copies
// (BPF_MAP_LOOKUP_AND_DELETE_BATCH).
func (m *Map) BatchLookupAndDelete(cursor *maps.BatchCursor, keysOut, valuesOut []byte, opts maps.BatchOptions) (int, error) {
	if err := m.usable(); err != nil {
		return 0, err
	}
	if m.isOuter() {
		return 0, fmt.Errorf("map %s: %w: batch operations on maps of maps", m.name, ErrNotSupported)
	}
	return maps.BatchLookupAndDelete(m.m, cursor, keysOut, valuesOut, opts)
}

// BatchUpdate stores the elements of keys and values (flat, as BatchLookup gives them)
// and returns how many it stored before the first error (BPF_MAP_UPDATE_BATCH).
func (m *Map) BatchUpdate(keys, values []byte, opts maps.BatchOptions) (int, error) {
	if err := m.usable(); err != nil {
		return 0, err
	}
	if m.isOuter() {
		return 0, fmt.Errorf("map %s: %w: batch operations on maps of maps", m.name, ErrNotSupported)
	}
	return maps.BatchUpdate(m.m, keys, values, opts)
}

// BatchDelete deletes the keys (flat) and returns how many it deleted before the first
// error (BPF_MAP_DELETE_BATCH).
func (m *Map) BatchDelete(keys []byte, opts maps.BatchOptions) (int, error) {
	if err := m.usable(); err != nil {
		return 0, err
	}
	if m.isOuter() {
		return 0, fmt.Errorf("map %s: %w: batch operations on maps of maps", m.name, ErrNotSupported)
	}
	return maps.BatchDelete(m.m, keys, opts)
}
