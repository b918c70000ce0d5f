package verifier

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf/btf"

	"github.com/anybpf/anybpf/helpers"
	"github.com/anybpf/anybpf/isa"
	"github.com/anybpf/anybpf/progtype"
	"github.com/anybpf/anybpf/verifier/internal/interval"
)

// Kernel pointers. Tracing programs (fentry, fexit, fmod_ret, tp_btf) and LSM programs
// see the arguments of the kernel function, tracepoint or hook they attach to as u64
// slots of their context. As Linux does, the verifier types those slots with the
// attach target's prototype in the kernel's BTF (Program.KernelBTF): an argument that is
// a pointer to a struct or union becomes a kernel pointer to that type (kKernel, printed
// kptr(struct sock)+off), every other argument a number. A kernel pointer may be read
// through at a constant offset inside its type, as BTF lays it out: a scalar member
// gives a number, a member that is itself a pointer to a struct a kernel pointer to that
// struct (sk->sk_net.net, task->mm); the kernel makes such reads fault-safe. It may not
// be written through, moved by a variable or negative amount and then read, or passed to
// helpers as memory; helpers that take kernel objects (bpf_skc_to_tcp_sock, ...) take
// it when its type fits, and those that return them give kernel pointers of their
// types. Only these program types get kernel pointers: no program anybpf runs does.

// ErrNoKernelBTF is wrapped (as Error.Cause) by the refusal of a tracing program whose
// checking needs the kernel's BTF, when Program.KernelBTF is nil.
var ErrNoKernelBTF = errors.New("the kernel's BTF is needed and not available")

// kernelInfo is what the verifier knows of a tracing program's attach target.
type kernelInfo struct {
	spec *btf.Spec
	// what names the program for messages: "fentry/tcp_connect".
	what   string
	params []btf.FuncParam // the arguments in the context's slots
	ret    btf.Type        // the return value's type, when a slot after the arguments holds it
	// err, when set, refuses every read of the context (no BTF, no such target).
	err error
}

// kernelSections are the section prefixes of the attach types whose context the
// kernel's BTF types.
var kernelSections = map[progtype.AttachType]string{
	progtype.AttachTraceFentry:  "fentry",
	progtype.AttachTraceFexit:   "fexit",
	progtype.AttachModifyReturn: "fmod_ret",
	progtype.AttachTraceRawTP:   "tp_btf",
	progtype.AttachLSMMac:       "lsm",
	progtype.AttachLSMCgroup:    "lsm_cgroup",
}

// kernelCtx returns what the verifier knows of the program's attach target, or nil when
// the program's context is not typed by the kernel's BTF (every program type anybpf
// runs, kprobes, iterators, ...).
func (a *analysis) kernelCtx() *kernelInfo {
	if a.kernel != nil {
		return a.kernel
	}
	prefix, ok := kernelSections[a.p.AttachType]
	if !ok || (a.p.Type != progtype.Tracing && a.p.Type != progtype.LSM) || a.p.Windows {
		return nil
	}
	k := &kernelInfo{spec: a.p.KernelBTF, what: prefix + "/" + a.p.AttachTo}
	a.kernel = k
	switch {
	case a.p.AttachTo == "":
		k.what = prefix
		k.err = fmt.Errorf("%s programs name the kernel function they attach to in their section (%s/FUNCTION)", prefix, prefix)
		return k
	case k.spec == nil:
		k.err = ErrNoKernelBTF
		return k
	}
	var proto *btf.FuncProto
	skip := 0
	switch a.p.AttachType {
	case progtype.AttachTraceRawTP:
		// The tracepoint's btf_trace_NAME typedef: a pointer to a prototype whose first
		// argument (void *__data) the program does not see.
		var td *btf.Typedef
		if err := k.spec.TypeByName("btf_trace_"+a.p.AttachTo, &td); err == nil {
			if ptr, ok := btf.UnderlyingType(td.Type).(*btf.Pointer); ok {
				proto, _ = btf.UnderlyingType(ptr.Target).(*btf.FuncProto)
			}
		}
		if proto == nil || len(proto.Params) == 0 {
			k.err = fmt.Errorf("the kernel has no tracepoint %s (its BTF has no btf_trace_%s)", a.p.AttachTo, a.p.AttachTo)
			return k
		}
		skip = 1
	default:
		name := a.p.AttachTo
		if a.p.Type == progtype.LSM {
			name = "bpf_lsm_" + name
		}
		if fn := kernelFunc(k.spec, name); fn != nil {
			proto, _ = fn.Type.(*btf.FuncProto)
		}
		if proto == nil {
			k.err = fmt.Errorf("the kernel has no function %s (its BTF has none of that name)", name)
			return k
		}
	}
	k.params = proto.Params[skip:]
	switch a.p.AttachType {
	case progtype.AttachTraceFexit, progtype.AttachLSMMac, progtype.AttachLSMCgroup:
		k.ret = proto.Return
	case progtype.AttachModifyReturn:
		if i, ok := btf.UnderlyingType(proto.Return).(*btf.Int); !ok || i.Size > 8 {
			k.err = fmt.Errorf("fmod_ret programs attach to functions returning an integer; %s returns %s", a.p.AttachTo, typeName(proto.Return))
			return k
		}
		k.ret = proto.Return
	}
	return k
}

// kernelFunc returns the kernel function of that name, or nil.
func kernelFunc(spec *btf.Spec, name string) *btf.Func {
	types, err := spec.AnyTypesByName(name)
	if err != nil {
		return nil
	}
	for _, t := range types {
		if fn, ok := t.(*btf.Func); ok && fn.Name == name {
			return fn
		}
	}
	return nil
}

// checkKernelTarget refuses a tracing program whose attach target the kernel's BTF does
// not have, as Linux refuses to load it.
func (a *analysis) checkKernelTarget() error {
	k := a.kernelCtx()
	if k == nil || k.spec == nil || k.err == nil || len(a.p.Instructions) == 0 {
		return nil
	}
	e := a.errorf(0, nil, nil, "%s: %v", k.what, k.err)
	e.Cause = k.err
	return e
}

// typeName names a BTF type for messages: "struct sock".
func typeName(t btf.Type) string {
	switch t := t.(type) {
	case nil:
		return "?"
	case *btf.Struct:
		return "struct " + orAnon(t.Name)
	case *btf.Union:
		return "union " + orAnon(t.Name)
	case *btf.Enum:
		return "enum " + orAnon(t.Name)
	case *btf.Pointer:
		return typeName(t.Target) + " *"
	case *btf.Void:
		return "void"
	}
	if n := t.TypeName(); n != "" {
		return n
	}
	return fmt.Sprintf("%T", t)[5:] // "*btf.Array" → "Array"
}

func orAnon(name string) string {
	if name == "" {
		return "(anonymous)"
	}
	return name
}

// slotSize is how many bytes of the context an argument of type t takes.
func slotSize(t btf.Type) (int64, error) {
	if _, ok := btf.UnderlyingType(t).(*btf.Pointer); ok {
		return 8, nil
	}
	n, err := btf.Sizeof(t)
	if err != nil {
		return 0, err
	}
	return (int64(n) + 7) &^ 7, nil
}

// kernelArgLoad is a read of the context of a program whose context the kernel's BTF
// types: the argument slot read gives a number or a kernel pointer.
func (a *analysis) kernelArgLoad(i int, ins isa.Instruction, s *state, size int, sx bool, k *kernelInfo) error {
	f, err := a.ctxField(i, s, ins.Src, int64(ins.Offset), size, false)
	if err != nil {
		return err
	}
	fail := func(format string, args ...any) error {
		return a.errorf(i, s, []int{int(ins.Src)}, "%s: %s", k.what, fmt.Sprintf(format, args...))
	}
	off := int64(f.Offset)
	arg := off / 8
	if k.err != nil {
		var e *Error
		if errors.Is(k.err, ErrNoKernelBTF) {
			e = a.errorf(i, s, []int{int(ins.Src)}, "%s: argument %d may be a kernel pointer; anybpf needs the kernel's BTF to check it (not available here)", k.what, arg)
		} else {
			e = a.errorf(i, s, []int{int(ins.Src)}, "%s: %v", k.what, k.err)
		}
		e.Cause = k.err
		return e
	}
	// Find the argument whose slots hold off.
	var typ btf.Type
	var start int64
	for n, p := range k.params {
		sz, err := slotSize(p.Type)
		if err != nil {
			return fail("argument %d (%s) has no size", n, p.Name)
		}
		if off < start+sz {
			typ, arg = p.Type, int64(n)
			break
		}
		start += sz
	}
	name := ""
	if typ == nil {
		if k.ret == nil || off >= start+8 {
			return fail("%s has no argument %d (it takes %d)", a.p.AttachTo, arg, len(k.params))
		}
		if _, void := k.ret.(*btf.Void); void {
			return fail("%s returns nothing", a.p.AttachTo)
		}
		typ, name = k.ret, "the return value"
	} else {
		name = fmt.Sprintf("argument %d (%s)", arg, k.params[arg].Name)
	}
	load := interval.Load(size)
	if sx {
		load = interval.LoadSX(size)
	}
	switch t := btf.UnderlyingType(typ).(type) {
	case *btf.Int:
		if t.Size > 8 {
			return fail("%s is a %d-byte integer; only pointers and integers up to 8 bytes may be read", name, t.Size)
		}
		s.setReg(ins.Dst, number(load))
		return nil
	case *btf.Enum, *btf.Struct, *btf.Union:
		s.setReg(ins.Dst, number(load))
		return nil
	case *btf.Pointer:
		if size != 8 {
			return fail("%s is a pointer, read as %d bytes: pointers are read whole (8 bytes)", name, size)
		}
		target, tagged := pointee(t)
		if tagged || !isComposite(target) {
			// A pointer to anything but a struct (or to user or per-CPU memory) is a
			// number for the program, as in Linux: it may pass it to helpers that read
			// memory safely, not dereference it.
			s.setReg(ins.Dst, number(load))
			return nil
		}
		r := reg{k: kKernel, kt: target, num: interval.Const(0)}
		if a.p.AttachType == progtype.AttachTraceRawTP && arg < int64(len(k.params)) && strings.HasSuffix(k.params[arg].Name, "__nullable") {
			a.nextID++
			r.nullable, r.nullID = true, a.nextID
		}
		s.setReg(ins.Dst, r)
		return nil
	}
	return fail("%s has type %s; only pointers and integers may be read", name, typeName(typ))
}

// pointee returns what a pointer points to, without typedefs and qualifiers; tagged is
// true for pointers to user or per-CPU memory (btf_type_tag("user"), ("percpu")), which
// Linux does not let programs read directly.
func pointee(p *btf.Pointer) (t btf.Type, tagged bool) {
	t = p.Target
	for range 32 {
		switch u := t.(type) {
		case *btf.TypeTag:
			if u.Value == "user" || u.Value == "percpu" {
				tagged = true
			}
			t = u.Type
		case *btf.Typedef:
			t = u.Type
		case *btf.Const:
			t = u.Type
		case *btf.Volatile:
			t = u.Type
		case *btf.Restrict:
			t = u.Type
		default:
			return t, tagged
		}
	}
	return t, tagged
}

func isComposite(t btf.Type) bool {
	switch t.(type) {
	case *btf.Struct, *btf.Union:
		return true
	}
	return false
}

// kernelLoad is a read through a kernel pointer.
func (a *analysis) kernelLoad(i int, ins isa.Instruction, s *state, size int, sx bool) error {
	p := s.regs[ins.Src]
	fail := func(format string, args ...any) error {
		return a.errorf(i, s, []int{int(ins.Src)}, format, args...)
	}
	if p.nullable {
		return fail("access through a pointer that may be NULL (compare it with 0 first)")
	}
	c, ok := p.num.Const()
	if !ok {
		return fail("read through a kernel pointer at a variable offset %s: Linux needs a constant offset into %s", p.num, typeName(p.kt))
	}
	off := int64(c) + int64(ins.Offset)
	if off < 0 {
		return fail("read at negative offset %d of %s", off, typeName(p.kt))
	}
	next, why := walkStruct(p.kt, off, int64(size))
	if why != "" {
		if outer := typeName(p.kt); !strings.Contains(why, outer) {
			why += fmt.Sprintf(" (reading %d bytes at offset %d of %s)", size, off, outer)
		}
		return fail("%s", why)
	}
	if next != nil {
		if sx {
			return fail("sign-extending read of a pointer member of %s", typeName(p.kt))
		}
		s.setReg(ins.Dst, reg{k: kKernel, kt: next, num: interval.Const(0)})
		return nil
	}
	if sx {
		s.setReg(ins.Dst, number(interval.LoadSX(size)))
	} else {
		s.setReg(ins.Dst, number(interval.Load(size)))
	}
	return nil
}

// walkStruct finds what a read of size bytes at off in the struct or union t touches,
// following BTF's layout through nested structs, unions and arrays: a scalar member
// (next is nil) or a pointer member to a struct (next is that struct). why says why the
// read is not allowed: past the type's end, across members, part of a pointer, in a
// hole.
func walkStruct(t btf.Type, off, size int64) (next btf.Type, why string) {
	for range 64 {
		var members []btf.Member
		switch c := btf.UnderlyingType(t).(type) {
		case *btf.Struct:
			members = c.Members
		case *btf.Union:
			members = c.Members
		default:
			return nil, fmt.Sprintf("%s is not a struct", typeName(t))
		}
		tsize, err := btf.Sizeof(t)
		if err != nil {
			return nil, fmt.Sprintf("%s has no size", typeName(t))
		}
		if off+size > int64(tsize) {
			// A trailing flexible array of integers or structs may be read past the end.
			if len(members) > 0 {
				last := members[len(members)-1]
				moff := int64(last.Offset.Bytes())
				if arr, ok := btf.UnderlyingType(last.Type).(*btf.Array); ok && arr.Nelems == 0 && off >= moff {
					switch elem := btf.UnderlyingType(arr.Type).(type) {
					case *btf.Int:
						return nil, ""
					case *btf.Struct, *btf.Union:
						esize, err := btf.Sizeof(elem)
						if err == nil && esize > 0 {
							t, off = elem, (off-moff)%int64(esize)
							continue
						}
					}
				}
			}
			return nil, fmt.Sprintf("read of %d bytes at offset %d is past the end of %s (%d bytes)", size, off, typeName(t), tsize)
		}
		found := false
		for _, m := range members {
			moff := int64(m.Offset.Bytes())
			if off+size <= moff {
				break
			}
			if m.BitfieldSize != 0 {
				end := (int64(m.Offset) + int64(m.BitfieldSize) + 7) / 8
				if off <= moff && end <= off+size {
					return nil, "" // the read covers the bitfield
				}
				continue
			}
			if off < moff {
				break // a hole
			}
			msize, err := btf.Sizeof(m.Type)
			if err != nil {
				return nil, fmt.Sprintf("member %s of %s has no size", m.Name, typeName(t))
			}
			mend := moff + int64(msize)
			if off >= mend {
				continue
			}
			mt := btf.UnderlyingType(m.Type)
			if arr, ok := mt.(*btf.Array); ok {
				if msize == 0 {
					continue
				}
				// An element of a (multi-dimensional) array: as if the elements were
				// members of their own.
				elem := btf.UnderlyingType(arr.Type)
				for {
					inner, ok := elem.(*btf.Array)
					if !ok {
						break
					}
					elem = btf.UnderlyingType(inner.Type)
				}
				esize, err := btf.Sizeof(elem)
				if err != nil || esize == 0 {
					return nil, fmt.Sprintf("member %s of %s has elements of no size", m.Name, typeName(t))
				}
				moff += (off - moff) / int64(esize) * int64(esize)
				mt = elem
				msize = esize
			}
			switch mt := mt.(type) {
			case *btf.Struct, *btf.Union:
				t, off = mt, off-moff
				found = true
			case *btf.Pointer:
				if int64(msize) != size || off != moff {
					return nil, fmt.Sprintf("read of %d bytes at offset %d is not the whole of pointer member %s of %s (offset %d, %d bytes)", size, off, m.Name, typeName(t), moff, msize)
				}
				target, tagged := pointee(mt)
				if tagged || !isComposite(target) {
					return nil, "" // a pointer to anything else is a number, as in Linux
				}
				return target, ""
			default:
				if off+size > mend {
					return nil, fmt.Sprintf("read of %d bytes at offset %d runs past the end of member %s of %s (offset %d, %d bytes)", size, off, m.Name, typeName(t), moff, msize)
				}
				return nil, ""
			}
			break
		}
		if !found {
			return nil, fmt.Sprintf("%s has no member at offset %d", typeName(t), off)
		}
	}
	return nil, fmt.Sprintf("%s nests too deep", typeName(t))
}

// kernelHelperArgs are the kernel structs helpers take as their ArgPtrToBTFID
// arguments; a pointer to a struct that starts with one (struct sock and struct
// tcp_sock start with struct sock_common) fits too.
var kernelHelperArgs = map[string]string{
	"skc_to_tcp_sock":   "sock_common",
	"skc_to_tcp6_sock":  "sock_common",
	"skc_to_udp6_sock":  "sock_common",
	"sk_storage_get":    "sock",
	"sk_storage_delete": "sock",
}

// kernelHelperReturns are the kernel structs helpers return pointers to.
var kernelHelperReturns = map[string]string{
	"skc_to_tcp_sock":      "tcp_sock",
	"skc_to_tcp6_sock":     "tcp6_sock",
	"skc_to_udp6_sock":     "udp6_sock",
	"get_current_task_btf": "task_struct",
}

// kernelHelperArg checks a kernel pointer passed as helper argument n (from 0) in r,
// where the prototype asks for a kernel object.
func (a *analysis) kernelHelperArg(i int, s *state, id helpers.ID, n int, r isa.Register) error {
	v := s.regs[r]
	bad := func(format string, args ...any) error {
		return a.errorf(i, s, []int{int(r)}, "argument %d of bpf_%s must be %s", n+1, id, fmt.Sprintf(format, args...))
	}
	want := kernelHelperArgs[id.String()]
	if v.nullable {
		return bad("a kernel pointer checked for NULL")
	}
	if c, ok := v.num.Const(); !ok || c != 0 {
		return bad("a pointer to the start of a kernel struct, not into one")
	}
	if want != "" && !startsWith(v.kt, want) {
		return bad("a pointer to a struct %s (or to a struct starting with one), not to %s", want, typeName(v.kt))
	}
	return nil
}

// startsWith reports whether struct t is the struct named name or starts with one (its
// first member, at offset 0, is or starts with it).
func startsWith(t btf.Type, name string) bool {
	for range 16 {
		st, ok := btf.UnderlyingType(t).(*btf.Struct)
		if !ok {
			return false
		}
		if st.Name == name {
			return true
		}
		if len(st.Members) == 0 || st.Members[0].Offset != 0 {
			return false
		}
		t = st.Members[0].Type
	}
	return false
}

// kernelHelperReturn types r0 after a call of a helper that returns a kernel object, in
// the programs whose context the kernel's BTF types: a kernel pointer (nullable as the
// helper's prototype says) instead of an opaque object.
func (a *analysis) kernelHelperReturn(id helpers.ID, s *state) {
	k := a.kernelCtx()
	name, ok := kernelHelperReturns[id.String()]
	if k == nil || k.spec == nil || !ok {
		return
	}
	var st *btf.Struct
	if err := k.spec.TypeByName(name, &st); err != nil {
		return
	}
	r0 := s.regs[0]
	if r0.k == kOpaque {
		s.regs[0] = reg{k: kKernel, kt: st, nullable: r0.nullable, nullID: r0.nullID, num: interval.Const(0)}
		return
	}
	if id.String() == "get_current_task_btf" {
		s.setReg(0, reg{k: kKernel, kt: st, num: interval.Const(0)})
	}
}

// pointerLeaksAllowed reports whether the program may store pointers into maps (and
// copy them as 32-bit numbers): with Options.AllowPointerLeaks, and always in the
// programs whose context the kernel's BTF types, which Linux loads only for privileged
// users (CAP_PERFMON), whom it lets leak pointers; anybpf never runs them.
func (a *analysis) pointerLeaksAllowed() bool {
	return a.opts.AllowPointerLeaks || a.kernelCtx() != nil
}
