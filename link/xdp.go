package link

import (
	"errors"
	"fmt"

	"github.com/anybpf/anybpf"
	"github.com/anybpf/anybpf/internal/xdp"
)

// XDPOptions configure an XDP attachment (see AttachXDP).
type XDPOptions struct {
	// Interface is the name of the interface whose received frames the program sees.
	Interface string
	// Peer names the interface the frames the program passes are sent out of, making
	// the datapath a bump in the wire between Interface and Peer (frames Peer receives
	// go back out of Interface, through Peer's own programs if it has any). Without a
	// peer, XDP_PASS leaves the frame to the host, which has already received it:
	// AF_PACKET sees a copy of what the kernel delivers, so XDP_DROP cannot keep a frame
	// from the host either. Real drop semantics need a peer.
	Peer string
	// TAP, instead of Peer, names a TAP device that the datapath creates and makes the
	// peer: frames the program passes reach the host through it, and what the host sends
	// out of it leaves through Interface. Interface must then have no addresses and ARP
	// off (ip link set IFACE arp off), so that the kernel ignores its own copy of each
	// frame; the host's addresses go on the TAP device. XDP_DROP then keeps frames from
	// the host.
	TAP string
	// Priority orders the programs on one interface: lower runs first; the first
	// verdict other than XDP_PASS wins.
	Priority int
	// Workers is the number of receive workers per interface (0: one per CPU). It takes
	// effect when the interface is first attached.
	Workers int
}

// XDPStats count what happened to the frames an interface received.
type XDPStats = xdp.Stats

// XDPLink is an XDP program attached to an interface.
type XDPLink struct {
	a *xdp.Attachment
}

// AttachXDP runs prog, an XDP program, on every frame opts.Interface receives (found
// in the network namespace of the calling thread), in anybpf's user-space datapath:
// frames arrive through AF_PACKET memory-mapped rings, spread over workers, and the
// program's verdicts take effect: XDP_DROP discards the frame, XDP_PASS sends it out of
// the peer interface (if there is one), XDP_TX sends it back out of opts.Interface, and
// XDP_REDIRECT (bpf_redirect, bpf_redirect_map with a devmap) out of another interface
// of the datapath. bpf_xdp_adjust_head, _tail and _meta change the frame that is sent.
//
// The interfaces should carry only what anybpf moves: no addresses, bridges or routes,
// and, for veth pairs, checksum and segmentation offload off on the other ends (the
// datapath finishes checksums the sender left to the hardware, but cannot split the
// large segments of TCP segmentation offload).
//
// It returns an error wrapping ErrNotSupported on platforms other than Linux.
func AttachXDP(prog *anybpf.Program, opts XDPOptions) (*XDPLink, error) {
	a, err := xdp.Attach(prog, xdp.Options{Interface: opts.Interface, Peer: opts.Peer, TAP: opts.TAP, Priority: opts.Priority, Workers: opts.Workers})
	if errors.Is(err, xdp.ErrNotSupported) {
		return nil, fmt.Errorf("%w: %w", ErrNotSupported, err)
	}
	if err != nil {
		return nil, err
	}
	return &XDPLink{a: a}, nil
}

// Info describes the attachment; Target is the interface, with "<->PEER" appended in
// bump-in-the-wire mode.
func (l *XDPLink) Info() Info {
	prog, iface, peer := l.a.Info()
	if peer != "" {
		iface += "<->" + peer
	}
	return Info{AttachType: "xdp", Program: prog, Target: iface}
}

// Stats returns the counts of the attachment's interface.
func (l *XDPLink) Stats() XDPStats { return l.a.Stats() }

// Close detaches the program. The interface's workers stop and its sockets and rings
// are freed when no other program is attached to it and no attachment uses it as a peer.
func (l *XDPLink) Close() error { return l.a.Close() }

var _ Link = (*XDPLink)(nil)
