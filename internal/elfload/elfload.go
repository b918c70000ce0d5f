// Package elfload reads eBPF ELF objects as clang writes them, old and new: programs and
// their bpf-to-bpf callees, legacy "maps" sections and BTF-defined ".maps", global data
// sections, relocations and the license. It is built on the standard library's debug/elf;
// BTF is parsed with cilium/ebpf's btf package.
//
// The result keeps references symbolic: an instruction that loads a map or a global
// variable is listed in ProgramSpec.References, for the runtime to resolve when it
// creates the maps.
package elfload

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/cilium/ebpf/btf"

	"github.com/anybpf/anybpf/isa"
	"github.com/anybpf/anybpf/maps"
	"github.com/anybpf/anybpf/progtype"
)

// ErrInvalidObject is wrapped by every error about a malformed object.
var ErrInvalidObject = errors.New("invalid eBPF object")

// ErrNotSupported is wrapped by errors about valid objects using something anybpf does not
// handle yet.
var ErrNotSupported = errors.New("not supported")

// Object is a parsed ELF object.
type Object struct {
	License  string
	Programs []*ProgramSpec
	// Maps lists the maps in the order of their sections and symbols: legacy maps, BTF
	// maps, then one array map per global data section.
	Maps []*MapSpec
	// BTF is the object's type information, nil when it has none.
	BTF *btf.Spec
	// Windows is set for objects built with ebpf-for-windows's headers (they carry the
	// WindowsMarkerSection). Their map types and helper ids are translated to Linux's
	// while loading; their context structs keep ebpf-for-windows's layouts.
	Windows bool

	opts Options // what LoadWith was given
}

// Map returns the map with the given name, or nil.
func (o *Object) Map(name string) *MapSpec {
	for _, m := range o.Maps {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// Program returns the program with the given name, or nil.
func (o *Object) Program(name string) *ProgramSpec {
	for _, p := range o.Programs {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// ProgramSpec is one program: its entry function followed by every function it calls.
type ProgramSpec struct {
	Name    string
	Section string
	// Type and AttachType come from the section name; Type is progtype.Unspec when the
	// name says nothing.
	Type       progtype.Type
	AttachType progtype.AttachType
	// Instructions are relocated: local calls point at the appended callees.
	Instructions []isa.Instruction
	// Callees names the functions appended after the entry function, in order: those it
	// calls, directly or not.
	Callees []string
	// References lists the 64-bit loads of maps and global data.
	References []Reference
	// Lines is the BTF line info of the program, sorted by instruction: each entry
	// gives the source line of the instructions from its Instruction up to the next
	// entry's. Empty when the object has no .BTF.ext line info.
	Lines []LineInfo
	// Windows is set when the program comes from an ebpf-for-windows object: its helper
	// calls are already translated to Linux ids, but it reads its context with
	// ebpf-for-windows's layout of the context struct (see Object.Windows).
	Windows bool
	// Poisoned lists instructions whose CO-RE relocation could not be resolved against
	// anybpf's types, in a program whose type anybpf does not run (tracing, kprobes...);
	// each was replaced by a call to helper COREPoisonHelper, as libbpf does, and must
	// not be run. Programs of the types anybpf runs are refused at load instead.
	Poisoned []PoisonedInstruction
}

// LineInfo is one BTF line info record: the instructions from Instruction (an index
// into ProgramSpec.Instructions) on come from line Line, column Col of source file
// File, whose text is Text.
type LineInfo struct {
	Instruction int
	File        string
	Line        int
	Col         int
	Text        string
}

// LineFor returns the line info covering instruction i (an index into Instructions):
// the last record at or before i, or nil when there is none.
func (p *ProgramSpec) LineFor(i int) *LineInfo {
	j := sort.Search(len(p.Lines), func(k int) bool { return p.Lines[k].Instruction > i })
	if j == 0 {
		return nil
	}
	return &p.Lines[j-1]
}

// Reference says that the LDDW at Instruction (an index into Instructions) loads map Map
// (Value false: the map itself) or the address of its value at Offset (Value true, global
// data).
type Reference struct {
	Instruction int
	Map         string
	Value       bool
	Offset      uint32
}

// MapSpec describes a map declared by the object.
type MapSpec struct {
	Name       string
	Section    string
	Type       maps.Type
	KeySize    uint32
	ValueSize  uint32
	MaxEntries uint32
	Flags      uint32
	// Pinning is the BTF "pinning" attribute (1: by name), 0 when absent.
	Pinning uint32
	// InnerMap is the template of the inner map of a map-of-maps, when declared.
	InnerMap *MapSpec
	// Contents are initial values: the section bytes of global data (key 0), or the
	// "values" of BTF maps-of-maps and program arrays (by symbol name).
	Data     []byte
	Contents []InitialValue
	// ReadOnly is set for .rodata sections.
	ReadOnly bool
	// SpinLock says the value type (from BTF) has a struct bpf_spin_lock member, at byte
	// SpinLockOffset.
	SpinLock       bool
	SpinLockOffset uint32
}

// InitialValue is an initial entry of a map-of-maps or program array: the map or program
// whose name is Symbol goes in slot Key.
type InitialValue struct {
	Key    uint32
	Symbol string
}

// LoadFile parses the object at path, with the default options (LoadFileWith).
func LoadFile(path string) (*Object, error) {
	return LoadFileWith(path, Options{})
}

// Load parses an object. When r has a Size method (bytes.Reader, io.SectionReader), no
// section may claim bytes past that size, so that a hostile header cannot make the loader
// allocate more than the object holds. The options are the default ones (LoadWith).
func Load(r io.ReaderAt) (*Object, error) {
	return load(r, Options{})
}

func load(r io.ReaderAt, opts Options) (*Object, error) {
	var f *elf.File
	err := guard(func() (err error) {
		f, err = elf.NewFile(r)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidObject, err)
	}
	if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB {
		return nil, fmt.Errorf("%w: %v %v (only 64-bit little-endian eBPF objects)", ErrNotSupported, f.Class, f.Data)
	}
	if f.Machine != elf.EM_BPF && f.Machine != elf.EM_NONE {
		return nil, fmt.Errorf("%w: machine %v is not BPF", ErrInvalidObject, f.Machine)
	}
	if sized, ok := r.(interface{ Size() int64 }); ok {
		size := uint64(sized.Size())
		for _, s := range f.Sections {
			if s.Type != elf.SHT_NOBITS && s.Type != elf.SHT_NULL && (s.Offset > size || s.Size > size-s.Offset) {
				return nil, fmt.Errorf("%w: section %q claims bytes %d..%d of a %d-byte object", ErrInvalidObject, s.Name, s.Offset, s.Offset+s.Size, size)
			}
		}
	}
	l := &loader{f: f, obj: &Object{opts: opts}, r: r}
	for _, s := range f.Sections {
		if s.Name == WindowsMarkerSection {
			l.obj.Windows = true
		}
	}
	if err := l.load(); err != nil {
		return nil, err
	}
	return l.obj, nil
}

type section struct {
	*elf.Section
	index int
	data  []byte
	kind  sectionKind
	// symbols in this section, by offset
	syms []elf.Symbol
	// relocations that apply to this section, by offset
	relocs map[uint64]elf.Symbol
	// addends of the relocations that came from SHT_RELA sections (older toolchains
	// emit those); SHT_REL relocations keep theirs in the instruction.
	addends map[uint64]int64
}

type sectionKind int

const (
	kindOther sectionKind = iota
	kindCode
	kindLegacyMaps
	kindBTFMaps
	kindData
	kindLicense
)

type loader struct {
	r        io.ReaderAt
	f        *elf.File
	obj      *Object
	sections map[int]*section
	symbols  []elf.Symbol
	// ext is the object's .BTF.ext: line info and CO-RE relocations by section name;
	// nil when it has none.
	ext *btf.ExtInfos
	// poison records the instructions that CO-RE relocation poisoned, by section index
	// and slot, with the reason.
	poison map[funcKey]string
	// kernelPoison is poison for the copies of shared code resolved against the kernel's
	// BTF (function.kernelInsns).
	kernelPoison map[funcKey]string
	// coreBySection holds the CO-RE relocations of .BTF.ext by section name, once read.
	coreBySection map[string][]coreRelo
	// functions maps (section index, offset) to the function starting there.
	functions map[funcKey]*function
}

type funcKey struct {
	section int
	offset  uint64
}

type function struct {
	name    string
	section *section
	offset  uint64 // in bytes
	insns   []isa.Instruction
	// kernelInsns, when not nil, are insns with the CO-RE relocations resolved against
	// the kernel's BTF, for programs anybpf does not run (shared code, see applyCORE).
	kernelInsns []isa.Instruction
	// offsets of each instruction in slots from the function start
	slots []int
}

func (l *loader) load() error {
	l.sections = map[int]*section{}
	for i, s := range l.f.Sections {
		sec := &section{Section: s, index: i, relocs: map[uint64]elf.Symbol{}}
		switch {
		case s.Name == "license":
			sec.kind = kindLicense
		case s.Name == "maps" || strings.HasPrefix(s.Name, "maps/"):
			sec.kind = kindLegacyMaps
		case s.Name == ".maps":
			sec.kind = kindBTFMaps
		case s.Type == elf.SHT_PROGBITS && s.Flags&elf.SHF_EXECINSTR != 0 && s.Size > 0:
			sec.kind = kindCode
		case isDataSection(s.Name) && (s.Type == elf.SHT_PROGBITS || s.Type == elf.SHT_NOBITS):
			sec.kind = kindData
		}
		if sec.kind != kindOther && s.Type != elf.SHT_NOBITS {
			err := guard(func() (err error) {
				sec.data, err = s.Data()
				return err
			})
			if err != nil {
				return fmt.Errorf("%w: section %s: %v", ErrInvalidObject, s.Name, err)
			}
		}
		l.sections[i] = sec
	}
	var syms []elf.Symbol
	err := guard(func() (err error) {
		syms, err = l.f.Symbols()
		return err
	})
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return fmt.Errorf("%w: symbols: %v", ErrInvalidObject, err)
	}
	l.symbols = syms
	for _, sym := range syms {
		if int(sym.Section) > 0 && int(sym.Section) < len(l.f.Sections) {
			if sec := l.f.Sections[sym.Section]; sec.Type != elf.SHT_NOBITS && (sym.Value > sec.Size || sym.Size > sec.Size-sym.Value) {
				return fmt.Errorf("%w: symbol %q (bytes %d..%d) lies outside its section %s (%d bytes)", ErrInvalidObject, sym.Name, sym.Value, sym.Value+sym.Size, sec.Name, sec.Size)
			}
		}
	}
	for _, sym := range syms {
		if sec, ok := l.sections[int(sym.Section)]; ok {
			sec.syms = append(sec.syms, sym)
		}
	}
	for _, sec := range l.sections {
		sort.SliceStable(sec.syms, func(i, j int) bool { return sec.syms[i].Value < sec.syms[j].Value })
	}
	if err := l.loadRelocations(); err != nil {
		return err
	}
	if lic := l.sectionNamed("license"); lic != nil {
		l.obj.License = string(bytes.TrimRight(lic.data, "\x00"))
	}
	if err := l.loadBTF(); err != nil {
		return err
	}
	if err := l.loadMaps(); err != nil {
		return err
	}
	if err := l.loadFunctions(); err != nil {
		return err
	}
	return l.loadPrograms()
}

// guard runs a debug/elf call, turning the panics it can raise on malformed input into
// errors.
func guard(call func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed ELF (%v)", p)
		}
	}()
	return call()
}

func isDataSection(name string) bool {
	for _, p := range []string{".data", ".rodata", ".bss"} {
		if name == p || strings.HasPrefix(name, p+".") {
			return true
		}
	}
	return false
}

func (l *loader) sectionNamed(name string) *section {
	for i := 0; i < len(l.f.Sections); i++ {
		if l.sections[i].Name == name {
			return l.sections[i]
		}
	}
	return nil
}

func (l *loader) loadRelocations() error {
	for _, sec := range l.sections {
		if sec.Type != elf.SHT_REL && sec.Type != elf.SHT_RELA {
			continue
		}
		entSize := 16
		if sec.Type == elf.SHT_RELA {
			entSize = 24
		}
		target, ok := l.sections[int(sec.Info)]
		if !ok {
			return fmt.Errorf("%w: relocation section %s targets section %d", ErrInvalidObject, sec.Name, sec.Info)
		}
		var data []byte
		err := guard(func() (err error) {
			data, err = sec.Data()
			return err
		})
		if err != nil {
			return fmt.Errorf("%w: section %s: %v", ErrInvalidObject, sec.Name, err)
		}
		if len(data)%entSize != 0 {
			return fmt.Errorf("%w: relocation section %s has %d bytes, not a multiple of %d", ErrInvalidObject, sec.Name, len(data), entSize)
		}
		for off := 0; off < len(data); off += entSize {
			rOff := binary.LittleEndian.Uint64(data[off:])
			info := binary.LittleEndian.Uint64(data[off+8:])
			symIdx := int(info >> 32)
			if symIdx > len(l.symbols) {
				return fmt.Errorf("%w: relocation %d in %s names symbol %d of %d", ErrInvalidObject, off/entSize, sec.Name, symIdx, len(l.symbols))
			}
			if target.Type != elf.SHT_NOBITS && (rOff >= target.Size || target.Size-rOff < 4) {
				return fmt.Errorf("%w: relocation %d in %s applies at byte %d of %s (%d bytes)", ErrInvalidObject, off/entSize, sec.Name, rOff, target.Name, target.Size)
			}
			if target.kind != kindCode && target.kind != kindBTFMaps {
				continue // debug info and the like
			}
			if symIdx == 0 {
				return fmt.Errorf("%w: relocation %d in %s names the null symbol", ErrInvalidObject, off/entSize, sec.Name)
			}
			if target.kind == kindCode && rOff%isa.InstructionSize != 0 {
				return fmt.Errorf("%w: relocation %d in %s is not at an instruction (byte %d)", ErrInvalidObject, off/entSize, sec.Name, rOff)
			}
			target.relocs[rOff] = l.symbols[symIdx-1] // debug/elf drops the null symbol
			if entSize == 24 {
				if target.addends == nil {
					target.addends = map[uint64]int64{}
				}
				target.addends[rOff] = int64(binary.LittleEndian.Uint64(data[off+16:]))
			}
		}
	}
	return nil
}

func (l *loader) loadBTF() error {
	if l.sectionNamed(".BTF") == nil {
		return nil
	}
	var spec *btf.Spec
	var ext *btf.ExtInfos
	err := guard(func() (err error) {
		spec, ext, err = btf.LoadSpecAndExtInfosFromReader(l.r)
		return err
	})
	if err != nil {
		return fmt.Errorf("%w: BTF: %v", ErrInvalidObject, err)
	}
	l.obj.BTF = spec
	l.ext = ext
	return nil
}

// maxDataSection bounds a global-data section (.data, .rodata, .bss), which becomes
// the single value of an array map: Linux refuses array values larger than
// KMALLOC_MAX_SIZE, 4 MiB on x86-64. The bound also keeps a hostile .bss header from
// driving a huge allocation.
const maxDataSection = 4 << 20

// legacyMapDef is struct bpf_map_def as older libbpf and iproute2 headers declare it;
// objects may carry a prefix of it or extra fields after it.
func (l *loader) loadMaps() error {
	var legacy []*MapSpec       // the legacy maps in definition order
	inner := map[*MapSpec]int{} // maps-of-maps naming their inner map by that order
	for i := 0; i < len(l.f.Sections); i++ {
		sec := l.sections[i]
		switch sec.kind {
		case kindLegacyMaps:
			load := l.loadLegacyMaps
			if l.obj.Windows {
				load = l.loadWindowsMaps
			}
			first := len(l.obj.Maps)
			if err := load(sec); err != nil {
				return err
			}
			if !l.obj.Windows {
				for _, m := range l.obj.Maps[first:] {
					if idx, ok := legacyInnerIndex(sec, m); ok {
						inner[m] = idx
					}
					legacy = append(legacy, m)
				}
			}
		case kindBTFMaps:
			if err := l.loadBTFMaps(sec); err != nil {
				return err
			}
		}
	}
	// samples/bpf's struct bpf_map_def names a map-of-maps' inner map by its index
	// among the object's map definitions (inner_map_idx).
	for m, idx := range inner {
		if idx >= len(legacy) || legacy[idx] == m {
			return fmt.Errorf("%w: map %s: inner_map_idx %d names no other map", ErrInvalidObject, m.Name, idx)
		}
		tmpl := *legacy[idx]
		m.InnerMap = &tmpl
	}
	for i := 0; i < len(l.f.Sections); i++ {
		sec := l.sections[i]
		if sec.kind != kindData {
			continue
		}
		if sec.Size > maxDataSection {
			return fmt.Errorf("%w: section %s: %d bytes of global data, more than the %d an array map value may hold", ErrInvalidObject, sec.Name, sec.Size, maxDataSection)
		}
		m := &MapSpec{Name: sec.Name, Section: sec.Name, Type: maps.Array, KeySize: 4,
			ValueSize: uint32(sec.Size), MaxEntries: 1, ReadOnly: strings.HasPrefix(sec.Name, ".rodata")}
		if sec.Type != elf.SHT_NOBITS {
			m.Data = sec.data
		} else {
			m.Data = make([]byte, sec.Size)
		}
		l.obj.Maps = append(l.obj.Maps, m)
	}
	return nil
}

// legacyInnerIndex returns the inner_map_idx of a legacy map-of-maps definition (the
// sixth word of samples/bpf's struct bpf_map_def), when its definition has one.
func legacyInnerIndex(sec *section, m *MapSpec) (int, bool) {
	if m.Type != maps.ArrayOfMaps && m.Type != maps.HashOfMaps {
		return 0, false
	}
	syms := mapSymbols(sec)
	size := len(sec.data) / max(len(syms), 1)
	for _, s := range syms {
		// 24 or 28 bytes: samples/bpf's layout (iproute2's 36-byte struct bpf_elf_map
		// keeps other fields there).
		if s.Name == m.Name && (size == 24 || size == 28) && s.Value+24 <= uint64(len(sec.data)) {
			return int(binary.LittleEndian.Uint32(sec.data[s.Value+20:])), true
		}
	}
	return 0, false
}

// mapSymbols returns the symbols naming maps in a legacy maps section.
func mapSymbols(sec *section) []elf.Symbol {
	var syms []elf.Symbol
	for _, s := range sec.syms {
		if elf.ST_TYPE(s.Info) != elf.STT_SECTION && s.Name != "" {
			syms = append(syms, s)
		}
	}
	return syms
}

func (l *loader) loadLegacyMaps(sec *section) error {
	syms := mapSymbols(sec)
	if len(syms) == 0 {
		return nil
	}
	size := uint64(len(sec.data)) / uint64(len(syms))
	if size < 16 || uint64(len(sec.data))%uint64(len(syms)) != 0 {
		return fmt.Errorf("%w: section %s: %d bytes for %d maps", ErrInvalidObject, sec.Name, len(sec.data), len(syms))
	}
	for _, s := range syms {
		if s.Value+16 > uint64(len(sec.data)) {
			return fmt.Errorf("%w: map %s lies outside section %s", ErrInvalidObject, s.Name, sec.Name)
		}
		d := sec.data[s.Value:]
		m := &MapSpec{
			Name:       s.Name,
			Section:    sec.Name,
			Type:       maps.Type(binary.LittleEndian.Uint32(d[0:])),
			KeySize:    binary.LittleEndian.Uint32(d[4:]),
			ValueSize:  binary.LittleEndian.Uint32(d[8:]),
			MaxEntries: binary.LittleEndian.Uint32(d[12:]),
		}
		if size >= 20 && s.Value+20 <= uint64(len(sec.data)) {
			m.Flags = binary.LittleEndian.Uint32(d[16:])
		}
		l.obj.Maps = append(l.obj.Maps, m)
	}
	return nil
}

func (l *loader) loadBTFMaps(sec *section) error {
	if l.obj.BTF == nil {
		return fmt.Errorf("%w: section .maps needs BTF, and the object has none", ErrInvalidObject)
	}
	var ds *btf.Datasec
	if err := l.obj.BTF.TypeByName(".maps", &ds); err != nil {
		return fmt.Errorf("%w: .maps: %v", ErrInvalidObject, err)
	}
	for _, vs := range ds.Vars {
		v, ok := vs.Type.(*btf.Var)
		if !ok {
			return fmt.Errorf("%w: .maps: entry is %T, not a variable", ErrInvalidObject, vs.Type)
		}
		def, ok := btf.UnderlyingType(v.Type).(*btf.Struct)
		if !ok {
			return fmt.Errorf("%w: map %s: definition is %T, not a struct", ErrInvalidObject, v.Name, v.Type)
		}
		m, err := mapFromBTF(v.Name, def, l.obj.Windows)
		if err != nil {
			return fmt.Errorf("map %s: %w", v.Name, err)
		}
		m.Section = sec.Name
		// Initial values of maps-of-maps and program arrays are relocations into the
		// "values" array.
		for _, member := range def.Members {
			if member.Name != "values" {
				continue
			}
			base := uint64(vs.Offset) + uint64(member.Offset.Bytes())
			end := base + 8*uint64(m.MaxEntries)
			for off, sym := range sec.relocs {
				if off >= base && off < end && (off-base)%8 == 0 {
					m.Contents = append(m.Contents, InitialValue{Key: uint32((off - base) / 8), Symbol: sym.Name})
				}
			}
			sort.Slice(m.Contents, func(i, j int) bool { return m.Contents[i].Key < m.Contents[j].Key })
		}
		l.obj.Maps = append(l.obj.Maps, m)
	}
	return nil
}

// mapFromBTF reads a BTF map definition; windows says that its type is numbered as
// ebpf-for-windows numbers map types.
func mapFromBTF(name string, def *btf.Struct, windows bool) (*MapSpec, error) {
	m := &MapSpec{Name: name}
	for _, member := range def.Members {
		switch member.Name {
		case "type", "max_entries", "map_flags", "pinning", "key_size", "value_size", "map_extra", "numa_node":
			n, err := btfUint(member.Type)
			if err != nil {
				return nil, fmt.Errorf("%w: member %s: %v", ErrInvalidObject, member.Name, err)
			}
			switch member.Name {
			case "type":
				m.Type = maps.Type(n)
				if windows {
					if m.Type, err = translateWindowsMapType(n); err != nil {
						return nil, err
					}
				}
			case "max_entries":
				m.MaxEntries = n
			case "map_flags":
				m.Flags = n
			case "pinning":
				m.Pinning = n
			case "key_size":
				m.KeySize = n
			case "value_size":
				m.ValueSize = n
			}
		case "key", "value":
			ptr, ok := member.Type.(*btf.Pointer)
			if !ok {
				return nil, fmt.Errorf("%w: member %s is %T, not a pointer", ErrInvalidObject, member.Name, member.Type)
			}
			size, err := btf.Sizeof(ptr.Target)
			if err != nil {
				return nil, fmt.Errorf("%w: member %s: %v", ErrInvalidObject, member.Name, err)
			}
			if member.Name == "key" {
				m.KeySize = uint32(size)
			} else {
				m.ValueSize = uint32(size)
				m.SpinLockOffset, m.SpinLock = spinLockIn(ptr.Target)
			}
		case "values":
			arr, ok := member.Type.(*btf.Array)
			if !ok {
				return nil, fmt.Errorf("%w: member values is %T, not an array", ErrInvalidObject, member.Type)
			}
			ptr, ok := arr.Type.(*btf.Pointer)
			if !ok {
				return nil, fmt.Errorf("%w: values holds %T, not pointers", ErrInvalidObject, arr.Type)
			}
			m.ValueSize = 4
			if inner, ok := btf.UnderlyingType(ptr.Target).(*btf.Struct); ok {
				im, err := mapFromBTF(name+".inner", inner, windows)
				if err != nil {
					return nil, fmt.Errorf("inner map: %w", err)
				}
				m.InnerMap = im
			}
		}
	}
	return m, nil
}

// spinLockIn finds the struct bpf_spin_lock member of a map's value type, where Linux
// looks for it: among the members of the value struct itself.
func spinLockIn(t btf.Type) (offset uint32, ok bool) {
	s, isStruct := btf.UnderlyingType(t).(*btf.Struct)
	if !isStruct {
		return 0, false
	}
	for _, m := range s.Members {
		if lock, isLock := btf.UnderlyingType(m.Type).(*btf.Struct); isLock && lock.Name == "bpf_spin_lock" {
			return m.Offset.Bytes(), true
		}
	}
	return 0, false
}

// btfUint decodes the "__uint(name, value)" convention: a pointer to an array whose
// length is the value.
func btfUint(t btf.Type) (uint32, error) {
	ptr, ok := t.(*btf.Pointer)
	if !ok {
		return 0, fmt.Errorf("%T is not a pointer", t)
	}
	arr, ok := btf.UnderlyingType(ptr.Target).(*btf.Array)
	if !ok {
		return 0, fmt.Errorf("pointer to %T, not to an array", ptr.Target)
	}
	return arr.Nelems, nil
}
