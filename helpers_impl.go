package anybpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/helpers"
	"github.com/anybpf/anybpf/maps"
)

// Linux errno values helpers return, negated.
const (
	errnoENOENT = 2
	errnoE2BIG  = 7
	errnoEEXIST = 17
	errnoEINVAL = 22
	errnoENOSPC = 28
)

func errno(err error) uint64 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, maps.ErrKeyNotExist):
		return neg(errnoENOENT)
	case errors.Is(err, maps.ErrKeyExist):
		return neg(errnoEEXIST)
	case errors.Is(err, maps.ErrNoSpace):
		return neg(errnoENOSPC)
	case errors.Is(err, maps.ErrFull):
		return neg(errnoE2BIG)
	}
	return neg(errnoEINVAL)
}

// helperTable returns the helpers this runtime implements, by Linux id.
func (rt *Runtime) helperTable() map[int32]engine.HelperFunc {
	t := map[int32]engine.HelperFunc{}
	add := func(name string, fn engine.HelperFunc) {
		id, ok := helpers.ByName(name)
		if !ok {
			panic("anybpf: unknown helper " + name)
		}
		t[int32(id)] = fn
	}
	add("map_lookup_elem", helperMapLookup)
	add("map_update_elem", helperMapUpdate)
	add("map_delete_elem", helperMapDelete)
	add("map_push_elem", helperMapPush)
	add("map_pop_elem", func(env *engine.Env, m, v, _, _, _ uint64) uint64 { return queueOp(env, m, v, false) })
	add("map_peek_elem", func(env *engine.Env, m, v, _, _, _ uint64) uint64 { return queueOp(env, m, v, true) })
	add("ktime_get_ns", func(*engine.Env, uint64, uint64, uint64, uint64, uint64) uint64 {
		return monotonicNs()
	})
	add("ktime_get_boot_ns", func(*engine.Env, uint64, uint64, uint64, uint64, uint64) uint64 {
		return bootNs()
	})
	add("get_prandom_u32", func(*engine.Env, uint64, uint64, uint64, uint64, uint64) uint64 { return uint64(rand.Uint32()) })
	add("get_smp_processor_id", func(env *engine.Env, _, _, _, _, _ uint64) uint64 { return uint64(inv(env).cpu) })
	add("trace_printk", helperTracePrintk)
	add("snprintf", helperSnprintf)
	add("strncmp", helperStrncmp)
	add("spin_lock", helperSpinLock)
	add("spin_unlock", helperSpinUnlock)
	add("jiffies64", func(*engine.Env, uint64, uint64, uint64, uint64, uint64) uint64 {
		return monotonicNs() / uint64(time.Second/jiffiesPerSecond)
	})
	add("ktime_get_coarse_ns", func(*engine.Env, uint64, uint64, uint64, uint64, uint64) uint64 {
		return monotonicNs() / 1e6 * 1e6
	})
	add("get_numa_node_id", func(*engine.Env, uint64, uint64, uint64, uint64, uint64) uint64 { return 0 })
	add("get_current_pid_tgid", func(*engine.Env, uint64, uint64, uint64, uint64, uint64) uint64 {
		pid := uint64(os.Getpid())
		return pid<<32 | pid
	})
	add("get_current_uid_gid", func(*engine.Env, uint64, uint64, uint64, uint64, uint64) uint64 {
		return uint64(uint32(os.Getgid()))<<32 | uint64(uint32(os.Getuid()))
	})
	add("get_current_comm", helperGetCurrentComm)
	add("sock_ops_cb_flags_set", func(env *engine.Env, ctx, flags, _, _, _ uint64) uint64 {
		return inv(env).sockOpsCBFlagsSet(ctx, flags)
	})
	add("get_socket_cookie", func(env *engine.Env, _, _, _, _, _ uint64) uint64 { return inv(env).cookie })
	add("ringbuf_output", helperRingbufOutput)
	add("ringbuf_reserve", helperRingbufReserve)
	add("ringbuf_submit", func(env *engine.Env, p, flags, _, _, _ uint64) uint64 { return ringbufCommit(env, p, flags, false) })
	add("ringbuf_discard", func(env *engine.Env, p, flags, _, _, _ uint64) uint64 { return ringbufCommit(env, p, flags, true) })
	add("ringbuf_query", helperRingbufQuery)
	add("tail_call", helperTailCall)
	add("perf_event_output", helperPerfEventOutput)
	add("loop", helperLoop)
	add("for_each_map_elem", helperForEachMapElem)
	add("redirect", helperRedirect)
	add("redirect_map", helperRedirectMap)
	add("skb_load_bytes", helperSKBLoadBytes)
	add("skb_store_bytes", helperSKBStoreBytes)
	add("l3_csum_replace", helperL3CsumReplace)
	add("l4_csum_replace", helperL4CsumReplace)
	add("csum_diff", helperCsumDiff)
	add("xdp_adjust_head", helperXDPAdjustHead)
	add("xdp_adjust_tail", helperXDPAdjustTail)
	add("xdp_adjust_meta", helperXDPAdjustMeta)
	return t
}

func inv(env *engine.Env) *invocation {
	in := env.Context.(*invocation)
	if env.Tailed != 0 {
		in.follow(env)
	}
	return in
}

// follow makes the program an engine tail called to within compiled code the running
// one, as helperTailCall does for the tail calls it takes.
func (in *invocation) follow(env *engine.Env) {
	id := env.Tailed
	env.Tailed = 0
	if p := in.rt.programByID(id); p != nil {
		in.prog = p
		for _, r := range p.regions {
			env.AddRegion(r)
		}
	}
}

// memory returns the program memory [addr, addr+size) after checking that the program
// may access it; programs are not verified yet, so helpers check every pointer.
func memory(env *engine.Env, addr, size uint64, write bool) ([]byte, bool) {
	if size == 0 {
		return nil, true
	}
	if size > 1<<20 || !env.Check(addr, size, write) {
		return nil, false
	}
	return unsafe.Slice((*byte)(ptrOf(addr)), size), true
}

// ptrOf turns a program address into a pointer; see engine/interp's ptr.
func ptrOf(addr uint64) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&addr)) }

func badPointer(env *engine.Env, what string, addr uint64) uint64 {
	env.Abort(fmt.Errorf("%s %#x is not memory the program may use", what, addr))
	return 0
}

func lookupMap(env *engine.Env, handle uint64) (*Map, bool) {
	m, ok := inv(env).rt.mapByHandle(handle)
	if !ok {
		env.Abort(fmt.Errorf("%#x is not a map", handle))
	}
	return m, ok
}

func helperMapLookup(env *engine.Env, handle, keyAddr, _, _, _ uint64) uint64 {
	m, ok := lookupMap(env, handle)
	if !ok {
		return 0
	}
	if !env.Check(keyAddr, uint64(m.keySize), false) {
		return badPointer(env, "key", keyAddr)
	}
	if m.isOuter() {
		return m.innerHandle(ptrOf(keyAddr))
	}
	var p unsafe.Pointer
	if m.ncpu > 1 {
		p = m.m.(maps.PerCPUMap).LookupPtrCPU(ptrOf(keyAddr), inv(env).cpu)
	} else {
		p = m.m.LookupPtr(ptrOf(keyAddr))
	}
	if p == nil {
		return 0
	}
	if m.region.Size == 0 || !inv(env).prog.uses(m) {
		// Values of maps whose memory the program was not given at load (hashes, and
		// arrays reached through maps of maps).
		env.AddRegion(engine.Region{Addr: uintptr(p), Size: uintptr(m.valueSz), Writable: m.region.Size == 0 || m.region.Writable, Name: m.name})
	}
	return uint64(uintptr(p))
}

// mapInfo tells engines what they may specialise on the map with the handle: array maps
// are looked up inline, and other maps that hold plain values get a lookup helper bound
// to the map, which skips finding the map by its handle. Key pointers are not checked
// there: Config.Maps is only given for verified programs.
func (rt *Runtime) mapInfo(handle uint64) (engine.MapInfo, bool) {
	m, ok := rt.mapByHandle(handle)
	if !ok {
		return engine.MapInfo{}, false
	}
	if m.isOuter() || m.ncpu > 1 {
		return engine.MapInfo{}, true
	}
	if arr, ok := m.m.(*maps.IDArray); ok && m.typ == maps.ProgArray {
		addr, n := arr.Slots()
		return engine.MapInfo{ProgIDs: uintptr(addr), ProgLen: uint32(n)}, true
	}
	if m.typ == maps.Array && m.region.Size > 0 {
		return engine.MapInfo{ArrayBase: m.region.Addr, ArrayStride: (m.valueSz + 7) &^ 7, ArrayLen: uint32(m.region.Size / uintptr((m.valueSz+7)&^7))}, true
	}
	if m.region.Size > 0 {
		return engine.MapInfo{}, true
	}
	inner := m.m
	region := engine.Region{Size: uintptr(m.valueSz), Writable: true, Name: m.name}
	lookup := func(env *engine.Env, _, keyAddr, _, _, _ uint64) uint64 {
		p := inner.LookupPtr(ptrOf(keyAddr))
		if p == nil {
			return 0
		}
		r := region
		r.Addr = uintptr(p)
		env.AddRegion(r)
		return uint64(uintptr(p))
	}
	return engine.MapInfo{Lookup: lookup}, true
}

func helperMapUpdate(env *engine.Env, handle, keyAddr, valueAddr, flags, _ uint64) uint64 {
	m, ok := lookupMap(env, handle)
	if !ok {
		return 0
	}
	if m.isOuter() {
		return neg(errnoEINVAL) // programs only look maps of maps up, as in Linux
	}
	key, ok := memory(env, keyAddr, uint64(m.keySize), false)
	if !ok {
		return badPointer(env, "key", keyAddr)
	}
	value, ok := memory(env, valueAddr, uint64(m.valueSz), false)
	if !ok {
		return badPointer(env, "value", valueAddr)
	}
	if m.ncpu > 1 {
		// A program updates its own CPU's value.
		pm := m.m.(maps.PerCPUMap)
		if p := pm.LookupPtrCPU(ptrOf(keyAddr), inv(env).cpu); p != nil && flags != maps.UpdateNoExist {
			copy(unsafe.Slice((*byte)(p), m.valueSz), value)
			return 0
		}
		all := make([]byte, m.valueSize())
		copy(all[int((m.valueSz+7)&^7)*inv(env).cpu:], value)
		return errno(m.m.Update(key, all, flags))
	}
	return errno(m.m.Update(key, value, flags))
}

func helperMapDelete(env *engine.Env, handle, keyAddr, _, _, _ uint64) uint64 {
	m, ok := lookupMap(env, handle)
	if !ok {
		return 0
	}
	if m.isOuter() {
		return neg(errnoEINVAL)
	}
	key, ok := memory(env, keyAddr, uint64(m.keySize), false)
	if !ok {
		return badPointer(env, "key", keyAddr)
	}
	return errno(m.m.Delete(key))
}

func helperMapPush(env *engine.Env, handle, valueAddr, flags, _, _ uint64) uint64 {
	q, value, ret, ok := queueValue(env, handle, valueAddr, false)
	if !ok {
		return ret
	}
	return errno(q.Push(value, flags))
}

func queueOp(env *engine.Env, handle, valueAddr uint64, peek bool) uint64 {
	q, value, ret, ok := queueValue(env, handle, valueAddr, true)
	if !ok {
		return ret
	}
	if peek {
		return errno(q.Peek(value))
	}
	return errno(q.Pop(value))
}

// queueValue resolves a queue or stack map handle and its value buffer. When
// ok is false, ret is what the helper returns.
func queueValue(env *engine.Env, handle, valueAddr uint64, write bool) (q maps.QueueMap, value []byte, ret uint64, ok bool) {
	m, found := lookupMap(env, handle)
	if !found {
		return nil, nil, 0, false
	}
	q, isQueue := m.m.(maps.QueueMap)
	if !isQueue {
		return nil, nil, neg(errnoEINVAL), false
	}
	value, inBounds := memory(env, valueAddr, uint64(m.valueSz), write)
	if !inBounds {
		return nil, nil, badPointer(env, "value", valueAddr), false
	}
	return q, value, 0, true
}

func ringbuf(env *engine.Env, handle uint64) (*maps.RingBuffer, bool) {
	m, ok := lookupMap(env, handle)
	if !ok {
		return nil, false
	}
	rb, ok := m.m.(*maps.RingBuffer)
	return rb, ok
}

func helperRingbufOutput(env *engine.Env, handle, dataAddr, size, flags, _ uint64) uint64 {
	rb, ok := ringbuf(env, handle)
	if !ok {
		return neg(errnoEINVAL)
	}
	data, ok := memory(env, dataAddr, size, false)
	if !ok {
		return badPointer(env, "data", dataAddr)
	}
	return errno(rb.Output(data, flags))
}

func helperRingbufReserve(env *engine.Env, handle, size, flags, _, _ uint64) uint64 {
	rb, ok := ringbuf(env, handle)
	if !ok {
		return 0
	}
	p := rb.Reserve(size, flags)
	if p == nil {
		return 0
	}
	env.AddRegion(engine.Region{Addr: uintptr(p), Size: uintptr(size), Writable: true, Name: "ringbuf record"})
	return uint64(uintptr(p))
}

func ringbufCommit(env *engine.Env, addr, flags uint64, discard bool) uint64 {
	// The record's owner is found through the region that reserve registered.
	for _, r := range env.Regions() {
		if r.Name == "ringbuf record" && uint64(r.Addr) == addr {
			for _, m := range inv(env).rt.allMaps() {
				if m == nil {
					continue
				}
				if rb, ok := m.m.(*maps.RingBuffer); ok && rb.Owns(ptrOf(addr)) {
					if discard {
						rb.Discard(ptrOf(addr), flags)
					} else {
						rb.Submit(ptrOf(addr), flags)
					}
					return 0
				}
			}
		}
	}
	env.Abort(fmt.Errorf("%#x is not a reserved ring buffer record", addr))
	return 0
}

func helperRingbufQuery(env *engine.Env, handle, flags, _, _, _ uint64) uint64 {
	rb, ok := ringbuf(env, handle)
	if !ok {
		return 0
	}
	return rb.Query(flags)
}

// helperTracePrintk formats like the kernel's bpf_trace_printk and writes one line to
// the runtime's trace log.
func helperTracePrintk(env *engine.Env, fmtAddr, size, a1, a2, a3 uint64) uint64 {
	f, ok := memory(env, fmtAddr, size, false)
	if !ok {
		return badPointer(env, "format", fmtAddr)
	}
	line, ok := formatPrintk(env, f, []uint64{a1, a2, a3})
	if !ok {
		return neg(errnoEINVAL)
	}
	rt := inv(env).rt
	rt.traceMu.Lock()
	fmt.Fprintln(rt.cfg.traceLog, strings.TrimRight(line, "\n"))
	rt.traceMu.Unlock()
	return uint64(len(line))
}

// formatPrintk formats the kernel's printk subset (%d %i %u %x %X with l and ll, %p, %s,
// %c, %%) with args; ok is false for an unknown verb or too few arguments.
func formatPrintk(env *engine.Env, f []byte, args []uint64) (string, bool) {
	format := string(f)
	if i := strings.IndexByte(format, 0); i >= 0 {
		format = format[:i]
	}
	var sb strings.Builder
	n := 0
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			sb.WriteByte(c)
			continue
		}
		j := i + 1
		for j < len(format) && format[j] == 'l' {
			j++
		}
		if j >= len(format) {
			break
		}
		verb := format[j]
		if verb == '%' {
			sb.WriteByte('%')
			i = j
			continue
		}
		if n >= len(args) {
			return "", false
		}
		arg := args[n]
		n++
		long := j-i-1 >= 1
		switch verb {
		case 'd', 'i':
			if long {
				fmt.Fprintf(&sb, "%d", int64(arg))
			} else {
				fmt.Fprintf(&sb, "%d", int32(arg))
			}
		case 'u':
			if long {
				fmt.Fprintf(&sb, "%d", arg)
			} else {
				fmt.Fprintf(&sb, "%d", uint32(arg))
			}
		case 'x', 'X':
			v := arg
			if !long {
				v = uint64(uint32(arg))
			}
			if verb == 'x' {
				fmt.Fprintf(&sb, "%x", v)
			} else {
				fmt.Fprintf(&sb, "%X", v)
			}
		case 'p':
			fmt.Fprintf(&sb, "0x%x", arg)
		case 'c':
			sb.WriteByte(byte(arg))
		case 's':
			sb.WriteString(cString(env, arg))
		default:
			return "", false
		}
		i = j
	}
	return sb.String(), true
}

func cString(env *engine.Env, addr uint64) string {
	var sb strings.Builder
	for i := uint64(0); i < 256; i++ {
		b, ok := memory(env, addr+i, 1, false)
		if !ok || b[0] == 0 {
			break
		}
		sb.WriteByte(b[0])
	}
	return sb.String()
}

// MaxTailCalls is how many tail calls one run may take, as in Linux (MAX_TAIL_CALL_CNT).
const MaxTailCalls = 33

// helperTailCall arranges for the program in the array slot to run next, with the same
// context. When it cannot (empty slot, index out of range, chain limit, other program
// type), it returns an error and the caller goes on, as in Linux.
func helperTailCall(env *engine.Env, _, handle, index, _, _ uint64) uint64 {
	m, ok := lookupMap(env, handle)
	if !ok {
		return 0
	}
	arr, ok := m.m.(*maps.IDArray)
	if !ok || m.typ != maps.ProgArray {
		return neg(errnoEINVAL)
	}
	in := inv(env)
	if index > 0xffffffff || env.TailCalls >= MaxTailCalls {
		return neg(errnoENOENT)
	}
	next := in.rt.programByID(arr.ID(uint32(index)))
	if next == nil || next.code == nil || next.Type != in.prog.Type {
		return neg(errnoENOENT)
	}
	env.TailCalls++
	in.prog = next
	for _, r := range next.regions {
		env.AddRegion(r)
	}
	env.TailCall(next.code)
	return 0
}

const ethHeaderLen = 14

func xdpFrame(env *engine.Env) (*invocation, uint64, uint64, bool) {
	in := inv(env)
	if in.xdp == nil {
		return nil, 0, 0, false
	}
	start := uint64(uintptr(unsafe.Pointer(&in.frame[0])))
	return in, start, start + uint64(len(in.frame)), true
}

func helperXDPAdjustHead(env *engine.Env, _, delta, _, _, _ uint64) uint64 {
	in, start, _, ok := xdpFrame(env)
	if !ok {
		return neg(errnoEINVAL)
	}
	data := in.xdp.Data + uint64(int64(int32(delta)))
	metaLen := in.xdp.Data - in.xdp.DataMeta
	if data < start+metaLen || data+ethHeaderLen > in.xdp.DataEnd {
		return neg(errnoEINVAL)
	}
	in.xdp.Data, in.xdp.DataMeta = data, data-metaLen
	return 0
}

func helperXDPAdjustTail(env *engine.Env, _, delta, _, _, _ uint64) uint64 {
	in, _, end, ok := xdpFrame(env)
	if !ok {
		return neg(errnoEINVAL)
	}
	dataEnd := in.xdp.DataEnd + uint64(int64(int32(delta)))
	if dataEnd < in.xdp.Data+ethHeaderLen || dataEnd > end {
		return neg(errnoEINVAL)
	}
	in.xdp.DataEnd = dataEnd
	return 0
}

func helperXDPAdjustMeta(env *engine.Env, _, delta, _, _, _ uint64) uint64 {
	in, start, _, ok := xdpFrame(env)
	if !ok {
		return neg(errnoEINVAL)
	}
	meta := in.xdp.DataMeta + uint64(int64(int32(delta)))
	if meta > in.xdp.Data || meta < start || in.xdp.Data-meta > 32 || (in.xdp.Data-meta)%4 != 0 {
		return neg(errnoEINVAL)
	}
	in.xdp.DataMeta = meta
	return 0
}

// neg returns -e as the 64-bit pattern helpers return errors in.
func neg(e int64) uint64 { return uint64(-e) }

const errnoEFAULT = 14

// skbData returns the packet from skb->data on, for the skb helpers.
func skbData(env *engine.Env) ([]byte, bool) {
	in := inv(env)
	if in.skb == nil {
		return nil, false
	}
	return env.Packet, true
}

func helperSKBLoadBytes(env *engine.Env, _, offset, to, n, _ uint64) uint64 {
	data, ok := skbData(env)
	if !ok {
		return neg(errnoEINVAL)
	}
	dst, ok := memory(env, to, n, true)
	if !ok {
		return badPointer(env, "destination", to)
	}
	if offset > 0x7fffffff || offset+n > uint64(len(data)) {
		clear(dst)
		return neg(errnoEFAULT)
	}
	copy(dst, data[offset:])
	return 0
}

// Flags of bpf_skb_store_bytes and the checksum helpers.
const (
	fRecomputeCsum  = 1
	fInvalidateHash = 2
	fHdrFieldMask   = 0xf
	fPseudoHdr      = 0x10
	fMarkMangled0   = 0x20
	fMarkEnforce    = 0x40
)

func helperSKBStoreBytes(env *engine.Env, _, offset, from, n, flags uint64) uint64 {
	data, ok := skbData(env)
	if !ok {
		return neg(errnoEINVAL)
	}
	src, ok := memory(env, from, n, false)
	if !ok {
		return badPointer(env, "source", from)
	}
	if flags&^(fRecomputeCsum|fInvalidateHash) != 0 {
		return neg(errnoEINVAL)
	}
	if offset > 0xffff || offset+n > uint64(len(data)) {
		return neg(errnoEFAULT)
	}
	copy(data[offset:], src)
	return 0
}

// One's complement arithmetic as the kernel's csum_* functions do it, on values read
// from memory in host order (the sums do not depend on the byte order).
func csumAdd(a, b uint32) uint32 {
	s := uint64(a) + uint64(b)
	return uint32(s) + uint32(s>>32)
}

func csumFold(s uint32) uint16 {
	s = (s & 0xffff) + (s >> 16)
	s = (s & 0xffff) + (s >> 16)
	return ^uint16(s)
}

// csumReplace applies RFC 1624 to the 16-bit checksum at sum: from replaced by to
// (size 2 or 4), or, for size 0, to added as a precomputed difference.
func csumReplace(sum []byte, from, to uint64, size uint64) bool {
	old := uint32(binary.LittleEndian.Uint16(sum))
	var s uint32
	switch size {
	case 0:
		s = csumAdd(^old&0xffff, uint32(to))
	case 2:
		s = csumAdd(csumAdd(^old&0xffff, ^uint32(uint16(from))&0xffff), uint32(uint16(to)))
	case 4:
		s = csumAdd(csumAdd(^old&0xffff, ^uint32(from)), uint32(to))
	default:
		return false
	}
	binary.LittleEndian.PutUint16(sum, csumFold(s))
	return true
}

func helperL3CsumReplace(env *engine.Env, _, offset, from, to, flags uint64) uint64 {
	data, ok := skbData(env)
	if !ok || flags&^fHdrFieldMask != 0 {
		return neg(errnoEINVAL)
	}
	if offset > 0xffff || offset+2 > uint64(len(data)) {
		return neg(errnoEFAULT)
	}
	if !csumReplace(data[offset:offset+2], from, to, flags&fHdrFieldMask) {
		return neg(errnoEINVAL)
	}
	return 0
}

func helperL4CsumReplace(env *engine.Env, _, offset, from, to, flags uint64) uint64 {
	data, ok := skbData(env)
	if !ok || flags&^(fHdrFieldMask|fPseudoHdr|fMarkMangled0|fMarkEnforce) != 0 {
		return neg(errnoEINVAL)
	}
	if offset > 0xffff || offset+2 > uint64(len(data)) {
		return neg(errnoEFAULT)
	}
	sum := data[offset : offset+2]
	mangled0 := flags&fMarkMangled0 != 0
	if mangled0 && binary.LittleEndian.Uint16(sum) == 0 {
		return 0 // a UDP datagram without a checksum keeps none
	}
	if !csumReplace(sum, from, to, flags&fHdrFieldMask) {
		return neg(errnoEINVAL)
	}
	if mangled0 && binary.LittleEndian.Uint16(sum) == 0 {
		binary.LittleEndian.PutUint16(sum, 0xffff) // CSUM_MANGLED_0
	}
	return 0
}

// csumPartial adds b as 16-bit words in host order (a trailing byte padded) to seed.
func csumPartial(b []byte, seed uint32) uint32 {
	s := seed
	for i := 0; i+1 < len(b); i += 2 {
		s = csumAdd(s, uint32(binary.LittleEndian.Uint16(b[i:])))
	}
	if len(b)%2 == 1 {
		s = csumAdd(s, uint32(b[len(b)-1]))
	}
	return s
}

// from32to16 folds a 32-bit partial checksum to 16 bits (not complemented).
func from32to16(s uint32) uint32 {
	s = (s & 0xffff) + (s >> 16)
	return (s & 0xffff) + (s >> 16)
}

// helperCsumDiff is bpf_csum_diff as Linux 6.x computes it: the checksum of to minus the
// checksum of from, plus seed, folded to 16 bits; sizes need not be multiples of 4.
func helperCsumDiff(env *engine.Env, from, fromSize, to, toSize, seed uint64) uint64 {
	f, ok := memory(env, from, fromSize, false)
	if !ok {
		return badPointer(env, "from", from)
	}
	t, ok := memory(env, to, toSize, false)
	if !ok {
		return badPointer(env, "to", to)
	}
	var s uint32
	switch {
	case fromSize > 0 && toSize > 0:
		s = csumAdd(csumPartial(t, uint32(seed)), ^csumPartial(f, 0))
	case toSize > 0:
		s = csumPartial(t, uint32(seed))
	case fromSize > 0:
		s = ^csumPartial(f, ^uint32(seed))
	default:
		s = uint32(seed)
	}
	return uint64(from32to16(s))
}

// helperPerfEventOutput writes data (and, for XDP and skb programs, the number of packet
// bytes in the flags' upper 32 bits) as one sample to a perf event array.
func helperPerfEventOutput(env *engine.Env, _, handle, flags, dataAddr, size uint64) uint64 {
	m, ok := lookupMap(env, handle)
	if !ok {
		return 0
	}
	pe, ok := m.m.(*maps.PerfEvents)
	if !ok {
		return neg(errnoEINVAL)
	}
	const ctxLenMask = 0xfffff << 32
	if flags&^(ctxLenMask|0xffffffff) != 0 {
		return neg(errnoEINVAL)
	}
	data, ok := memory(env, dataAddr, size, false)
	if !ok {
		return badPointer(env, "data", dataAddr)
	}
	sample := data
	if n := (flags & ctxLenMask) >> 32; n > 0 {
		in := inv(env)
		var pkt []byte
		switch {
		case in.xdp != nil:
			start := uint64(uintptr(unsafe.Pointer(&in.frame[0])))
			pkt = in.frame[in.xdp.Data-start : in.xdp.DataEnd-start]
		case in.skb != nil:
			pkt = env.Packet
		default:
			return neg(errnoEINVAL)
		}
		if n > uint64(len(pkt)) {
			return neg(errnoEFAULT)
		}
		sample = append(append([]byte(nil), data...), pkt[:n]...)
	}
	return errno(pe.Output(flags&0xffffffff, inv(env).cpu, sample))
}

// Redirect verdicts and flags, Linux's values.
const (
	xdpAborted     = 0
	xdpRedirect    = 4
	tcActShot      = 2
	tcActRedirect  = 7
	fIngress       = 1
	fActionMask    = 3 // BPF_F_ACTION_MASK: redirect_map's verdict when the key is missing
	fBroadcast     = 1 << 3
	fExcludeIngres = 1 << 4
)

// Redirect is where a program asked its packet to go (bpf_redirect, bpf_redirect_map);
// the hooks act on it.
type Redirect struct {
	Ifindex uint32
	// Map and Key are set for bpf_redirect_map.
	Map   string
	Key   uint32
	Flags uint64
	// Socket is the id of the AF_XDP socket, for redirects through an xskmap (Ifindex
	// is 0 then).
	Socket uint32
}

func helperRedirect(env *engine.Env, ifindex, flags, _, _, _ uint64) uint64 {
	in := inv(env)
	if in.xdp != nil {
		if flags != 0 {
			return xdpAborted
		}
		in.redirect = &Redirect{Ifindex: uint32(ifindex)}
		return xdpRedirect
	}
	if flags&^fIngress != 0 {
		return tcActShot
	}
	in.redirect = &Redirect{Ifindex: uint32(ifindex), Flags: flags}
	return tcActRedirect
}

func helperRedirectMap(env *engine.Env, handle, key, flags, _, _ uint64) uint64 {
	m, ok := lookupMap(env, handle)
	if !ok {
		return 0
	}
	if flags&^(fActionMask|fBroadcast|fExcludeIngres) != 0 {
		return xdpAborted
	}
	k := uint32(key)
	switch m.typ {
	case maps.DevMap, maps.DevMapHash, maps.CPUMap:
	case maps.XSKMap:
		// To an AF_XDP socket: the slot holds the socket's id.
		id := m.m.(*maps.IDArray).ID(k)
		if id == 0 {
			return flags & fActionMask
		}
		inv(env).redirect = &Redirect{Map: m.name, Key: k, Flags: flags, Socket: id}
		return xdpRedirect
	default:
		return xdpAborted
	}
	p := m.m.LookupPtr(unsafe.Pointer(&k))
	if p == nil {
		return flags & fActionMask
	}
	inv(env).redirect = &Redirect{Ifindex: *(*uint32)(p), Map: m.name, Key: k, Flags: flags}
	return xdpRedirect
}

// maxCallbackDepth bounds callbacks that start loops of their own.
const maxCallbackDepth = 4

// callback returns the entry slot a function handle names, in the running program.
func callback(env *engine.Env, handle uint64) (int, bool) {
	if handle&^0xffff_ffff != funcHandleBase {
		env.Abort(fmt.Errorf("%#x is not a callback of the program", handle))
		return 0, false
	}
	return int(handle & 0xffff_ffff), true
}

// runCallback runs one call of a callback on the child Env and interprets its return
// value: 0 goes on, 1 stops.
func runCallback(env *engine.Env, entry int, args ...uint64) (stop bool, ok bool) {
	in := inv(env)
	if in.depth >= maxCallbackDepth {
		env.Abort(fmt.Errorf("callbacks nested more than %d deep", maxCallbackDepth))
		return false, false
	}
	var a [5]uint64
	copy(a[:], args)
	child := env.Child()
	in.depth++
	r, err := in.prog.code.RunAt(child, entry, a[0], a[1], a[2], a[3], a[4])
	in.depth--
	if err != nil {
		env.Abort(fmt.Errorf("callback: %w", err))
		return false, false
	}
	return r == 1, true
}

// helperLoop is bpf_loop: the callback runs with (i, ctx) for i from 0 until it returns 1
// or nr_loops calls; the result is the number of calls.
func helperLoop(env *engine.Env, nr, fn, ctx, flags, _ uint64) uint64 {
	if flags != 0 {
		return neg(errnoEINVAL)
	}
	if nr > 1<<23 {
		return neg(errnoE2BIG)
	}
	entry, ok := callback(env, fn)
	if !ok {
		return 0
	}
	for i := uint64(0); i < nr; i++ {
		stop, ok := runCallback(env, entry, i, ctx)
		if !ok {
			return 0
		}
		if stop {
			return i + 1
		}
	}
	return nr
}

// helperForEachMapElem is bpf_for_each_map_elem: the callback runs with (map, &key,
// &value, ctx) for each element until it returns 1; the result is the number of calls.
func helperForEachMapElem(env *engine.Env, handle, fn, ctx, flags, _ uint64) uint64 {
	m, ok := lookupMap(env, handle)
	if !ok {
		return 0
	}
	if flags != 0 || m.isOuter() {
		return neg(errnoEINVAL)
	}
	entry, ok := callback(env, fn)
	if !ok {
		return 0
	}
	key := make([]byte, m.keySize)
	next := make([]byte, m.keySize)
	// The next key is found before the callback runs, so that a callback deleting the
	// element it was given does not restart the walk.
	more := m.m.NextKey(nil, next) == nil
	n := uint64(0)
	for more {
		copy(key, next)
		more = m.m.NextKey(key, next) == nil
		var p unsafe.Pointer
		if pm, ok := m.m.(maps.PerCPUMap); ok && m.ncpu > 1 {
			p = pm.LookupPtrCPU(unsafe.Pointer(&key[0]), inv(env).cpu)
		} else {
			p = m.m.LookupPtr(unsafe.Pointer(&key[0]))
		}
		if p == nil {
			continue // deleted meanwhile
		}
		env.AddRegion(engine.Region{Addr: uintptr(unsafe.Pointer(&key[0])), Size: uintptr(len(key)), Name: "callback key"})
		env.AddRegion(engine.Region{Addr: uintptr(p), Size: uintptr(m.valueSz), Writable: true, Name: m.name})
		n++
		stop, ok := runCallback(env, entry, handle, uint64(uintptr(unsafe.Pointer(&key[0]))), uint64(uintptr(p)), ctx)
		if !ok {
			return 0
		}
		if stop {
			break
		}
	}
	return n
}

const jiffiesPerSecond = 250 // CONFIG_HZ of common distribution kernels

// helperSnprintf is bpf_snprintf: fmt formatted with the 64-bit values of data into str,
// NUL-terminated and cut to str_size; the result is the length the whole string needs,
// NUL included.
func helperSnprintf(env *engine.Env, str, size, fmtAddr, data, dataLen uint64) uint64 {
	out, ok := memory(env, str, size, true)
	if !ok {
		return badPointer(env, "output", str)
	}
	if dataLen%8 != 0 || dataLen > 8*12 {
		return neg(errnoEINVAL)
	}
	d, ok := memory(env, data, dataLen, false)
	if !ok {
		return badPointer(env, "data", data)
	}
	f := []byte(cString(env, fmtAddr))
	args := make([]uint64, dataLen/8)
	for i := range args {
		args[i] = binary.LittleEndian.Uint64(d[8*i:])
	}
	s, ok := formatPrintk(env, f, args)
	if !ok {
		return neg(errnoEINVAL)
	}
	if size > 0 {
		n := copy(out[:size-1], s)
		out[n] = 0
	}
	return uint64(len(s) + 1)
}

// helperStrncmp is bpf_strncmp: s1 (s1_sz bytes at most) against the NUL-terminated s2;
// -1, 0 or 1, as the kernel's strncmp.
func helperStrncmp(env *engine.Env, s1, size, s2, _, _ uint64) uint64 {
	a, ok := memory(env, s1, size, false)
	if !ok {
		return badPointer(env, "s1", s1)
	}
	for i := uint64(0); i < size; i++ {
		bb, ok := memory(env, s2+i, 1, false)
		if !ok {
			return badPointer(env, "s2", s2)
		}
		c1, c2 := a[i], bb[0]
		if c1 != c2 {
			if c1 < c2 {
				return neg(1)
			}
			return 1
		}
		if c1 == 0 {
			break
		}
	}
	return 0
}

func helperSpinLock(env *engine.Env, lock, _, _, _, _ uint64) uint64 {
	if _, ok := memory(env, lock, 4, true); !ok || lock%4 != 0 {
		return badPointer(env, "spin lock", lock)
	}
	l := (*atomic.Uint32)(ptrOf(lock))
	for !l.CompareAndSwap(0, 1) {
		runtime.Gosched()
	}
	return 0
}

func helperSpinUnlock(env *engine.Env, lock, _, _, _, _ uint64) uint64 {
	if _, ok := memory(env, lock, 4, true); !ok || lock%4 != 0 {
		return badPointer(env, "spin lock", lock)
	}
	(*atomic.Uint32)(ptrOf(lock)).Store(0)
	return 0
}

// helperGetCurrentComm writes the name of the running process, NUL-terminated and cut to
// size, as the task's comm (at most 15 bytes).
func helperGetCurrentComm(env *engine.Env, buf, size, _, _, _ uint64) uint64 {
	out, ok := memory(env, buf, size, true)
	if !ok {
		return badPointer(env, "buffer", buf)
	}
	if size == 0 {
		return neg(errnoEINVAL)
	}
	comm := filepath.Base(os.Args[0])
	if len(comm) > 15 {
		comm = comm[:15]
	}
	clear(out)
	copy(out[:size-1], comm)
	return 0
}
