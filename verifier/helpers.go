package verifier

import (
	"slices"

	"github.com/anybpf/anybpf/helpers"
	"github.com/anybpf/anybpf/isa"
	"github.com/anybpf/anybpf/maps"
	"github.com/anybpf/anybpf/progtype"
	"github.com/anybpf/anybpf/verifier/internal/interval"
)

// helperCall checks a helper's arguments against its prototype and sets r0 to what it
// returns; r1-r5 are clobbered.
func (a *analysis) helperCall(i int, ins isa.Instruction, s *state) error {
	id := helpers.ID(ins.Imm())
	proto, ok := helpers.Lookup(id)
	if !ok {
		return a.errorf(i, nil, nil, "call of helper %s, whose prototype anybpf does not know", id)
	}
	if err := progtype.CheckHelper(a.p.Type, id.String()); err != nil {
		e := a.errorf(i, nil, nil, "%v", err)
		e.Cause = err
		return e
	}
	if s.lock != noLock && id.String() != "spin_unlock" {
		// As in Linux: the lock must not be held across anything that may sleep, end
		// the program (a tail call) or take the lock again.
		return a.errorf(i, s, nil, "bpf_%s called while a spin lock is held (only bpf_spin_unlock may be)", id)
	}
	var mapArg = -1            // the map argument's (first) map
	var mapReg reg             // the map argument
	var argKey, argValue int64 // the largest key and value sizes of the map argument's maps
	var allocSize int64
	for n := 0; n < proto.NumArgs(); n++ {
		r := isa.Register(n + 1)
		kind := proto.Args[n]
		if kind == helpers.ArgNone {
			break
		}
		if err := a.readable(i, s, r); err != nil {
			return err
		}
		v := s.regs[r]
		bad := func(want string) error {
			return a.errorf(i, s, []int{int(r)}, "argument %d of bpf_%s must be %s", n+1, id, want)
		}
		switch kind {
		case helpers.ArgAnything:
		case helpers.ArgConstMapPtr:
			if v.k != kMapPtr || v.nullable {
				return bad("a map")
			}
			set := mapsOf(v)
			mapArg, mapReg = set[0], v
			for _, mi := range set {
				m := a.p.Maps[mi]
				if len(proto.MapTypes) > 0 && !slices.Contains(proto.MapTypes, m.Type) {
					return a.errorf(i, s, []int{int(r)}, "bpf_%s does not take map %s, a %s", id, m.Name, m.Type)
				}
				if noElementHelpers(m.Type) && slices.Contains([]string{"map_lookup_elem", "map_update_elem", "map_delete_elem"}, id.String()) {
					return a.errorf(i, s, []int{int(r)}, "bpf_%s does not work on map %s, a %s: programs reach its contents through its own helpers only", id, m.Name, m.Type)
				}
				// Key and value arguments are checked against the largest sizes.
				argKey, argValue = max(argKey, int64(m.KeySize)), max(argValue, int64(m.ValueSize))
			}
		case helpers.ArgPtrToMapKey, helpers.ArgPtrToMapValue, helpers.ArgPtrToUninitMapValue:
			if mapArg < 0 {
				return bad("a pointer after a map argument")
			}
			size := argKey
			if kind != helpers.ArgPtrToMapKey {
				size = argValue
			}
			if size == 0 {
				break // queues and stacks have no key
			}
			if err := a.memArg(i, s, r, size, kind == helpers.ArgPtrToUninitMapValue); err != nil {
				return err
			}
		case helpers.ArgPtrToMem, helpers.ArgPtrToUninitMem:
			size, err := a.sizeArg(i, s, isa.Register(n+2), proto.Args[n+1])
			if err != nil {
				return err
			}
			if size == 0 && v.k == kNum {
				break // NULL with size 0
			}
			if err := a.memArg(i, s, r, size, kind == helpers.ArgPtrToUninitMem); err != nil {
				return err
			}
		case helpers.ArgConstSize, helpers.ArgConstSizeOrZero:
			if v.k != kNum {
				return bad("a number (a size)")
			}
		case helpers.ArgConstAllocSizeOrZero:
			c, ok := v.num.Const()
			if v.k != kNum || !ok {
				return bad("a constant size")
			}
			allocSize = int64(c)
		case helpers.ArgPtrToCtx:
			if v.k != kCtx {
				return bad("the context")
			}
			if c, ok := v.num.Const(); !ok || c != 0 {
				return bad("the context itself, not a pointer into it")
			}
		case helpers.ArgPtrToFunc:
			if v.k != kFunc {
				return bad("a function of the program")
			}
			if err := a.callback(i, s, id, v.fn, mapArg); err != nil {
				return err
			}
		case helpers.ArgPtrToStackOrNull:
			if v.k == kNum {
				if c, ok := v.num.Const(); !ok || c != 0 {
					return bad("a stack pointer or NULL")
				}
			} else if v.k != kStack && v.k != kMapValue {
				return bad("a stack pointer or NULL")
			}
		case helpers.ArgPtrToRingbufMem:
			if v.k != kMem || v.ref == 0 || v.nullable {
				return bad("a ring buffer record from bpf_ringbuf_reserve, checked for NULL")
			}
			if c, ok := v.num.Const(); !ok || c != 0 {
				return bad("the start of the record")
			}
			a.release(s, v.ref)
		case helpers.ArgPtrToSpinLock:
			lock, err := a.spinLockArg(i, s, r)
			if err != nil {
				return err
			}
			switch id.String() {
			case "spin_lock":
				s.lock = lock
			case "spin_unlock":
				switch {
				case s.lock == noLock:
					return a.errorf(i, s, nil, "bpf_spin_unlock without a lock held")
				case s.lock != lock:
					return a.errorf(i, s, []int{int(r)}, "bpf_spin_unlock of a lock that may not be the one held")
				}
				s.lock = noLock
			}
		case helpers.ArgPtrToLong:
			if err := a.memArg(i, s, r, 8, true); err != nil {
				return err
			}
		case helpers.ArgPtrToConstStr:
			if v.k != kMapValue {
				return bad("a string in read-only data")
			}
			for _, mi := range mapsOf(v) {
				if !a.p.Maps[mi].ReadOnly {
					return bad("a string in read-only data")
				}
			}
		case helpers.ArgPtrToMapValueOrNull:
			if v.k != kMapValue && v.k != kNum {
				return bad("a map value or NULL")
			}
		case helpers.ArgPtrToBTFID, helpers.ArgPtrToSocket:
			if v.k == kKernel && kind == helpers.ArgPtrToBTFID {
				if err := a.kernelHelperArg(i, s, id, n, r); err != nil {
					return err
				}
				break
			}
			if v.k != kOpaque && v.k != kCtx {
				return bad("a kernel object pointer")
			}
			if kind == helpers.ArgPtrToSocket {
				if v.nullable {
					return bad("a socket checked for NULL")
				}
				a.release(s, v.ref)
			}
		}
	}
	if proto.PacketAccess {
		invalidatePackets(s)
	}
	for r := isa.Register(1); r <= 5; r++ {
		s.setReg(r, uninit)
	}
	switch proto.Ret {
	case helpers.RetInteger:
		s.setReg(0, number(interval.Top()))
	case helpers.RetVoid:
		s.setReg(0, uninit)
	case helpers.RetPtrToMapValueOrNull:
		a.nextID++
		m := a.p.Maps[mapArg]
		if (m.Type == maps.ArrayOfMaps || m.Type == maps.HashOfMaps) && m.Inner >= 0 {
			s.setReg(0, reg{k: kMapPtr, m: m.Inner, nullable: true, nullID: a.nextID, num: interval.Const(0)})
		} else {
			s.setReg(0, reg{k: kMapValue, m: mapReg.m, ms: mapReg.ms, nullable: true, nullID: a.nextID, num: interval.Const(0)})
		}
	case helpers.RetPtrToMemOrNull:
		a.nextID++
		s.setReg(0, reg{k: kMem, size: allocSize, nullable: true, nullID: a.nextID, ref: a.nextID, num: interval.Const(0)})
		if s.refs == nil {
			s.refs = map[int]bool{}
		}
		s.refs[a.nextID] = true
	case helpers.RetPtrToSocketOrNull:
		a.nextID++
		s.setReg(0, reg{k: kOpaque, nullable: true, nullID: a.nextID, ref: a.nextID, num: interval.Const(0)})
		if s.refs == nil {
			s.refs = map[int]bool{}
		}
		s.refs[a.nextID] = true
	case helpers.RetPtrToBTFIDOrNull:
		a.nextID++
		s.setReg(0, reg{k: kOpaque, nullable: true, nullID: a.nextID, num: interval.Const(0)})
	}
	a.kernelHelperReturn(id, s)
	return nil
}

// release drops a reference and every register and spill that holds it.
func (a *analysis) release(s *state, ref int) {
	delete(s.refs, ref)
	for r := range s.regs {
		if s.regs[r].ref == ref {
			s.regs[r] = uninit
		}
	}
	for _, f := range s.frames {
		for j, sp := range f.spill {
			if sp != nil && sp.ref == ref {
				f.spill[j] = nil
			}
		}
	}
}

// invalidatePackets forgets every packet pointer: a helper changed the packet.
func invalidatePackets(s *state) {
	s.pktGen++
	for r := range s.regs {
		if s.regs[r].k == kPacket {
			s.setReg(isa.Register(r), uninit)
		}
	}
	for _, f := range s.frames {
		for j, sp := range f.spill {
			if sp != nil && sp.k == kPacket {
				f.spill[j] = nil
			}
		}
	}
}

// sizeArg returns the largest value of the size argument in r.
func (a *analysis) sizeArg(i int, s *state, r isa.Register, kind helpers.ArgKind) (int64, error) {
	if err := a.readable(i, s, r); err != nil {
		return 0, err
	}
	v := s.regs[r]
	if v.k != kNum {
		return 0, a.errorf(i, s, []int{int(r)}, "argument %d must be a size, not a pointer", r)
	}
	if v.num.SMin() < 0 || v.num.UMax() > 1<<29 {
		return 0, a.errorf(i, s, []int{int(r)}, "size argument r%d is not bounded (check it against a limit first)", r)
	}
	if kind == helpers.ArgConstSize && v.num.UMin() == 0 {
		return 0, a.errorf(i, s, []int{int(r)}, "size argument r%d may be 0", r)
	}
	return int64(v.num.UMax()), nil
}

// memArg checks that r points to size bytes the helper may read (or, with write, fill:
// stack bytes become initialized).
func (a *analysis) memArg(i int, s *state, r isa.Register, size int64, write bool) error {
	v := s.regs[r]
	if v.k == kUnion {
		for _, alt := range v.alts {
			s.regs[r] = alt
			err := a.memArg(i, s, r, size, write && alt.k != kStack)
			s.regs[r] = v
			if err != nil {
				return err
			}
		}
		if !write {
			return nil
		}
		// The helper may write to a stack it points into: spills there are gone, and
		// nothing is initialized for sure.
		return a.stackRanges(i, s, r, 0, int(size), func(f *frame, lo, hi int64) error {
			f.dropSpills(lo, hi)
			return nil
		})
	}
	if v.k == kCtx {
		return a.errorf(i, s, []int{int(r)}, "the context as a memory argument")
	}
	lo, hi, err := a.checkAccess(i, s, access{ptr: r, size: int(size), write: write})
	if err != nil {
		return err
	}
	if v.k != kStack {
		return nil
	}
	f := s.frames[v.frame]
	if write {
		f.dropSpills(lo, hi)
		if lo == hi-size { // a constant offset: the helper fills these bytes
			for b := lo; b < hi; b++ {
				f.init[b+stackSize] = true
			}
		}
		return nil
	}
	for b := lo; b < hi; b++ {
		if !f.init[b+stackSize] {
			return a.errorf(i, s, []int{int(r)}, "the helper would read uninitialized stack byte at offset %d", b)
		}
	}
	return nil
}

// callback verifies a function passed to bpf_loop or bpf_for_each_map_elem with the
// arguments the helper gives it; it must return 0 or 1.
func (a *analysis) callback(i int, s *state, id helpers.ID, fn, mapArg int) error {
	callee := a.prog.FuncOf(fn)
	if callee == nil || callee.Entry() != fn {
		return a.errorf(i, nil, nil, "callback is not the start of a function")
	}
	if len(s.frames) >= maxFrames {
		return a.errorf(i, nil, nil, "calls nested more than %d deep", maxFrames)
	}
	in := s.clone()
	in.frames = append(in.frames, &frame{})
	// Every register is new in the callback: what the zone relates to the caller's
	// registers must not stick to them.
	for r := range in.regs {
		in.setReg(isa.Register(r), uninit)
	}
	in.regs[10] = reg{k: kStack, num: interval.Const(0), frame: len(in.frames) - 1}
	ctxArg := s.regs[3] // loop: (nr, fn, ctx, flags); for_each: (map, fn, ctx, flags)
	switch id.String() {
	case "loop":
		in.setReg(1, number(interval.UnsignedRange(0, 1<<23)))
		in.regs[2] = ctxArg
		if ctxArg.k == kPacket {
			in.z.Assign(pktVar(2), pktVar(3), 0)
		}
	case "for_each_map_elem":
		if mapArg < 0 {
			return a.errorf(i, nil, nil, "bpf_for_each_map_elem without a map")
		}
		m := a.p.Maps[mapArg]
		in.regs[1] = reg{k: kMapPtr, m: mapArg, num: interval.Const(0)}
		in.regs[2] = reg{k: kMem, size: int64(m.KeySize), num: interval.Const(0)}
		in.regs[3] = reg{k: kMapValue, m: mapArg, num: interval.Const(0)}
		in.regs[4] = ctxArg
		if ctxArg.k == kPacket {
			in.z.Assign(pktVar(4), pktVar(3), 0)
		}
	default:
		return a.errorf(i, nil, nil, "bpf_%s takes no callback anybpf knows how to check", id)
	}
	// The callback may run any number of times and write the caller's stack through
	// its context: iterate until the caller's frames no longer change, and leave them
	// as the join of "not run" and "run".
	n := len(s.frames)
	for iter := 0; ; iter++ {
		out, err := a.function(callee, in)
		if err != nil {
			return err
		}
		if out == nil {
			break
		}
		r0 := out.regs[0]
		if r0.k != kNum || r0.num.UMax() > 1 {
			return a.errorf(fn, out, []int{0}, "a callback must return 0 or 1")
		}
		next := in.clone()
		next.frames = append(joinFrames(in.frames[:n], out.frames[:n], iter > 2), next.frames[n:]...)
		if framesLeq(next.frames[:n], in.frames[:n]) {
			break
		}
		in = next
		if iter > 100 {
			return a.errorf(i, nil, nil, "callback analysis did not converge")
		}
	}
	s.frames = append(joinFrames(s.frames, in.frames[:n], false), s.frames[n:]...)
	return nil
}

// noElementHelpers reports whether programs may not look up, update or delete elements
// of maps of type t with the generic map helpers (Linux refuses them as anybpf does):
// ring buffers and perf event arrays take records, program arrays serve tail calls,
// queues, stacks and Bloom filters have push, pop and peek.
func noElementHelpers(t maps.Type) bool {
	switch t {
	case maps.RingBuf, maps.PerfEventArray, maps.ProgArray, maps.Queue, maps.Stack, maps.BloomFilter:
		return true
	}
	return false
}

// spinLockArg checks that register r points to the struct bpf_spin_lock of a map value
// returned by a lookup (which Linux requires too: the lock is named by that lookup), and
// returns which lock it is.
func (a *analysis) spinLockArg(i int, s *state, r isa.Register) (lockID, error) {
	v := s.regs[r]
	fail := func(format string, args ...any) (lockID, error) {
		return lockID{}, a.errorf(i, s, []int{int(r)}, format, args...)
	}
	if v.k != kMapValue || v.nullable {
		return fail("r%d must point to the struct bpf_spin_lock of a map value, checked for NULL", r)
	}
	if v.m < 0 {
		return fail("r%d may point into the values of different maps: the lock must be one map's", r)
	}
	m := a.p.Maps[v.m]
	if !m.SpinLock {
		return fail("map %s has no struct bpf_spin_lock in its value (declare the map with BTF, its value a struct with a struct bpf_spin_lock member)", m.Name)
	}
	if off, ok := v.num.Const(); !ok || off != uint64(m.SpinLockOffset) {
		return fail("r%d points at offset %s of map %s's value, not at its struct bpf_spin_lock (offset %d)", r, v.num, m.Name, m.SpinLockOffset)
	}
	if v.nullID == 0 {
		return fail("r%d does not come from one bpf_map_lookup_elem call: which lock it is cannot be told", r)
	}
	return lockID{v.m, v.nullID}, nil
}
