package anybpf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"time"
	"unsafe"

	"github.com/anybpf/anybpf/engine"
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
}

// invocation is what helpers know of the running program.
type invocation struct {
	rt       *Runtime
	prog     *Program // the program running now (changes with tail calls)
	tails    int      // tail calls taken in this run
	depth    int      // callbacks running
	cpu      int
	xdp      *progtype.XDPMD
	skb      *progtype.SKBuff
	redirect *Redirect // set by bpf_redirect and bpf_redirect_map
	frame    []byte    // the packet buffer with head- and tailroom
	env      *engine.Env
}

// Run runs the program as BPF_PROG_TEST_RUN does and returns its return value.
func (p *Program) Run(opts *RunOptions) (uint32, error) {
	if p.err != nil {
		return 0, fmt.Errorf("run %s: %w", p.Name, p.err)
	}
	if opts == nil {
		opts = &RunOptions{}
	}
	repeat := opts.Repeat
	if repeat == 0 {
		repeat = 1
	}
	env := engine.NewEnv()
	inv := &invocation{rt: p.rt, env: env}
	env.Context = inv
	for _, r := range p.regions {
		env.AddRegion(r)
	}
	var r1, r2 uint64
	var out func() []byte
	switch p.Type {
	case progtype.XDP:
		if len(opts.Data) < 14 {
			return 0, fmt.Errorf("run %s: XDP input must hold at least an Ethernet header (14 bytes), got %d", p.Name, len(opts.Data))
		}
		inv.frame = make([]byte, XDPHeadroom+len(opts.Data)+XDPHeadroom)
		copy(inv.frame[XDPHeadroom:], opts.Data)
		base := uint64(uintptr(unsafe.Pointer(&inv.frame[0])))
		inv.xdp = &progtype.XDPMD{Data: base + XDPHeadroom, DataMeta: base + XDPHeadroom, DataEnd: base + XDPHeadroom + uint64(len(opts.Data)), IngressIfindex: 1}
		env.AddRegion(engine.RegionOf("packet", inv.frame, true))
		ctx := unsafe.Slice((*byte)(unsafe.Pointer(inv.xdp)), unsafe.Sizeof(*inv.xdp))
		env.AddRegion(engine.RegionOf("xdp_md", ctx, false))
		r1 = uint64(uintptr(unsafe.Pointer(inv.xdp)))
		out = func() []byte {
			return inv.frame[inv.xdp.Data-base : inv.xdp.DataEnd-base]
		}
	case progtype.SocketFilter, progtype.SchedCls, progtype.SchedAct, progtype.CgroupSKB:
		if len(opts.Data) < ethHeaderLen {
			return 0, fmt.Errorf("run %s: skb input must hold at least an Ethernet header (14 bytes), got %d", p.Name, len(opts.Data))
		}
		inv.frame = append([]byte(nil), opts.Data...)
		skb := newSKBuff(inv.frame, p.Type)
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
	start := time.Now()
	for i := uint32(0); i < repeat; i++ {
		env.TruncateRegions(fixed) // drop the map values earlier runs looked up
		g := p.rt.epochs.Enter()
		inv.cpu, inv.prog, inv.tails, inv.redirect = g.CPU(), p, 0, nil
		var err error
		for {
			ret, err = inv.prog.code.Run(env, r1, r2)
			// An engine that could not switch to the tail call's target returns; the
			// helper has made it inv.prog already.
			if err != nil || env.TakeTailCall() == nil {
				break
			}
		}
		g.Leave()
		if err != nil {
			return 0, fmt.Errorf("run %s: %w", inv.prog.Name, err)
		}
	}
	opts.Duration = time.Since(start) / time.Duration(repeat)
	opts.Redirect = inv.redirect
	opts.DataOut = append(opts.DataOut[:0], out()...)
	runtime.KeepAlive(inv)
	return uint32(ret), nil
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
	put(40, 1)                   // ifindex: the loopback device
	put(160, uint32(len(frame))) // wire_len
	put(164, 1)                  // gso_segs
	return skb
}
