// Package xdp is anybpf's XDP datapath on real network interfaces: frames arrive through
// AF_PACKET sockets with TPACKET_V3 memory-mapped receive rings, spread over workers with
// PACKET_FANOUT, and each worker runs the attached programs on its frames with the
// runtime's per-frame XDP invocation (anybpf.XDPFrame, the one test runs use). The
// verdicts take effect:
//
//   - XDP_DROP (and XDP_ABORTED, errors and unknown verdicts): the frame goes nowhere.
//   - XDP_PASS: with a peer interface, the frame is sent out of the peer (a bump in the
//     wire); without one, nothing is done: the kernel has already delivered its own copy
//     of the frame to the host, which AF_PACKET cannot prevent. So XDP_DROP stops a frame
//     only in bump-in-the-wire mode, on interfaces whose traffic nothing but anybpf
//     moves (no bridge, no routing, no addresses on them).
//   - XDP_TX: the frame, as the program left it, goes back out of the interface it came
//     in on.
//   - XDP_REDIRECT: bpf_redirect(ifindex) and bpf_redirect_map with a devmap or devmap
//     hash send the frame out of another interface of the datapath (attached, or the
//     peer of an attachment); to any other interface the frame is dropped and counted.
//
// Several programs on one interface run in order of priority (lowest first, then in
// the order attached); the first verdict other than XDP_PASS wins, as libxdp's
// dispatcher does by default. A peer interface that has no program of its own forwards
// what it receives back to the interface it is the peer of, so the wire carries both
// directions.
package xdp

import "errors"

// Options configure an attachment.
type Options struct {
	// Interface is the name of the interface whose received frames the program sees.
	Interface string
	// Peer names the interface frames the program passes are sent out of (bump in the
	// wire). Empty: passed frames are left to the host.
	Peer string
	// TAP names a TAP device the datapath creates (or shares, when another attachment
	// made it) and uses as the peer: frames the program passes go to the host through
	// it, and what the host sends out of it goes out of Interface. For the host to see
	// Interface's traffic only through the program, Interface must have no addresses and
	// ARP off (ip link set IFACE arp off); the host's addresses go on the TAP device.
	// Not together with Peer.
	TAP string
	// Priority orders the programs of one interface: lower runs first.
	Priority int
	// Workers is the number of receive workers (sockets in one fanout group) per
	// interface; 0 means one per CPU. It takes effect when the interface is first
	// attached; later attachments share the workers.
	Workers int
	// FrameSize is the largest frame (without the 256 bytes of XDP headroom) the
	// datapath receives; longer frames are dropped and counted as truncated. 0 means
	// 2048 - 256 (enough for a 1500-byte MTU with VLAN tags).
	FrameSize int
	// RingSize is the size in bytes of each worker's receive ring (in blocks of 256 KiB);
	// a larger ring rides out longer moments in which the worker does not get the CPU.
	// 0 means 8 MiB (about 50,000 small frames). It takes effect with Workers.
	RingSize int
}

// Stats count what happened to the frames one interface received.
type Stats struct {
	Received   uint64 // frames the workers took from the ring
	Passed     uint64 // XDP_PASS verdicts
	Dropped    uint64 // XDP_DROP verdicts
	Aborted    uint64 // XDP_ABORTED, unknown verdicts and program errors
	Transmit   uint64 // XDP_TX verdicts
	Redirected uint64 // XDP_REDIRECT verdicts sent on
	Forwarded  uint64 // passed frames sent out of the peer
	Truncated  uint64 // frames longer than the frame size, dropped
	SendErrors uint64 // frames the kernel refused to send, and redirects nowhere
	RingDrops  uint64 // frames the kernel could not put in a full ring (PACKET_STATISTICS)
}

// Sentinel errors.
var (
	// ErrNotSupported is returned where there is no AF_PACKET (other than Linux).
	ErrNotSupported = errors.New("xdp datapath: not supported on this platform")
	// ErrPeerConflict is returned when an interface is given a peer other than the one
	// it already has.
	ErrPeerConflict = errors.New("xdp datapath: interface already has another peer")
	// ErrInvalidOptions is returned for options that cannot work.
	ErrInvalidOptions = errors.New("xdp datapath: invalid options")
)

// XDP verdicts, Linux's values.
const (
	Aborted  = 0
	Drop     = 1
	Pass     = 2
	TX       = 3
	Redirect = 4
)
