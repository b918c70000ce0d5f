package verifier

import (
	"fmt"
	"math"
	"strings"

	"github.com/cilium/ebpf/btf"

	"github.com/anybpf/anybpf/verifier/internal/interval"
	"github.com/anybpf/anybpf/verifier/internal/zone"
)

// kind is what a register (or spilled stack slot) holds.
type kind uint8

const (
	kUninit   kind = iota // not initialized
	kNum                  // a number
	kCtx                  // the context; off is the offset into it
	kStack                // the stack of frame; off is relative to the frame's r10
	kPacket               // packet memory; the offset from the packet's start is the zone variable of the register
	kMapValue             // a value of map m; off is the offset into it
	kMapPtr               // the map m itself (a 64-bit map load), usable only as a helper argument
	kMem                  // memory of size bytes (a ring buffer record); off is the offset into it
	kFunc                 // the address of the program's function starting at instruction fn
	kOpaque               // a kernel object (socket, task): passed to helpers, never dereferenced
	kMixed                // different kinds on different paths that no type set holds: usable for nothing
	kUnion                // one of the pointers in alts (a type set: the kind differs by path)
	kKernel               // a kernel struct of type kt (tracing programs, see kernelptr.go); off is the offset into it
)

// maxAlts bounds the pointers a type set holds.
const maxAlts = 4

var kindNames = [...]string{"uninit", "num", "ctx", "stack", "packet", "map_value", "map_ptr", "mem", "func", "kernel_ptr", "mixed", "union", "kptr"}

func (k kind) String() string { return kindNames[k] }

// reg is the abstract value of a register or of a spilled 8-byte stack slot.
type reg struct {
	k kind
	// num is the value of a number, and the offset of ctx, stack, map value and mem
	// pointers. For packet pointers it mirrors the zone variable's bounds.
	num interval.Value
	// nullable pointers come from helpers that may return NULL; nullID groups the
	// registers that are null or not together.
	nullable bool
	nullID   int
	// m is the map of map values and map pointers; -1 when it is one of several,
	// the maps in the set ms.
	m  int
	ms uint64
	// frame is the call frame whose stack a stack pointer points into.
	frame int
	// size is the size of mem regions.
	size int64
	// ref is the reference a ring buffer record or socket holds (0: none).
	ref int
	// fn is the target of function addresses.
	fn int
	// alts are the possible pointers of a type set (kUnion), none of them a union.
	alts []reg
	// endLo and endHi bound a spilled packet pointer's offset minus the packet's size
	// (in a register, the zone holds that relation).
	endLo, endHi int64
	// kt is the struct or union a kernel pointer points to, from the kernel's BTF.
	kt btf.Type
}

// alternatives returns the pointers r may be: its alts for a type set, else r itself.
func (r reg) alternatives() []reg {
	if r.k == kUnion {
		return r.alts
	}
	return []reg{r}
}

// union builds the type set of a and b, or kMixed when one cannot hold them: only
// non-null pointers into memory go into sets (packet pointers, whose offsets live in
// the zone, and numbers do not).
func union(a, b reg) reg {
	var alts []reg
	add := func(x reg) bool {
		switch x.k {
		case kStack, kMapValue, kMem, kCtx:
		default:
			return false
		}
		if x.nullable {
			return false
		}
		for i, y := range alts {
			if x.k == y.k && x.m == y.m && x.ms == y.ms && x.frame == y.frame && x.fn == y.fn && x.ref == y.ref {
				alts[i] = join(x, y)
				return true
			}
		}
		alts = append(alts, x)
		return len(alts) <= maxAlts
	}
	for _, x := range append(a.alternatives(), b.alternatives()...) {
		if !add(x) {
			return reg{k: kMixed}
		}
	}
	if len(alts) == 1 {
		return alts[0]
	}
	return reg{k: kUnion, alts: alts}
}

func number(v interval.Value) reg { return reg{k: kNum, num: v} }

var uninit = reg{}

// eq reports whether two registers are the same abstract value.
func (r reg) eq(o reg) bool {
	if r.k != o.k {
		return false
	}
	switch r.k {
	case kUninit, kMixed:
		return true
	case kUnion:
		return r.leq(o) && o.leq(r)
	}
	return interval.LessEq(r.num, o.num) && interval.LessEq(o.num, r.num) && r.nullable == o.nullable && r.endLo == o.endLo && r.endHi == o.endHi &&
		r.nullID == o.nullID && r.m == o.m && r.ms == o.ms && r.frame == o.frame && r.size == o.size && r.ref == o.ref && r.fn == o.fn && r.kt == o.kt
}

// leq reports whether r is included in o.
func (r reg) leq(o reg) bool {
	switch {
	case o.k == kMixed || r.k == kUninit && o.k == kUninit:
		return true
	case o.k == kUninit:
		// Uninit is the top of what may be read: any value is "at most uninit" for
		// the purpose of reading, but a path where it is initialized and one where it
		// is not must join to uninit, so inclusion holds.
		return true
	case r.k == kUnion || o.k == kUnion:
		for _, x := range r.alternatives() {
			found := false
			for _, y := range o.alternatives() {
				if x.k != kUnion && y.k != kUnion && x.leq(y) {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
		return true
	case r.k != o.k:
		return false
	}
	if !interval.LessEq(r.num, o.num) {
		return false
	}
	if o.nullable && o.nullID != r.nullID && o.nullID != -1 {
		return false
	}
	if r.endLo < o.endLo || r.endHi > o.endHi {
		return false
	}
	return (!r.nullable || o.nullable) && (r.m == o.m && r.ms == o.ms || o.m == -1 && mapBits(r)&^o.ms == 0 && mapBits(r) != 0) && r.frame == o.frame && r.size == o.size && r.ref == o.ref && r.fn == o.fn && r.kt == o.kt
}

// join is the least upper bound of two registers.
func join(a, b reg) reg {
	switch {
	case a.k == kUninit || b.k == kUninit:
		return uninit
	case a.k == kMixed || b.k == kMixed:
		return reg{k: kMixed}
	case a.k == kUnion || b.k == kUnion:
		return union(a, b)
	}
	// NULL on one path and a nullable-able pointer on the other: a pointer that may be
	// NULL, as after "if (!p) p = 0".
	if a.k == kNum && b.k != kNum {
		a, b = b, a
	}
	if b.k == kNum && a.k != kNum {
		if c, ok := b.num.Const(); ok && c == 0 && (a.k == kMapValue || a.k == kMem || a.k == kOpaque || a.k == kMapPtr || a.k == kKernel) {
			a.nullable = true
			if a.nullID == 0 {
				a.nullID = -1 // no longer refined together with anything
			}
			return a
		}
		return reg{k: kMixed}
	}
	if a.k == b.k && (a.k == kMapPtr || a.k == kMapValue) && (a.m != b.m || a.ms != b.ms) {
		// One of several maps (as when a program picks a map on a branch).
		if ab, bb := mapBits(a), mapBits(b); ab != 0 && bb != 0 && a.frame == b.frame && a.ref == b.ref {
			a.m, a.ms = -1, ab|bb
			b.m, b.ms = a.m, a.ms
		}
	}
	if a.k != b.k || a.m != b.m || a.ms != b.ms || a.frame != b.frame || a.fn != b.fn || a.ref != b.ref || a.kt != b.kt {
		return union(a, b)
	}
	r := a
	r.num = interval.Join(a.num, b.num)
	r.endLo, r.endHi = min(a.endLo, b.endLo), max(a.endHi, b.endHi)
	r.nullable = a.nullable || b.nullable
	if a.nullID != b.nullID {
		r.nullID = -1
	}
	if a.size != b.size {
		r.size = min(a.size, b.size)
	}
	return r
}

// mapBits returns the set of maps a map pointer or value may refer to, or 0 when a
// set cannot hold them (maps past the 64th).
func mapBits(r reg) uint64 {
	switch {
	case r.m == -1:
		return r.ms
	case r.m >= 0 && r.m < 64:
		return 1 << r.m
	}
	return 0
}

// mapsOf lists the maps r may refer to.
func mapsOf(r reg) []int {
	if r.m >= 0 {
		return []int{r.m}
	}
	var out []int
	for i := 0; i < 64; i++ {
		if r.ms&(1<<i) != 0 {
			out = append(out, i)
		}
	}
	return out
}

// widen is join with the numbers widened.
func widen(old, next reg) reg {
	r := join(old, next)
	if r.k != kUninit && r.k != kMixed && r.k != kUnion && old.k == r.k {
		r.num = interval.Widen(old.num, r.num)
		if r.endLo < old.endLo {
			r.endLo = math.MinInt64
		}
		if r.endHi > old.endHi {
			r.endHi = math.MaxInt64
		}
	}
	return r
}

func (r reg) String() string {
	switch r.k {
	case kUninit, kMixed:
		return r.k.String()
	case kUnion:
		var parts []string
		for _, x := range r.alts {
			parts = append(parts, x.String())
		}
		return "{" + strings.Join(parts, " | ") + "}"
	case kNum:
		return r.num.String()
	}
	var b strings.Builder
	b.WriteString(r.k.String())
	if r.nullable {
		b.WriteString("_or_null")
	}
	switch r.k {
	case kMapValue, kMapPtr:
		fmt.Fprintf(&b, "(map %v)", mapsOf(r))
	case kStack:
		fmt.Fprintf(&b, "(frame %d)", r.frame)
	case kMem:
		fmt.Fprintf(&b, "(size %d)", r.size)
	case kFunc:
		fmt.Fprintf(&b, "(insn %d)", r.fn)
	case kKernel:
		fmt.Fprintf(&b, "(%s)", typeName(r.kt))
	}
	if r.k != kFunc && r.k != kMapPtr && r.k != kOpaque {
		fmt.Fprintf(&b, "+%s", r.num)
	}
	return b.String()
}

const stackSize = 512

// frame is one call frame's stack: for each byte whether it is initialized, and the
// registers spilled to 8-byte aligned slots.
type frame struct {
	init  [stackSize]bool
	spill [stackSize / 8]*reg
}

// dropSpills forgets the registers spilled to slots that bytes [lo, hi) (offsets from
// the frame's top) overlap.
func (f *frame) dropSpills(lo, hi int64) {
	for b := lo; b < hi; b++ {
		f.spill[(b+stackSize)/8] = nil
	}
}

func (f *frame) clone() *frame {
	c := *f
	return &c
}

// lockID names the spin lock a state holds by the map value that holds it: its map and
// the lookup that returned it (reg.nullID).
type lockID struct{ m, lookup int }

// noLock is no lock held: a held lock's lookup is never 0 (spinLockArg).
var noLock = lockID{}

// unknownLock is the lock held where paths holding different locks meet.
var unknownLock = lockID{-1, -1}

// state is the abstract state at a program point.
type state struct {
	regs   [11]reg
	frames []*frame // frames[len-1] is the running function's
	z      *zone.DBM
	// refs are the references held (ring buffer records, sockets) by id.
	refs map[int]bool
	// lock is the spin lock held, noLock when none.
	lock lockID
	// pktGen counts the calls of helpers that change the packet.
	pktGen int
	bottom bool
}

func (s *state) clone() *state {
	c := &state{regs: s.regs, z: s.z.Clone(), lock: s.lock, pktGen: s.pktGen, bottom: s.bottom}
	c.frames = make([]*frame, len(s.frames))
	for i, f := range s.frames {
		c.frames[i] = f.clone()
	}
	if len(s.refs) > 0 {
		c.refs = make(map[int]bool, len(s.refs))
		for k, v := range s.refs {
			c.refs[k] = v
		}
	}
	return c
}

// joinState returns the join of a and b (either may be nil: unreachable).
func joinState(a, b *state, widening bool) *state {
	if a == nil || a.bottom {
		if b == nil {
			return nil
		}
		return b.clone()
	}
	if b == nil || b.bottom {
		return a.clone()
	}
	r := a.clone()
	r.joinWith(b, widening)
	return r
}

// joinWith sets r, which must not be bottom, to the join of r and b (not changed; nil
// or bottom leave r as it is).
func (r *state) joinWith(b *state, widening bool) {
	if b == nil || b.bottom {
		return
	}
	for i := range r.regs {
		if widening {
			r.regs[i] = widen(r.regs[i], b.regs[i])
		} else {
			r.regs[i] = join(r.regs[i], b.regs[i])
		}
	}
	n := min(len(r.frames), len(b.frames))
	r.frames = r.frames[:n]
	for fi := range r.frames {
		joinFrameInto(r.frames[fi], b.frames[fi], widening)
	}
	if widening {
		r.z.Widen(b.z)
	} else {
		r.z.Join(b.z)
	}
	// A reference held on either path is held after the join (the exit check will
	// complain about one held on a single path).
	for k := range b.refs {
		if r.refs == nil {
			r.refs = map[int]bool{}
		}
		r.refs[k] = true
	}
	switch {
	case b.lock == noLock:
	case r.lock == noLock:
		r.lock = b.lock
	case r.lock != b.lock:
		r.lock = unknownLock
	}
	r.pktGen = max(r.pktGen, b.pktGen)
}

// leqState reports whether a is included in b (a fixpoint has been reached when the new
// state at a loop head is included in the old).
func leqState(a, b *state) bool {
	if a == nil || a.bottom {
		return true
	}
	if b == nil || b.bottom {
		return false
	}
	for i := range a.regs {
		if !a.regs[i].leq(b.regs[i]) {
			return false
		}
	}
	if len(a.frames) != len(b.frames) || !framesLeq(a.frames, b.frames) {
		return false
	}
	for k := range a.refs {
		if !b.refs[k] {
			return false
		}
	}
	if a.lock != noLock && a.lock != b.lock && b.lock != unknownLock {
		return false
	}
	return a.z.LessEq(b.z)
}

// joinFrames joins two lists of the same frames, byte by byte.
func joinFrames(a, b []*frame, widening bool) []*frame {
	out := make([]*frame, len(a))
	for fi := range a {
		out[fi] = a[fi].clone()
		joinFrameInto(out[fi], b[fi], widening)
	}
	return out
}

// joinFrameInto sets fr to the join of fr and fb, byte by byte.
func joinFrameInto(fr, fb *frame, widening bool) {
	for i := range fr.init {
		fr.init[i] = fr.init[i] && fb.init[i]
	}
	for i := range fr.spill {
		switch {
		case fr.spill[i] == nil:
		case fb.spill[i] == nil:
			fr.spill[i] = nil
		case widening:
			j := widen(*fr.spill[i], *fb.spill[i])
			fr.spill[i] = &j
		default:
			j := join(*fr.spill[i], *fb.spill[i])
			fr.spill[i] = &j
		}
	}
}

// framesLeq reports whether every frame of a is included in b's.
func framesLeq(a, b []*frame) bool {
	for fi := range a {
		fa, fb := a[fi], b[fi]
		for i := range fa.init {
			if fb.init[i] && !fa.init[i] {
				return false
			}
		}
		for i := range fa.spill {
			if fb.spill[i] != nil && (fa.spill[i] == nil || !fa.spill[i].leq(*fb.spill[i])) {
				return false
			}
		}
	}
	return true
}
