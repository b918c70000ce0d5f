package anybpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"time"
	"unsafe"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/maps"
	"github.com/anybpf/anybpf/progtype"
)

// XDPHeadroom is the room before the packet that XDP test runs give, as the kernel's
// XDP_PACKET_HEADROOM, so that bpf_xdp_adjust_head can grow the packet.
const XDPHeadroom = 256

// RunOptions are the input and output of a test run, as BPF_PROG_TEST_RUN takes them.
type RunOptions struct {
	// Data is the input packet (or, for programs without a context type, the memory
	// whose address and length are passed in r1 and r2).
	Data []byte
	// DataOut receives the packet after the last run; it is resized to fit.
	DataOut []byte
	// Repeat runs the program this many times (0 means 1) on the same buffer.
	Repeat uint32
	// Duration is set to the average duration of one run.
	Duration time.Duration
	// Redirect is set to the target of bpf_redirect or bpf_redirect_map in the last run.
	Redirect *Redirect
	// Context is the input context, as BPF_PROG_TEST_RUN's ctx_in: an xdp_md (24 bytes)
	// whose data field says how many leading bytes of Data are metadata and whose
	// ingress_ifindex and rx_queue_index are used; or a __sk_buff (192 bytes) whose mark,
	// priority, ingress_ifindex, ifindex, cb, tstamp, wire_len, gso_segs, gso_size and
	// hwtstamp are used. Other fields must be zero, as in Linux. Program types Linux has
	// no test run for take their whole context here: a bpf_sock_addr (72 bytes), a
	// bpf_sock (80 bytes), a bpf_sock_ops (224 bytes, or the 216 of headers before Linux
	// 6.2; its pointer fields must be 0: skb_data and skb_data_end span Data), a bind_md
	// or a process_md.
	Context []byte
	// ContextOut receives the context after the last run, in the same layout.
	ContextOut []byte
	// ImagePath is the executable's path a PROCESS program sees through
	// image_path_start/image_path_end (Data is its command line).
	ImagePath []byte
	// SocketCookie, if not 0, is the cookie bpf_get_socket_cookie returns: that of the
	// real socket a hook runs the program for. With 0 the run gets a cookie of its own.
	SocketCookie uint64
}

// invocation is what helpers know of the running program.
type invocation struct {
	rt       *Runtime
	prog     *Program // the program running now (changes with tail calls)
	depth    int      // callbacks running
	cpu      int
	cookie   uint64 // the socket cookie of the run's socket (bpf_get_socket_cookie)
	xdp      *progtype.XDPMD
	skb      *progtype.SKBuff
	redirect *Redirect // set by bpf_redirect and bpf_redirect_map
	sockOps  []byte    // the bpf_sock_ops of a SOCK_OPS run
	frame    []byte    // the packet buffer with head- and tailroom
	env      *engine.Env
}

// Run runs the program as BPF_PROG_TEST_RUN does and returns its return value.
func (p *Program) Run(opts *RunOptions) (uint32, error) {
	if p.err != nil {
		return 0, fmt.Errorf("run %s: %w", p.Name, p.err)
	}
	if p.closed.Load() {
		return 0, fmt.Errorf("run %s: %w", p.Name, ErrClosed)
	}
	if opts == nil {
		opts = &RunOptions{}
	}
	repeat := opts.Repeat
	if repeat == 0 {
		repeat = 1
	}
	env := engine.NewEnv()
	// Like the kernel's test run, which gives the skb a fresh socket, every run gets a
	// socket cookie of its own.
	inv := &invocation{rt: p.rt, env: env, cookie: opts.SocketCookie}
	if inv.cookie == 0 {
		inv.cookie = p.rt.cookies.Add(1)
	}
	env.Context = inv
	for _, r := range p.regions {
		env.AddRegion(r)
	}
	var r1, r2 uint64
	var out func() []byte
	ctxOut := func() []byte { return nil }
	switch p.Type {
	case progtype.XDP:
		meta, ingress, rxQueue, err := xdpContextIn(opts.Context, len(opts.Data))
		if err != nil {
			return 0, fmt.Errorf("run %s: %w", p.Name, err)
		}
		if len(opts.Data)-meta < ethHeaderLen {
			return 0, fmt.Errorf("run %s: %w: XDP input must hold at least an Ethernet header (14 bytes), got %d", p.Name, ErrInvalidInput, len(opts.Data)-meta)
		}
		buf := make([]byte, XDPHeadroom+len(opts.Data)+XDPHeadroom)
		copy(buf[XDPHeadroom-meta:], opts.Data)
		r1 = inv.layXDP(buf, meta, len(opts.Data)-meta, ingress, rxQueue)
		base := uint64(uintptr(unsafe.Pointer(&inv.frame[0])))
		out = func() []byte {
			// Like the kernel, the output starts at the metadata.
			return inv.frame[inv.xdp.DataMeta-base : inv.xdp.DataEnd-base]
		}
		ctxOut = func() []byte {
			b := make([]byte, 24)
			binary.LittleEndian.PutUint32(b[0:], uint32(inv.xdp.Data-inv.xdp.DataMeta))
			binary.LittleEndian.PutUint32(b[4:], uint32(inv.xdp.DataEnd-inv.xdp.DataMeta))
			binary.LittleEndian.PutUint32(b[12:], inv.xdp.IngressIfindex)
			binary.LittleEndian.PutUint32(b[16:], inv.xdp.RxQueueIndex)
			return b
		}
	case progtype.SocketFilter, progtype.SchedCls, progtype.SchedAct, progtype.CgroupSKB:
		if len(opts.Data) < ethHeaderLen {
			return 0, fmt.Errorf("run %s: %w: skb input must hold at least an Ethernet header (14 bytes), got %d", p.Name, ErrInvalidInput, len(opts.Data))
		}
		if err := checkL3(opts.Data); err != nil {
			return 0, fmt.Errorf("run %s: %w", p.Name, err)
		}
		inv.frame = append([]byte(nil), opts.Data...)
		skb := newSKBuff(inv.frame, p.Type)
		if err := skbContextIn(skb, opts.Context); err != nil {
			return 0, fmt.Errorf("run %s: %w", p.Name, err)
		}
		ctxOut = func() []byte { return skbContextOut(skb) }
		inv.skb = skb
		base := uint64(uintptr(unsafe.Pointer(&inv.frame[0])))
		env.AddRegion(engine.RegionOf("packet", inv.frame, true))
		ctx := unsafe.Slice((*byte)(unsafe.Pointer(skb)), unsafe.Sizeof(*skb))
		env.AddRegion(engine.RegionOf("__sk_buff", ctx, true))
		env.Packet = inv.frame[skb.Data-base:]
		r1 = uint64(uintptr(unsafe.Pointer(skb)))
		out = func() []byte {
			if skb.Data-base == ethHeaderLen {
				// Like the kernel, which pushes a zeroed link-layer header back for
				// programs that saw the packet from the network header on.
				clear(inv.frame[:ethHeaderLen])
			}
			return inv.frame
		}
	case progtype.CgroupSockAddr:
		// Linux has no test run for these programs; anybpf runs them on the bpf_sock_addr
		// given as Context (72 bytes: the address the call was made with) and reports
		// the rewritten one in ContextOut.
		// ebpf-for-windows programs take and give their own 64-byte layout.
		if p.windows {
			sa := engine.Memory(progtype.WindowsSockAddrContext.RealSize)
			if opts.Context != nil {
				if len(opts.Context) != progtype.WindowsSockAddrContext.Size {
					return 0, fmt.Errorf("run %s: %w: ebpf-for-windows bpf_sock_addr context must be %d bytes, got %d", p.Name, ErrInvalidInput, progtype.WindowsSockAddrContext.Size, len(opts.Context))
				}
				progtype.WindowsSockAddrIn(opts.Context, sa)
			}
			env.AddRegion(engine.RegionOf("bpf_sock_addr", sa, true))
			r1 = uint64(uintptr(unsafe.Pointer(&sa[0])))
			out = func() []byte { return nil }
			ctxOut = func() []byte { return progtype.WindowsSockAddrOut(sa) }
			break
		}
		sa := engine.Memory(progtype.SockAddrContext.RealSize)
		if opts.Context != nil {
			if len(opts.Context) != len(sa) {
				return 0, fmt.Errorf("run %s: %w: bpf_sock_addr context must be %d bytes, got %d", p.Name, ErrInvalidInput, len(sa), len(opts.Context))
			}
			copy(sa, opts.Context)
			clear(sa[64:]) // sk: no socket here
		}
		env.AddRegion(engine.RegionOf("bpf_sock_addr", sa, true))
		r1 = uint64(uintptr(unsafe.Pointer(&sa[0])))
		out = func() []byte { return nil }
		ctxOut = func() []byte { return sa }
	case progtype.SockOps:
		ops, err := sockOpsContextIn(opts.Context)
		if err != nil {
			return 0, fmt.Errorf("run %s: %w", p.Name, err)
		}
		inv.sockOps = ops
		if len(opts.Data) > 0 {
			// The TCP header (and options) the callback sees through skb_data.
			inv.frame = append([]byte(nil), opts.Data...)
			start := uint64(uintptr(unsafe.Pointer(&inv.frame[0])))
			binary.LittleEndian.PutUint64(ops[progtype.SockOpsSKBDataOffset:], start)
			binary.LittleEndian.PutUint64(ops[progtype.SockOpsSKBDataEndOffset:], start+uint64(len(inv.frame)))
			if binary.LittleEndian.Uint32(ops[progtype.SockOpsSKBLenOffset:]) == 0 {
				binary.LittleEndian.PutUint32(ops[progtype.SockOpsSKBLenOffset:], uint32(len(inv.frame)))
			}
			env.AddRegion(engine.RegionOf("skb_data", inv.frame, false))
		}
		env.AddRegion(engine.RegionOf("bpf_sock_ops", ops, true))
		r1 = uint64(uintptr(unsafe.Pointer(&ops[0])))
		out = func() []byte { return nil }
		size := len(opts.Context)
		if size == 0 {
			size = progtype.SockOpsSize
		}
		ctxOut = func() []byte { return sockOpsContextOut(ops, size) }
	case progtype.CgroupSock:
		// Linux has no test run for these either: the bpf_sock given as Context is the
		// socket being created, released or bound.
		sk := engine.Memory(progtype.SockSize)
		if opts.Context != nil {
			if len(opts.Context) != len(sk) {
				return 0, fmt.Errorf("run %s: bpf_sock context must be %d bytes, got %d", p.Name, len(sk), len(opts.Context))
			}
			copy(sk, opts.Context)
		}
		env.AddRegion(engine.RegionOf("bpf_sock", sk, true))
		r1 = uint64(uintptr(unsafe.Pointer(&sk[0])))
		out = func() []byte { return nil }
		ctxOut = func() []byte { return sk }
	case progtype.Bind, progtype.Process:
		// Data is the span the context points to (the application id of a bind, the
		// command line of a process); Context the rest of the struct, whose pointers the
		// runtime fills in.
		c := progtype.ContextOf(p.Type)
		md := engine.Memory(c.RealSize)
		if opts.Context != nil {
			if len(opts.Context) != len(md) {
				return 0, fmt.Errorf("run %s: %s context must be %d bytes, got %d", p.Name, c.Name, len(md), len(opts.Context))
			}
			copy(md, opts.Context)
		}
		var image []byte
		if p.Type == progtype.Process {
			image = opts.ImagePath
		} else if opts.ImagePath != nil {
			return 0, fmt.Errorf("run %s: %w: an image path is for process programs", p.Name, ErrInvalidInput)
		}
		inv.frame = spans(opts.Data, image)
		start := uint64(uintptr(unsafe.Pointer(&inv.frame[0])))
		env.AddRegion(engine.RegionOf("span", inv.frame, false))
		binary.LittleEndian.PutUint64(md[0:], start)
		binary.LittleEndian.PutUint64(md[8:], start+uint64(len(opts.Data)))
		if p.Type == progtype.Process {
			istart := start + uint64(len(opts.Data))
			binary.LittleEndian.PutUint64(md[72:], istart)
			binary.LittleEndian.PutUint64(md[80:], istart+uint64(len(image)))
		}
		env.AddRegion(engine.RegionOf(c.Name, md, true))
		r1 = uint64(uintptr(unsafe.Pointer(&md[0])))
		out = func() []byte { return nil }
		ctxOut = func() []byte {
			o := append([]byte(nil), md...)
			clear(o[0:16]) // the pointers mean nothing outside
			if p.Type == progtype.Process {
				clear(o[72:88])
			}
			return o
		}
	case progtype.Unspec:
		inv.frame = append([]byte(nil), opts.Data...)
		if len(inv.frame) > 0 {
			env.AddRegion(engine.RegionOf("data", inv.frame, true))
			r1, r2 = uint64(uintptr(unsafe.Pointer(&inv.frame[0]))), uint64(len(inv.frame))
		}
		out = func() []byte { return inv.frame }
	default:
		return 0, fmt.Errorf("run %s: %w: test-run of %s programs", p.Name, ErrNotSupported, p.Type)
	}
	fixed := len(env.Regions())
	var ret uint64
	// Like the kernel, which holds the RCU read lock across a batch of repetitions, the
	// runs of one batch share an epoch guard (and so a CPU); the guard is renewed every
	// epochBatch runs so that memory retired meanwhile can be reclaimed soon.
	const epochBatch = 64
	var g maps.Guard
	start := time.Now()
	for i := uint32(0); i < repeat; i++ {
		if i%epochBatch == 0 {
			if i > 0 {
				g.Leave()
			}
			g = p.rt.epochs.Enter()
		}
		var err error
		ret, err = inv.invoke(p, fixed, g.CPU(), r1, r2)
		if err != nil {
			g.Leave()
			return 0, fmt.Errorf("run %s: %w", inv.prog.Name, err)
		}
	}
	g.Leave()
	elapsed := time.Since(start)
	p.recordRun(repeat, elapsed)
	opts.Duration = elapsed / time.Duration(repeat)
	if p.windows {
		ret = uint64(progtype.WindowsVerdict(p.Type, uint32(ret)))
	}
	opts.Redirect = inv.redirect
	opts.ContextOut = append(opts.ContextOut[:0], ctxOut()...)
	opts.DataOut = append(opts.DataOut[:0], out()...)
	runtime.KeepAlive(inv)
	return uint32(ret), nil
}

// invoke runs p once on the invocation's context (r1, r2) as the CPU cpu, following its
// tail calls. fixed is how many of the Env's regions stay: those added after them are the
// map values an earlier run looked up. Test runs and the XDP datapath (RunXDP) share it.
func (inv *invocation) invoke(p *Program, fixed, cpu int, r1, r2 uint64) (uint64, error) {
	inv.env.TruncateRegions(fixed)
	inv.cpu, inv.prog, inv.redirect = cpu, p, nil
	inv.env.TailCalls, inv.env.Tailed = 0, 0
	for {
		ret, err := inv.prog.code.Run(inv.env, r1, r2)
		if inv.env.Tailed != 0 {
			inv.follow(inv.env)
		}
		// An engine that could not switch to the tail call's target returns; the helper
		// has made it inv.prog already.
		if err != nil || inv.env.TakeTailCall() == nil {
			return ret, err
		}
	}
}

// layXDP makes buf the frame an XDP program sees: meta bytes of metadata and then n bytes
// of packet start at buf[XDPHeadroom-meta], what lies before is headroom for
// bpf_xdp_adjust_head and what lies after tailroom for bpf_xdp_adjust_tail. It points the
// invocation's xdp_md at it, lets the program address both, and returns the xdp_md's
// address (r1). buf must be heap memory (engine.Memory) that stays reachable while the
// program runs. Test runs and the XDP datapath (XDPFrame) share it.
func (inv *invocation) layXDP(buf []byte, meta, n int, ingress, rxQueue uint32) uint64 {
	inv.frame = buf
	if inv.xdp == nil {
		inv.xdp = new(progtype.XDPMD)
	}
	inv.relayXDP(meta, n, ingress, rxQueue)
	inv.env.AddRegion(engine.RegionOf("packet", buf, true))
	ctx := unsafe.Slice((*byte)(unsafe.Pointer(inv.xdp)), unsafe.Sizeof(*inv.xdp))
	inv.env.AddRegion(engine.RegionOf("xdp_md", ctx, false))
	return uint64(uintptr(unsafe.Pointer(inv.xdp)))
}

// relayXDP points the xdp_md of a frame layXDP laid out at a new frame in the same
// buffer: meta bytes of metadata and n bytes of packet at buf[XDPHeadroom-meta].
func (inv *invocation) relayXDP(meta, n int, ingress, rxQueue uint32) {
	data := uint64(uintptr(unsafe.Pointer(&inv.frame[0]))) + XDPHeadroom
	*inv.xdp = progtype.XDPMD{Data: data, DataMeta: data - uint64(meta), DataEnd: data + uint64(n), IngressIfindex: ingress, RxQueueIndex: rxQueue}
}

// checkL3 refuses skb input whose Ethernet type announces IPv4 or IPv6 but which is too
// short to hold that header, as the kernel's test run does.
func checkL3(frame []byte) error {
	l3 := len(frame) - ethHeaderLen
	switch binary.BigEndian.Uint16(frame[12:]) {
	case 0x0800:
		if l3 < 20 {
			return fmt.Errorf("%w: IPv4 frame too short for an IPv4 header (%d bytes after the Ethernet header)", ErrInvalidInput, l3)
		}
	case 0x86dd:
		if l3 < 40 {
			return fmt.Errorf("%w: IPv6 frame too short for an IPv6 header (%d bytes after the Ethernet header)", ErrInvalidInput, l3)
		}
	}
	return nil
}

// sockOpsContextIn returns the bpf_sock_ops a SOCK_OPS test run gives, built from ctx
// (nil: all zero, which is op BPF_SOCK_OPS_VOID on a socket that is not full).
func sockOpsContextIn(ctx []byte) ([]byte, error) {
	ops := engine.Memory(progtype.SockOpsSize)
	if ctx == nil {
		return ops, nil
	}
	if len(ctx) != progtype.SockOpsSize && len(ctx) != progtype.SockOpsSizeOld {
		return nil, fmt.Errorf("bpf_sock_ops context must be %d bytes (or %d, without skb_hwtstamp), got %d", progtype.SockOpsSize, progtype.SockOpsSizeOld, len(ctx))
	}
	copy(ops, ctx)
	for _, off := range []int{progtype.SockOpsSkOffset, progtype.SockOpsSKBDataOffset, progtype.SockOpsSKBDataEndOffset} {
		if binary.LittleEndian.Uint64(ops[off:]) != 0 {
			return nil, fmt.Errorf("bpf_sock_ops context: the pointer at offset %d must be 0 (there is no socket, and skb_data spans Data)", off)
		}
	}
	if binary.LittleEndian.Uint32(ops[progtype.SockOpsIsFullsockOffset:]) == 0 {
		for _, r := range progtype.SockOpsFullsockRanges {
			for i := r[0]; i < r[1]; i++ {
				if ops[i] != 0 {
					return nil, fmt.Errorf("bpf_sock_ops context: byte %d must be 0 when is_fullsock is 0 (Linux reads the TCP fields as 0 without a full socket)", i)
				}
			}
		}
	}
	return ops, nil
}

// sockOpsContextOut returns the bpf_sock_ops after a run, size bytes of it, without the
// runtime's pointers.
func sockOpsContextOut(ops []byte, size int) []byte {
	out := append([]byte(nil), ops[:size]...)
	clear(out[progtype.SockOpsSkOffset:progtype.SockOpsSKBLenOffset])
	if binary.LittleEndian.Uint32(out[progtype.SockOpsIsFullsockOffset:]) == 0 {
		// Without a full socket Linux drops stores to sk_txhash.
		clear(out[progtype.SockOpsTxhashOffset : progtype.SockOpsTxhashOffset+4])
	}
	return out
}

// sockOpsCBFlagsSet is bpf_sock_ops_cb_flags_set(ctx, flags) in a SOCK_OPS run: it sets
// the callback flags of the bpf_sock_ops the program was given (which its ctx argument
// must be) and returns what Linux returns.
func (inv *invocation) sockOpsCBFlagsSet(ctx, flags uint64) uint64 {
	if inv.sockOps == nil || ctx != uint64(uintptr(unsafe.Pointer(&inv.sockOps[0]))) {
		return neg(errnoEINVAL)
	}
	return uint64(progtype.SockOpsCBFlagsSet(inv.sockOps, int32(flags)))
}

// Linux's packet types (skb->pkt_type).
const (
	packetHost      = 0
	packetBroadcast = 1
	packetMulticast = 2
	packetOtherHost = 3
)

// newSKBuff builds the __sk_buff a test run gives: as for BPF_PROG_TEST_RUN on the
// loopback device, the Ethernet header is parsed, socket filters see the packet from the
// network header on, and tc programs from the Ethernet header.
func newSKBuff(frame []byte, t progtype.Type) *progtype.SKBuff {
	skb := &progtype.SKBuff{}
	put := func(off int, v uint32) { binary.LittleEndian.PutUint32(skb.Linux[off:], v) }
	base := uint64(uintptr(unsafe.Pointer(&frame[0])))
	start := uint64(ethHeaderLen)
	if t == progtype.SchedCls || t == progtype.SchedAct {
		start = 0
	}
	skb.Data, skb.DataMeta, skb.DataEnd = base+start, base+start, base+uint64(len(frame))
	put(0, uint32(uint64(len(frame))-start))                  // len
	put(16, uint32(binary.LittleEndian.Uint16(frame[12:14]))) // protocol, network order
	dst := frame[:6]
	switch {
	case bytes.Equal(dst, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}):
		put(4, packetBroadcast)
	case dst[0]&1 != 0:
		put(4, packetMulticast)
	case bytes.Equal(dst, make([]byte, 6)): // the loopback device's address
		put(4, packetHost)
	default:
		put(4, packetOtherHost)
	}
	put(40, 1) // ifindex: the loopback device
	return skb
}

// xdpContextIn checks an xdp_md given as input the way Linux does and returns the
// metadata length, ingress ifindex and rx queue.
func xdpContextIn(ctx []byte, size int) (meta int, ingress, rxQueue uint32, err error) {
	if ctx == nil {
		return 0, 1, 0, nil // the loopback device, queue 0
	}
	if len(ctx) != 24 {
		return 0, 0, 0, fmt.Errorf("xdp_md context must be 24 bytes, got %d", len(ctx))
	}
	u := func(off int) uint32 { return binary.LittleEndian.Uint32(ctx[off:]) }
	data, dataEnd, dataMeta := u(0), u(4), u(8)
	ingress, rxQueue = u(12), u(16)
	switch {
	case dataMeta != 0:
		return 0, 0, 0, errors.New("xdp_md context: data_meta must be 0")
	case int(dataEnd) != size || data > dataEnd:
		return 0, 0, 0, fmt.Errorf("xdp_md context: data_end must be the input size %d and data at most that", size)
	case data%4 != 0 || data > 32:
		return 0, 0, 0, fmt.Errorf("xdp_md context: metadata length %d must be a multiple of 4, at most 32", data)
	case u(20) != 0:
		return 0, 0, 0, errors.New("xdp_md context: egress_ifindex must be 0")
	case ingress == 0 && rxQueue != 0, ingress > 1, rxQueue > 0:
		return 0, 0, 0, fmt.Errorf("xdp_md context: no device %d with rx queue %d (test runs see only the loopback device, 1, queue 0)", ingress, rxQueue)
	}
	return int(data), ingress, rxQueue, nil
}

// skbCtxInputs are the __sk_buff fields a test run takes from ctx_in, as [offset, end).
var skbCtxInputs = [][2]int{{8, 12}, {32, 44}, {48, 68}, {152, 168}, {176, 180}, {184, 192}}

func skbContextIn(skb *progtype.SKBuff, ctx []byte) error {
	if ctx == nil {
		return nil
	}
	if len(ctx) != 192 {
		return fmt.Errorf("__sk_buff context must be 192 bytes, got %d", len(ctx))
	}
	allowed := make([]bool, 192)
	for _, r := range skbCtxInputs {
		for i := r[0]; i < r[1]; i++ {
			allowed[i] = true
		}
	}
	for i, b := range ctx {
		if b != 0 && !allowed[i] {
			return fmt.Errorf("__sk_buff context: byte %d must be 0 (only mark, priority, ingress_ifindex, ifindex, cb, tstamp, wire_len, gso_segs, gso_size and hwtstamp are inputs)", i)
		}
	}
	u := func(off int) uint32 { return binary.LittleEndian.Uint32(ctx[off:]) }
	if ifindex := u(40); ifindex > 1 {
		return fmt.Errorf("__sk_buff context: no device %d (test runs see only the loopback device, 1)", ifindex)
	}
	if wire := u(160); wire != 0 && wire < binary.LittleEndian.Uint32(skb.Linux[0:]) {
		return fmt.Errorf("__sk_buff context: wire_len %d is shorter than the packet", wire)
	}
	for _, r := range skbCtxInputs {
		copy(skb.Linux[r[0]:r[1]], ctx[r[0]:r[1]])
	}
	if u(160) == 0 { // wire_len defaults to the length
		binary.LittleEndian.PutUint32(skb.Linux[160:], binary.LittleEndian.Uint32(skb.Linux[0:]))
	}
	if u(40) == 0 {
		binary.LittleEndian.PutUint32(skb.Linux[40:], 1)
	}
	return nil
}

// skbContextOut returns the __sk_buff fields a test run reports in ctx_out.
func skbContextOut(skb *progtype.SKBuff) []byte {
	out := make([]byte, 192)
	for _, r := range skbCtxInputs {
		copy(out[r[0]:r[1]], skb.Linux[r[0]:r[1]])
	}
	return out
}

// spans lays out the memory a bind_md or process_md points into: the first span (the
// application id, or the command line), then the second (the image path), then zeros.
// The verifier knows one packet per context, so it checks an access from either span's
// start against either span's end: the buffer is long enough for both spans to be read
// as far as the longer one reaches, and never empty, so that the pointers are real even
// when both spans are.
func spans(first, second []byte) []byte {
	longest := max(len(first), len(second), 1)
	buf := engine.Memory(len(first) + longest)
	copy(buf, first)
	copy(buf[len(first):], second)
	return buf
}
