package anybpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"unsafe"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/helpers"
	"github.com/anybpf/anybpf/internal/elfload"
	"github.com/anybpf/anybpf/isa"
	"github.com/anybpf/anybpf/maps"
	"github.com/anybpf/anybpf/progtype"
)

// Collection is what an object file holds, loaded: its programs and maps by name.
type Collection struct {
	Programs map[string]*Program
	Maps     map[string]*Map
}

// Map is a loaded map.
type Map struct {
	name   string
	m      maps.Map
	handle uint64
	ncpu   int // values per key in user space: the CPU count for per-CPU maps, else 1
	// keySize and valueSz are the spec's, kept here for the helpers' fast path.
	keySize, valueSz uint32
	// err is set when anybpf cannot provide the map's type; m is nil then.
	err error
	// region is the map's value memory when it is fixed (arrays, global data), which
	// checked mode lets programs access directly.
	region engine.Region
}

// Program is a loaded program.
type Program struct {
	Name    string
	Section string
	Type    progtype.Type
	rt      *Runtime
	code    engine.Code
	// regions are the fixed map memories the program refers to.
	regions []engine.Region
	// insns is the program as loaded: relocated, context accesses rewritten.
	insns []isa.Instruction
	// err says why the program cannot run, when it cannot.
	err error
	id  uint32
}

// ID is the program's id in its runtime, what program arrays hold.
func (p *Program) ID() uint32 { return p.id }

// LoadCollection loads every program and map of an ELF object.
func (rt *Runtime) LoadCollection(path string) (*Collection, error) {
	obj, err := elfload.LoadFile(path)
	if err != nil {
		return nil, err
	}
	eng, err := rt.engine()
	if err != nil {
		return nil, err
	}
	coll := &Collection{Programs: map[string]*Program{}, Maps: map[string]*Map{}}
	for _, spec := range obj.Maps {
		m, err := maps.New(maps.Spec{Name: spec.Name, Type: spec.Type, KeySize: spec.KeySize, ValueSize: spec.ValueSize, MaxEntries: spec.MaxEntries, Flags: spec.Flags}, rt.epochs)
		if errors.Is(err, maps.ErrNotSupported) {
			// The programs that use it cannot run; the rest of the object can.
			coll.Maps[spec.Name] = &Map{name: spec.Name, err: err}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: map %s: %w", path, spec.Name, err)
		}
		lm := &Map{name: spec.Name, m: m, ncpu: 1, keySize: spec.KeySize, valueSz: spec.ValueSize}
		if _, ok := m.(maps.PerCPUMap); ok && (spec.Type == maps.PerCPUArray || spec.Type == maps.PerCPUHash || spec.Type == maps.LRUPerCPUHash) {
			lm.ncpu = rt.epochs.NumCPU()
		}
		if spec.Data != nil {
			if err := m.Update([]byte{0, 0, 0, 0}, spec.Data, maps.UpdateAny); err != nil {
				return nil, fmt.Errorf("%s: map %s: initial data: %w", path, spec.Name, err)
			}
		}
		if spec.Type == maps.Array {
			key := uint32(0)
			p := m.LookupPtr(unsafe.Pointer(&key))
			size := uintptr(spec.ValueSize+7) &^ 7 * uintptr(spec.MaxEntries)
			lm.region = engine.Region{Addr: uintptr(p), Size: size, Writable: !spec.ReadOnly, Name: spec.Name}
		}
		rt.register(lm)
		coll.Maps[spec.Name] = lm
	}
	for _, ps := range obj.Programs {
		p, err := rt.loadProgram(eng, ps, coll)
		if errors.Is(err, ErrNotSupported) {
			// Keep the program so that users see it, and say why it cannot run.
			p = &Program{Name: ps.Name, Section: ps.Section, Type: ps.Type, rt: rt, err: err}
		} else if err != nil {
			return nil, fmt.Errorf("%s: program %s: %w", path, ps.Name, err)
		}
		rt.registerProgram(p)
		coll.Programs[ps.Name] = p
	}
	// Program arrays declared with initial values (BTF "values").
	for _, spec := range obj.Maps {
		m := coll.Maps[spec.Name]
		if m == nil || m.err != nil || spec.Type != maps.ProgArray {
			continue
		}
		for _, v := range spec.Contents {
			p := coll.Programs[v.Symbol]
			if p == nil {
				return nil, fmt.Errorf("%s: map %s: slot %d names %q, which is not a program of the object", path, spec.Name, v.Key, v.Symbol)
			}
			if err := m.Update(v.Key, p, maps.UpdateAny); err != nil {
				return nil, fmt.Errorf("%s: map %s: slot %d: %w", path, spec.Name, v.Key, err)
			}
		}
	}
	return coll, nil
}

func (rt *Runtime) loadProgram(eng engine.Engine, ps *elfload.ProgramSpec, coll *Collection) (*Program, error) {
	p := &Program{Name: ps.Name, Section: ps.Section, Type: ps.Type, rt: rt}
	insns := append([]isa.Instruction(nil), ps.Instructions...)
	seen := map[*Map]bool{}
	for _, ref := range ps.References {
		m := coll.Maps[ref.Map]
		if m == nil {
			return nil, fmt.Errorf("refers to map %q, which the object does not define", ref.Map)
		}
		if m.err != nil {
			return nil, fmt.Errorf("uses map %s: %w", ref.Map, m.err)
		}
		ins := &insns[ref.Instruction]
		ins.Src = isa.Register(isa.PseudoNone)
		if ref.Value {
			if m.region.Size == 0 {
				return nil, fmt.Errorf("%w: direct value access to map %s", ErrNotSupported, ref.Map)
			}
			ins.Constant = int64(m.region.Addr) + int64(ref.Offset)
		} else {
			ins.Constant = int64(m.handle)
		}
		if !seen[m] && m.region.Size > 0 {
			seen[m] = true
			p.regions = append(p.regions, m.region)
		}
	}
	// Callback addresses (bpf_loop, bpf_for_each_map_elem) become function handles that
	// the helpers turn back into entry slots.
	offs, _ := isa.SlotOffsets(insns)
	for i := range insns {
		if insns[i].IsLDDW() && insns[i].Src == isa.Register(isa.PseudoFunc) {
			insns[i].Src = isa.Register(isa.PseudoNone)
			insns[i].Constant = int64(funcHandleBase | uint64(offs[i]+1+int(insns[i].Imm())))
		}
	}
	if c := progtype.ContextOf(ps.Type); c != nil {
		var err error
		if insns, err = progtype.RewriteContext(insns, c); err != nil {
			return nil, err
		}
	} else if ps.Type != progtype.Unspec {
		return nil, fmt.Errorf("%w: running %s programs (no context layout yet)", ErrNotSupported, ps.Type)
	}
	table := rt.helperTable()
	for _, ins := range insns {
		if ins.IsHelperCall() {
			if err := progtype.CheckHelper(ps.Type, helpers.ID(ins.Imm()).String()); err != nil {
				return nil, err
			}
			if _, ok := table[ins.Imm()]; !ok {
				return nil, fmt.Errorf("%w: helper bpf_%s (%d) is not implemented yet", ErrNotSupported, helpers.ID(ins.Imm()), ins.Imm())
			}
		}
	}
	code, err := eng.Compile(insns, engine.Config{Helpers: table, Checked: true, Budget: rt.cfg.budget})
	if err != nil {
		return nil, err
	}
	p.code, p.insns = code, insns
	return p, nil
}

// Instructions returns the program as it runs: relocated, map references resolved and
// context accesses rewritten.
func (p *Program) Instructions() []isa.Instruction { return p.insns }

// encode turns a key or value into bytes: []byte as is, anything else with
// encoding/binary in little-endian order.
func encode(v any, size int) ([]byte, error) {
	if b, ok := v.([]byte); ok {
		return b, nil
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
	s := m.m.Spec()
	if m.ncpu > 1 {
		return int((s.ValueSize+7)&^7) * m.ncpu
	}
	return int(s.ValueSize)
}

// Lookup reads key's value into valueOut, a []byte of the value size or a pointer to a
// fixed-size value.
func (m *Map) Lookup(key, valueOut any) error {
	if m.err != nil {
		return fmt.Errorf("map %s: %w", m.name, m.err)
	}
	k, err := encode(key, int(m.m.Spec().KeySize))
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

// Update sets key's value (flags: maps.UpdateAny, UpdateNoExist, UpdateExist).
func (m *Map) Update(key, value any, flags uint64) error {
	if m.err != nil {
		return fmt.Errorf("map %s: %w", m.name, m.err)
	}
	k, err := encode(key, int(m.m.Spec().KeySize))
	if err != nil {
		return fmt.Errorf("map %s: key: %w", m.name, err)
	}
	if p, ok := value.(*Program); ok {
		if m.m.Spec().Type != maps.ProgArray {
			return fmt.Errorf("map %s: a program is a value only of program arrays", m.name)
		}
		value = p.id
	}
	v, err := encode(value, m.valueSize())
	if err != nil {
		return fmt.Errorf("map %s: value: %w", m.name, err)
	}
	return m.m.Update(k, v, flags)
}

// Delete removes key.
func (m *Map) Delete(key any) error {
	if m.err != nil {
		return fmt.Errorf("map %s: %w", m.name, m.err)
	}
	k, err := encode(key, int(m.m.Spec().KeySize))
	if err != nil {
		return fmt.Errorf("map %s: key: %w", m.name, err)
	}
	return m.m.Delete(k)
}

// NextKey writes the key after key (the first when key is nil) into nextOut.
func (m *Map) NextKey(key any, nextOut []byte) error {
	if m.err != nil {
		return fmt.Errorf("map %s: %w", m.name, m.err)
	}
	var k []byte
	if key != nil {
		var err error
		if k, err = encode(key, int(m.m.Spec().KeySize)); err != nil {
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
	return m.m.Spec()
}

// Underlying returns the map implementation, for readers such as
// maps.NewRingBufferReader; nil when the map's type is not supported.
func (m *Map) Underlying() maps.Map { return m.m }
