package anybpf

import (
	"fmt"
	"unsafe"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/progtype"
)

// XDPFrame is a reusable buffer that holds one network frame the way XDP programs see it,
// with XDPHeadroom bytes of headroom and as much tailroom, for running XDP programs on
// frames one at a time without allocating: the per-frame half of the XDP datapath
// (package link). Several programs may run on one frame in turn, each seeing what the
// previous one left, as programs chained on one interface do.
//
// An XDPFrame is used by one goroutine at a time.
type XDPFrame struct {
	inv   invocation
	buf   []byte
	size  int
	fixed int // the Env's regions every run keeps: the packet and the xdp_md
	r1    uint64
}

// NewXDPFrame returns a frame buffer for frames of up to size bytes.
func NewXDPFrame(size int) *XDPFrame {
	size = max(size, ethHeaderLen)
	f := &XDPFrame{size: size, buf: engine.Memory(XDPHeadroom + size + XDPHeadroom)}
	f.inv.env = engine.NewEnv()
	f.inv.env.Context = &f.inv
	return f
}

// MaxSize is the largest frame Reset accepts.
func (f *XDPFrame) MaxSize() int { return f.size }

// Reset makes the frame n bytes long, without metadata, received on the interface with
// index ingress at queue rxQueue, and returns its bytes for the caller to fill. n must be
// at least an Ethernet header (14) and at most MaxSize.
func (f *XDPFrame) Reset(n int, ingress, rxQueue uint32) ([]byte, error) {
	if n < ethHeaderLen || n > f.size {
		return nil, fmt.Errorf("%w: XDP frame of %d bytes (want %d to %d)", ErrInvalidInput, n, ethHeaderLen, f.size)
	}
	if f.inv.xdp == nil {
		f.r1 = f.inv.layXDP(f.buf, 0, n, ingress, rxQueue)
		f.fixed = len(f.inv.env.Regions())
	} else {
		f.inv.relayXDP(0, n, ingress, rxQueue) // the regions stay: same buffer
	}
	f.inv.redirect = nil
	return f.buf[XDPHeadroom : XDPHeadroom+n], nil
}

// Load is Reset followed by copying pkt into the frame.
func (f *XDPFrame) Load(pkt []byte, ingress, rxQueue uint32) error {
	b, err := f.Reset(len(pkt), ingress, rxQueue)
	if err != nil {
		return err
	}
	copy(b, pkt)
	return nil
}

func (f *XDPFrame) offset(p uint64) uint64 {
	return p - uint64(uintptr(unsafe.Pointer(&f.buf[0])))
}

// Data returns the frame as the programs that ran left it (after bpf_xdp_adjust_head and
// bpf_xdp_adjust_tail). It aliases the buffer: it is valid until the next Reset.
func (f *XDPFrame) Data() []byte {
	md := f.inv.xdp
	if md == nil {
		return nil
	}
	return f.buf[f.offset(md.Data):f.offset(md.DataEnd)]
}

// Metadata returns the metadata programs put before the frame with
// bpf_xdp_adjust_meta. It aliases the buffer like Data.
func (f *XDPFrame) Metadata() []byte {
	md := f.inv.xdp
	if md == nil {
		return nil
	}
	return f.buf[f.offset(md.DataMeta):f.offset(md.Data)]
}

// Redirect returns where the last program's bpf_redirect or bpf_redirect_map sent the
// frame, or nil.
func (f *XDPFrame) Redirect() *Redirect { return f.inv.redirect }

// RunXDP runs the XDP program p on f, once, and returns its verdict with Linux's values
// (XDP_ABORTED 0, XDP_DROP 1, XDP_PASS 2, XDP_TX 3, XDP_REDIRECT 4; ebpf-for-windows
// programs' verdicts are translated). It is the invocation test runs make, on a frame
// that lives on.
func (p *Program) RunXDP(f *XDPFrame) (uint32, error) {
	switch {
	case p.err != nil:
		return 0, fmt.Errorf("run %s: %w", p.Name, p.err)
	case p.closed.Load():
		return 0, fmt.Errorf("run %s: %w", p.Name, ErrClosed)
	case p.Type != progtype.XDP:
		return 0, fmt.Errorf("run %s: %w: RunXDP of a %s program", p.Name, ErrInvalidInput, p.Type)
	case f.inv.xdp == nil:
		return 0, fmt.Errorf("run %s: %w: XDPFrame not Reset", p.Name, ErrInvalidInput)
	}
	inv := &f.inv
	inv.rt = p.rt
	inv.env.TruncateRegions(f.fixed)
	for _, r := range p.regions {
		inv.env.AddRegion(r)
	}
	fixed := len(inv.env.Regions())
	g := p.rt.epochs.Enter()
	ret, err := inv.invoke(p, fixed, g.CPU(), f.r1, 0)
	g.Leave()
	if err != nil {
		return 0, fmt.Errorf("run %s: %w", inv.prog.Name, err)
	}
	if p.windows {
		ret = uint64(progtype.WindowsVerdict(p.Type, uint32(ret)))
	}
	return uint32(ret), nil
}
