package elfload

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/cilium/ebpf/btf"

	"github.com/anybpf/anybpf/isa"
	"github.com/anybpf/anybpf/progtype"
)

// CO-RE ("compile once, run everywhere") relocations are applied against the types anybpf
// provides: the Linux UAPI context structs (xdp_md, __sk_buff, bpf_sock_addr,
// bpf_sock_ops, bpf_sock, ...), the packet headers of linux/if_ether.h, ip.h, ipv6.h,
// tcp.h, udp.h and icmp*.h, and anybpf's own bind_md and process_md. Their BTF comes
// from testdata/ctxtypes.c, compiled with clang -g (testdata/Makefile).

//go:embed testdata/ctxtypes.o
var ctxTypesObject []byte

var (
	targetOnce sync.Once
	targetSpec *btf.Spec
	targetErr  error
)

// TargetBTF returns the BTF of the types CO-RE relocations are resolved against.
func TargetBTF() (*btf.Spec, error) {
	targetOnce.Do(func() {
		targetSpec, targetErr = btf.LoadSpecFromReader(bytes.NewReader(ctxTypesObject))
		if targetErr != nil {
			targetErr = fmt.Errorf("anybpf's context types BTF: %w", targetErr)
		}
	})
	return targetSpec, targetErr
}

// COREPoisonHelper is the helper id that replaces an instruction whose CO-RE relocation
// could not be resolved (libbpf's and cilium/ebpf's choice, 0xbad2310).
const COREPoisonHelper = 0xbad2310

// PoisonedInstruction is an instruction replaced because its CO-RE relocation could not
// be resolved: Instruction indexes ProgramSpec.Instructions, Reason says which type or
// field is missing.
type PoisonedInstruction struct {
	Instruction int
	Reason      string
}

// ErrCORE is wrapped by the errors about CO-RE relocations that cannot be applied.
var ErrCORE = fmt.Errorf("%w: CO-RE relocation", ErrNotSupported)

// COREError is a CO-RE relocation that cannot be applied against anybpf's types.
type COREError struct {
	// Reason names the type or field that does not exist, or what else failed.
	Reason string
}

func (e *COREError) Error() string { return "CO-RE relocation: " + e.Reason }

// Unwrap returns ErrCORE.
func (e *COREError) Unwrap() error { return ErrCORE }

// runsHere reports whether anybpf runs programs of type t (it has their context), so that
// an unresolved CO-RE relocation refuses the program instead of poisoning it. Untyped
// programs are refused too: nothing says they will not run.
func runsHere(t progtype.Type) bool {
	switch t {
	case progtype.Unspec, progtype.XDP, progtype.SocketFilter, progtype.SchedCls, progtype.SchedAct,
		progtype.CgroupSKB, progtype.CgroupSockAddr, progtype.CgroupSock, progtype.SockOps,
		progtype.Bind, progtype.Process:
		return true
	}
	return progtype.ContextOf(t) != nil
}

// CO-RE relocation kinds (enum bpf_core_relo_kind).
const (
	coreFieldByteOffset = iota
	coreFieldByteSize
	coreFieldExists
	coreFieldSigned
	coreFieldLShiftU64
	coreFieldRShiftU64
	coreTypeIDLocal
	coreTypeIDTarget
	coreTypeExists
	coreTypeSize
	coreEnumvalExists
	coreEnumvalValue
	coreTypeMatches
)

var coreKindNames = []string{"byte_off", "byte_sz", "field_exists", "signed", "lshift_u64", "rshift_u64",
	"local_type_id", "target_type_id", "type_exists", "type_size", "enumval_exists", "enumval_value", "type_matches"}

// coreRelo is one bpf_core_relo record of .BTF.ext.
type coreRelo struct {
	insnOff uint32 // in bytes from the section start
	typeID  btf.TypeID
	access  string
	kind    uint32
}

// maxCORERelos bounds the records read, so that a hostile header cannot drive a huge
// allocation (each record is 16 bytes of the section anyway).
const maxCORERelos = 1 << 20

// coreRelos parses the CO-RE relocations of .BTF.ext, by section name. cilium/ebpf's
// btf package parses them too, but keeps their accessors to itself.
func (l *loader) coreRelos() (map[string][]coreRelo, error) {
	extSec, btfSec := l.sectionNamed(".BTF.ext"), l.sectionNamed(".BTF")
	if extSec == nil || btfSec == nil || l.obj.BTF == nil {
		return nil, nil
	}
	var ext, raw []byte
	err := guard(func() (err error) {
		if ext, err = extSec.Data(); err != nil {
			return err
		}
		raw, err = btfSec.Data()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%w: .BTF.ext: %v", ErrInvalidObject, err)
	}
	le := binary.LittleEndian
	if len(ext) < 8 || le.Uint16(ext) != 0xeb9f {
		return nil, fmt.Errorf("%w: .BTF.ext: bad header", ErrInvalidObject)
	}
	hdrLen := uint64(le.Uint32(ext[4:]))
	if hdrLen < 32 || hdrLen > uint64(len(ext)) {
		return nil, nil // no CO-RE part
	}
	off, size := uint64(le.Uint32(ext[24:])), uint64(le.Uint32(ext[28:]))
	if size == 0 {
		return nil, nil
	}
	if hdrLen+off > uint64(len(ext)) || size > uint64(len(ext))-hdrLen-off {
		return nil, fmt.Errorf("%w: .BTF.ext: CO-RE relocations at %d+%d outside the %d-byte section", ErrInvalidObject, off, size, len(ext))
	}
	data := ext[hdrLen+off : hdrLen+off+size]
	strs, err := btfStrings(raw)
	if err != nil {
		return nil, err
	}
	if len(data) < 4 {
		return nil, fmt.Errorf("%w: .BTF.ext: truncated CO-RE relocations", ErrInvalidObject)
	}
	recSize := uint64(le.Uint32(data))
	if recSize < 16 {
		return nil, fmt.Errorf("%w: .BTF.ext: CO-RE record size %d", ErrInvalidObject, recSize)
	}
	out := map[string][]coreRelo{}
	total := 0
	for p := uint64(4); p < uint64(len(data)); {
		if uint64(len(data))-p < 8 {
			return nil, fmt.Errorf("%w: .BTF.ext: truncated CO-RE section header", ErrInvalidObject)
		}
		name, err := strs.at(le.Uint32(data[p:]))
		if err != nil {
			return nil, fmt.Errorf("%w: .BTF.ext: CO-RE section name: %v", ErrInvalidObject, err)
		}
		n := uint64(le.Uint32(data[p+4:]))
		p += 8
		if n > (uint64(len(data))-p)/recSize {
			return nil, fmt.Errorf("%w: .BTF.ext: %d CO-RE relocations for %s overrun the section", ErrInvalidObject, n, name)
		}
		total += int(n)
		if total > maxCORERelos {
			return nil, fmt.Errorf("%w: .BTF.ext: more than %d CO-RE relocations", ErrInvalidObject, maxCORERelos)
		}
		for i := uint64(0); i < n; i, p = i+1, p+recSize {
			access, err := strs.at(le.Uint32(data[p+8:]))
			if err != nil {
				return nil, fmt.Errorf("%w: .BTF.ext: CO-RE accessor: %v", ErrInvalidObject, err)
			}
			out[name] = append(out[name], coreRelo{insnOff: le.Uint32(data[p:]), typeID: btf.TypeID(le.Uint32(data[p+4:])), access: access, kind: le.Uint32(data[p+12:])})
		}
	}
	return out, nil
}

// stringTable is the string section of raw BTF.
type stringTable []byte

func (s stringTable) at(off uint32) (string, error) {
	if uint64(off) >= uint64(len(s)) {
		return "", fmt.Errorf("string offset %d beyond the %d-byte table", off, len(s))
	}
	end := bytes.IndexByte(s[off:], 0)
	if end < 0 {
		return "", fmt.Errorf("string at %d is not terminated", off)
	}
	return string(s[off : int(off)+end]), nil
}

func btfStrings(raw []byte) (stringTable, error) {
	le := binary.LittleEndian
	if len(raw) < 24 || le.Uint16(raw) != 0xeb9f {
		return nil, fmt.Errorf("%w: .BTF: bad header", ErrInvalidObject)
	}
	hdrLen := uint64(le.Uint32(raw[4:]))
	off, size := uint64(le.Uint32(raw[16:])), uint64(le.Uint32(raw[20:]))
	if hdrLen > uint64(len(raw)) || off > uint64(len(raw))-hdrLen || size > uint64(len(raw))-hdrLen-off {
		return nil, fmt.Errorf("%w: .BTF: string table outside the section", ErrInvalidObject)
	}
	return stringTable(raw[hdrLen+off : hdrLen+off+size]), nil
}

// coreTarget is a set of types CO-RE relocations are resolved against: anybpf's own
// (TargetBTF) or a kernel's.
type coreTarget struct {
	spec *btf.Spec
	name string // "anybpf" or "the kernel", for messages
}

// applyCORE resolves the CO-RE relocations of a code section and patches the decoded
// instructions; bySlot maps a slot to its instruction index. Sections of programs anybpf
// runs are resolved against anybpf's types; those of programs it does not run (tracing,
// kprobes, ...) against the kernel's BTF when there is one (Options), as libbpf does, and
// against anybpf's otherwise. Code shared by programs (.text) is resolved against
// anybpf's types in insns and, when the object also has programs anybpf does not run and
// the kernel's BTF is there, against the kernel's in the returned copy, which linking
// uses for those programs. An unresolvable relocation poisons its instruction (see
// ProgramSpec.Poisoned); whether that refuses the program is decided when linking, by
// program type.
func (l *loader) applyCORE(sec *section, insns []isa.Instruction, bySlot []int) (kernelInsns []isa.Instruction, err error) {
	if l.coreBySection == nil {
		relos, err := l.coreRelos()
		if err != nil {
			return nil, err
		}
		if relos == nil {
			relos = map[string][]coreRelo{}
		}
		l.coreBySection = relos
	}
	relos := l.coreBySection[sec.Name]
	if len(relos) == 0 {
		return nil, nil
	}
	own, err := TargetBTF()
	if err != nil {
		return nil, err
	}
	anybpf := coreTarget{spec: own, name: "anybpf"}
	typ, _, _ := progtype.FromSection(sec.Name)
	if !runsHere(typ) {
		kspec, err := l.obj.opts.kernelBTF()
		if err != nil {
			return nil, l.resolveSection(sec, insns, bySlot, relos, anybpf, l.poisonFor(false),
				"; the kernel's BTF, which libbpf would resolve it against, is not available here")
		}
		return nil, l.resolveSection(sec, insns, bySlot, relos, coreTarget{spec: kspec, name: "the kernel"}, l.poisonFor(false), "")
	}
	if typ == progtype.Unspec && l.hasForeignCode() {
		if kspec, err := l.obj.opts.kernelBTF(); err == nil {
			// Shared code: a second copy for the programs anybpf does not run.
			kernelInsns = append([]isa.Instruction(nil), insns...)
			err := l.resolveSection(sec, kernelInsns, bySlot, relos, coreTarget{spec: kspec, name: "the kernel"}, l.poisonFor(true), "")
			if err != nil {
				return nil, err
			}
		}
	}
	if err := l.resolveSection(sec, insns, bySlot, relos, anybpf, l.poisonFor(false), ""); err != nil {
		return nil, err
	}
	return kernelInsns, nil
}

// poisonFor returns the map recording poisoned instructions: of the copies resolved
// against the kernel (kernel) or of the others.
func (l *loader) poisonFor(kernel bool) map[funcKey]string {
	if kernel {
		if l.kernelPoison == nil {
			l.kernelPoison = map[funcKey]string{}
		}
		return l.kernelPoison
	}
	if l.poison == nil {
		l.poison = map[funcKey]string{}
	}
	return l.poison
}

// hasForeignCode reports whether the object has a code section of a program type anybpf
// does not run.
func (l *loader) hasForeignCode() bool {
	for _, s := range l.sections {
		if s.kind == kindCode {
			if t, _, _ := progtype.FromSection(s.Name); !runsHere(t) {
				return true
			}
		}
	}
	return false
}

// resolveSection applies relos to insns against target, recording in poison the
// instructions it poisons, with note appended to the reason.
func (l *loader) resolveSection(sec *section, insns []isa.Instruction, bySlot []int, relos []coreRelo, target coreTarget, poison map[funcKey]string, note string) error {
	for _, r := range relos {
		if r.insnOff%isa.InstructionSize != 0 || uint64(r.insnOff)/isa.InstructionSize >= uint64(len(bySlot)) || bySlot[r.insnOff/isa.InstructionSize] < 0 {
			return fmt.Errorf("%w: CO-RE relocation at byte %d is not at an instruction", ErrInvalidObject, r.insnOff)
		}
		ins := &insns[bySlot[r.insnOff/isa.InstructionSize]]
		local, err := l.obj.BTF.TypeByID(r.typeID)
		if err != nil {
			return fmt.Errorf("%w: CO-RE relocation at byte %d: local type %d: %v", ErrInvalidObject, r.insnOff, r.typeID, err)
		}
		value, err := resolveCORE(r, local, target, ins)
		if err == nil {
			err = patchCORE(ins, r, value)
		}
		var ce *COREError
		if errors.As(err, &ce) {
			poison[funcKey{sec.index, uint64(r.insnOff)}] = ce.Reason + note
			if ins.IsLDDW() {
				*ins = isa.Instruction{OpCode: isa.OpLDDW, Dst: isa.R0, Constant: COREPoisonHelper}
			} else {
				*ins = isa.Instruction{OpCode: isa.OpCall, Src: isa.Register(isa.CallHelper), Constant: COREPoisonHelper}
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("CO-RE relocation at byte %d: %w", r.insnOff, err)
		}
	}
	return nil
}

// patchCORE writes a relocated value into the instruction: a memory access's offset, or
// the immediate of an ALU instruction or a 64-bit load.
func patchCORE(ins *isa.Instruction, r coreRelo, value uint64) error {
	switch c := ins.Class(); {
	case c == isa.ClassLDX || c == isa.ClassST || c == isa.ClassSTX:
		if r.kind != coreFieldByteOffset {
			return fmt.Errorf("%w: %s relocation on a memory access", ErrInvalidObject, coreKindName(r.kind))
		}
		if value > math.MaxInt16 {
			return &COREError{Reason: fmt.Sprintf("offset %d does not fit a memory access", value)}
		}
		ins.Offset = int16(value)
	case ins.IsLDDW():
		ins.Constant = int64(value)
	case c.IsALU() && ins.OpCode&isa.SrcX == 0 && ins.OpCode&0xf0 != isa.AluEnd:
		if value > math.MaxInt32 {
			return &COREError{Reason: fmt.Sprintf("value %d does not fit an immediate", value)}
		}
		ins.Constant = int64(value)
	default:
		return fmt.Errorf("%w: CO-RE relocation on instruction %s", ErrInvalidObject, ins)
	}
	return nil
}

func coreKindName(k uint32) string {
	if int(k) < len(coreKindNames) {
		return coreKindNames[k]
	}
	return "kind " + strconv.Itoa(int(k))
}

// essentialName strips a "___flavor" suffix, as libbpf does.
func essentialName(name string) string {
	if i := strings.LastIndex(name, "___"); i > 0 {
		return name[:i]
	}
	return name
}

// typeDesc names a type for messages: "struct xdp_md".
func typeDesc(t btf.Type) string {
	switch t := t.(type) {
	case *btf.Struct:
		return "struct " + t.Name
	case *btf.Union:
		return "union " + t.Name
	case *btf.Enum:
		return "enum " + t.Name
	case *btf.Typedef:
		return t.Name
	case *btf.Int:
		return t.Name
	}
	if t.TypeName() != "" {
		return t.TypeName()
	}
	return fmt.Sprintf("%T", t)
}

// sameKind reports whether a target type can stand for a local one of the same name.
func sameKind(a, b btf.Type) bool {
	switch a.(type) {
	case *btf.Struct:
		_, ok := b.(*btf.Struct)
		return ok
	case *btf.Union:
		_, ok := b.(*btf.Union)
		return ok
	case *btf.Enum:
		_, ok := b.(*btf.Enum)
		return ok
	case *btf.Int:
		_, ok := b.(*btf.Int)
		return ok
	case *btf.Typedef:
		_, ok := b.(*btf.Typedef)
		return ok
	case *btf.Fwd:
		switch b.(type) {
		case *btf.Struct, *btf.Union:
			return true
		}
	}
	return false
}

// targetCandidates returns the target types named like the local one and of its kind.
func targetCandidates(local btf.Type, target *btf.Spec) ([]btf.Type, error) {
	name := local.TypeName()
	if name == "" {
		return nil, fmt.Errorf("%w: relocation against an anonymous type %s", ErrInvalidObject, local)
	}
	all, err := target.AnyTypesByName(essentialName(name))
	if err != nil && !errors.Is(err, btf.ErrNotFound) {
		return nil, err
	}
	var out []btf.Type
	for _, t := range all {
		if sameKind(local, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// parseAccess parses an accessor string "0:1:2".
func parseAccess(s string) ([]int, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: empty CO-RE accessor", ErrInvalidObject)
	}
	parts := strings.Split(s, ":")
	if len(parts) > 64 {
		return nil, fmt.Errorf("%w: CO-RE accessor %q too deep", ErrInvalidObject, s)
	}
	out := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 31)
		if err != nil {
			return nil, fmt.Errorf("%w: CO-RE accessor %q", ErrInvalidObject, s)
		}
		out[i] = int(n)
	}
	return out, nil
}

func members(t btf.Type) ([]btf.Member, bool) {
	switch t := t.(type) {
	case *btf.Struct:
		return t.Members, true
	case *btf.Union:
		return t.Members, true
	}
	return nil, false
}

// fieldPos is where a field lies: its bit offset from the root, its type, its bitfield
// size (0 when not a bitfield).
type fieldPos struct {
	bitOff   uint64
	typ      btf.Type
	bitfield uint64
}

// coreStep is one named step of a local access path: a member name, or an array index.
type coreStep struct {
	name  string
	index int
	array bool
}

// walkLocal follows the accessor over the local type, returning its named steps (as
// libbpf, anonymous members are skipped: they are matched through in the target) and
// the position of the field in the local type.
func walkLocal(root btf.Type, acc []int) ([]coreStep, fieldPos, error) {
	t := btf.UnderlyingType(root)
	size, err := btf.Sizeof(t)
	if err != nil {
		return nil, fieldPos{}, fmt.Errorf("%w: CO-RE local type %s: %v", ErrInvalidObject, typeDesc(root), err)
	}
	pos := fieldPos{bitOff: uint64(acc[0]) * uint64(size) * 8, typ: t}
	var steps []coreStep
	for _, a := range acc[1:] {
		if ms, ok := members(t); ok {
			if a >= len(ms) {
				return nil, fieldPos{}, fmt.Errorf("%w: CO-RE accessor member %d of %s, which has %d", ErrInvalidObject, a, typeDesc(t), len(ms))
			}
			m := ms[a]
			pos.bitOff += uint64(m.Offset)
			pos.bitfield = uint64(m.BitfieldSize)
			if m.Name != "" {
				steps = append(steps, coreStep{name: m.Name})
			}
			t = btf.UnderlyingType(m.Type)
			pos.typ = t
			continue
		}
		arr, ok := t.(*btf.Array)
		if !ok {
			return nil, fieldPos{}, fmt.Errorf("%w: CO-RE accessor steps into %s", ErrInvalidObject, typeDesc(t))
		}
		elem := btf.UnderlyingType(arr.Type)
		esize, err := btf.Sizeof(elem)
		if err != nil {
			return nil, fieldPos{}, fmt.Errorf("%w: CO-RE array element: %v", ErrInvalidObject, err)
		}
		pos.bitOff += uint64(a) * uint64(esize) * 8
		pos.bitfield = 0
		steps = append(steps, coreStep{index: a, array: true})
		t = elem
		pos.typ = t
	}
	return steps, pos, nil
}

// findMember finds a member by name in a struct or union, looking through anonymous
// members, and returns its bit offset within t.
func findMember(t btf.Type, name string, depth int) (btf.Member, uint64, bool) {
	ms, _ := members(t)
	if depth > 32 {
		return btf.Member{}, 0, false
	}
	for _, m := range ms {
		if m.Name == name {
			return m, uint64(m.Offset), true
		}
	}
	for _, m := range ms {
		if m.Name == "" {
			if inner, off, ok := findMember(btf.UnderlyingType(m.Type), name, depth+1); ok {
				return inner, uint64(m.Offset) + off, true
			}
		}
	}
	return btf.Member{}, 0, false
}

// walkTarget follows the named steps over a target type.
func walkTarget(root btf.Type, first int, steps []coreStep, who string) (fieldPos, string) {
	t := btf.UnderlyingType(root)
	size, err := btf.Sizeof(t)
	if err != nil {
		return fieldPos{}, fmt.Sprintf("%s has no size", typeDesc(root))
	}
	pos := fieldPos{bitOff: uint64(first) * uint64(size) * 8, typ: t}
	path := typeDesc(root)
	for _, s := range steps {
		if s.array {
			arr, ok := t.(*btf.Array)
			if !ok {
				return fieldPos{}, fmt.Sprintf("%s is not an array in %s's %s", path, who, typeDesc(root))
			}
			if arr.Nelems != 0 && uint32(s.index) >= arr.Nelems {
				return fieldPos{}, fmt.Sprintf("%s[%d] is out of range: %s's array has %d elements", path, s.index, who, arr.Nelems)
			}
			elem := btf.UnderlyingType(arr.Type)
			esize, err := btf.Sizeof(elem)
			if err != nil {
				return fieldPos{}, fmt.Sprintf("%s: element has no size", path)
			}
			pos.bitOff += uint64(s.index) * uint64(esize) * 8
			pos.bitfield = 0
			path += fmt.Sprintf("[%d]", s.index)
			t = elem
			pos.typ = t
			continue
		}
		if _, ok := members(t); !ok {
			return fieldPos{}, fmt.Sprintf("%s is not a struct or union in %s's %s", path, who, typeDesc(root))
		}
		m, off, ok := findMember(t, s.name, 0)
		if !ok {
			if path == typeDesc(root) {
				return fieldPos{}, fmt.Sprintf("%s has no field %s", path, s.name)
			}
			return fieldPos{}, fmt.Sprintf("%s has no field %s", path, s.name)
		}
		pos.bitOff += off
		pos.bitfield = uint64(m.BitfieldSize)
		path += "." + s.name
		t = btf.UnderlyingType(m.Type)
		pos.typ = t
	}
	return pos, ""
}

// compatible reports whether a target field's type can stand for the local one: both
// integers or enums, both pointers, both structs or unions, both arrays.
func compatible(local, target btf.Type) bool {
	class := func(t btf.Type) int {
		switch t.(type) {
		case *btf.Int, *btf.Enum:
			return 1
		case *btf.Pointer:
			return 2
		case *btf.Struct, *btf.Union, *btf.Fwd:
			return 3
		case *btf.Array:
			return 4
		}
		return 5
	}
	return class(local) == class(target)
}

// fieldValue computes a field relocation's value from the field's position, as libbpf's
// bpf_core_calc_field_relo does for little-endian targets.
func fieldValue(kind uint32, pos fieldPos) (uint64, error) {
	size, err := btf.Sizeof(pos.typ)
	if err != nil {
		return 0, &COREError{Reason: fmt.Sprintf("field of type %s has no size", typeDesc(pos.typ))}
	}
	byteSz := uint64(size)
	var byteOff uint64
	bitSz := pos.bitfield
	if bitSz == 0 {
		if pos.bitOff%8 != 0 {
			return 0, &COREError{Reason: "field is not byte-aligned"}
		}
		byteOff = pos.bitOff / 8
		bitSz = byteSz * 8
	} else {
		if byteSz == 0 {
			return 0, &COREError{Reason: "bitfield of size 0"}
		}
		byteOff = pos.bitOff / 8 / byteSz * byteSz
		for pos.bitOff+bitSz-byteOff*8 > byteSz*8 {
			if byteSz >= 8 {
				return 0, &COREError{Reason: "bitfield spans more than 8 bytes"}
			}
			byteSz *= 2
			byteOff = pos.bitOff / 8 / byteSz * byteSz
		}
	}
	switch kind {
	case coreFieldByteOffset:
		return byteOff, nil
	case coreFieldByteSize:
		return byteSz, nil
	case coreFieldSigned:
		switch t := pos.typ.(type) {
		case *btf.Int:
			if t.Encoding&btf.Signed != 0 {
				return 1, nil
			}
		case *btf.Enum:
			if t.Signed {
				return 1, nil
			}
		}
		return 0, nil
	case coreFieldLShiftU64:
		return 64 - (pos.bitOff + bitSz - byteOff*8), nil
	case coreFieldRShiftU64:
		return 64 - bitSz, nil
	}
	return 0, fmt.Errorf("%w: CO-RE field relocation kind %d", ErrInvalidObject, kind)
}

// resolveCORE computes the value a relocation takes against the target's types. A
// missing type, field or enumerator gives a *COREError, except for the kinds that ask
// whether it exists.
func resolveCORE(r coreRelo, local btf.Type, target coreTarget, ins *isa.Instruction) (uint64, error) {
	if r.kind > coreTypeMatches {
		return 0, fmt.Errorf("%w: CO-RE relocation kind %d", ErrInvalidObject, r.kind)
	}
	acc, err := parseAccess(r.access)
	if err != nil {
		return 0, err
	}
	switch r.kind {
	case coreTypeIDLocal:
		return uint64(r.typeID), nil
	}
	cands, err := targetCandidates(local, target.spec)
	if err != nil {
		return 0, err
	}
	if r.kind == coreTypeIDTarget {
		// bpf_core_type_id_kernel: the id of the type in the kernel's BTF.
		if target.name == "anybpf" {
			return 0, &COREError{Reason: fmt.Sprintf("target type ids (bpf_core_type_id_kernel of %s) need the kernel's BTF", typeDesc(local))}
		}
		if len(cands) == 0 {
			return 0, &COREError{Reason: fmt.Sprintf("%s has no type %s", target.name, typeDesc(local))}
		}
		id, err := target.spec.TypeID(cands[0])
		if err != nil {
			return 0, &COREError{Reason: fmt.Sprintf("%s has no id for %s", target.name, typeDesc(local))}
		}
		return uint64(id), nil
	}
	exists := func(ok bool) uint64 {
		if ok {
			return 1
		}
		return 0
	}
	switch r.kind {
	case coreTypeExists, coreTypeMatches:
		return exists(len(cands) > 0), nil
	case coreTypeSize:
		if len(cands) == 0 {
			return 0, &COREError{Reason: fmt.Sprintf("%s has no type %s", target.name, typeDesc(local))}
		}
		size, err := btf.Sizeof(cands[0])
		if err != nil {
			return 0, &COREError{Reason: fmt.Sprintf("%s has no size", typeDesc(local))}
		}
		return uint64(size), nil
	case coreEnumvalExists, coreEnumvalValue:
		le, ok := btf.UnderlyingType(local).(*btf.Enum)
		if !ok || acc[0] >= len(le.Values) || len(acc) != 1 {
			return 0, fmt.Errorf("%w: enum CO-RE relocation %q on %s", ErrInvalidObject, r.access, typeDesc(local))
		}
		name := le.Values[acc[0]].Name
		for _, c := range cands {
			if te, ok := btf.UnderlyingType(c).(*btf.Enum); ok {
				for _, v := range te.Values {
					if v.Name == name {
						if r.kind == coreEnumvalExists {
							return 1, nil
						}
						return v.Value, nil
					}
				}
			}
		}
		if r.kind == coreEnumvalExists {
			return 0, nil
		}
		return 0, &COREError{Reason: fmt.Sprintf("%s's %s has no value %s", target.name, typeDesc(local), name)}
	}
	// Field relocations.
	steps, lpos, err := walkLocal(local, acc)
	if err != nil {
		return 0, err
	}
	if len(cands) == 0 {
		if r.kind == coreFieldExists {
			return 0, nil
		}
		if target.name == "anybpf" {
			return 0, &COREError{Reason: fmt.Sprintf("anybpf has no type %s (it provides the Linux context structs, packet headers, bind_md and process_md)", typeDesc(local))}
		}
		return 0, &COREError{Reason: fmt.Sprintf("%s has no type %s", target.name, typeDesc(local))}
	}
	reason := ""
	for _, c := range cands {
		tpos, why := walkTarget(c, acc[0], steps, target.name)
		if why == "" && !compatible(lpos.typ, tpos.typ) {
			why = fmt.Sprintf("field %s of %s is %s in %s's, %s in the program's", r.access, typeDesc(local), typeDesc(tpos.typ), target.name, typeDesc(lpos.typ))
		}
		if why != "" {
			if reason == "" {
				reason = why
			}
			continue
		}
		if r.kind == coreFieldExists {
			return 1, nil
		}
		if r.kind == coreFieldByteOffset && (ins.Class() == isa.ClassLDX || ins.Class() == isa.ClassST || ins.Class() == isa.ClassSTX) && lpos.bitfield == 0 {
			// The access keeps its width: the field must keep its size.
			ls, _ := btf.Sizeof(lpos.typ)
			ts, _ := btf.Sizeof(tpos.typ)
			if ls != ts {
				return 0, &COREError{Reason: fmt.Sprintf("field %s of %s has %d bytes in %s's, %d in the program's", r.access, typeDesc(local), ts, target.name, ls)}
			}
		}
		return fieldValue(r.kind, tpos)
	}
	if r.kind == coreFieldExists {
		return 0, nil
	}
	return 0, &COREError{Reason: reason}
}
