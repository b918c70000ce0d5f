package progtype

import "encoding/binary"

// ebpf-for-windows programs read their context in ebpf-for-windows's layouts and return
// its verdict numbers. anybpf runs them on the same runtime structs as Linux programs:
// the descriptors here map ebpf-for-windows's field offsets onto those structs (with a
// few bytes after the Linux fields for what Linux has no field for), and WindowsVerdict
// translates the return value.

// WindowsXDPContext is ebpf-for-windows's xdp_md: 64-bit packet pointers and the ingress
// interface, on the runtime's XDPMD.
var WindowsXDPContext = &Context{
	Name: "xdp_md (ebpf-for-windows)", Size: 32, RealSize: 40,
	Fields: []Field{
		{Name: "data", Offset: 0, Size: 8, RealOffset: 0, RealSize: 8, Kind: PacketStart},
		{Name: "data_end", Offset: 8, Size: 8, RealOffset: 8, RealSize: 8, Kind: PacketEnd},
		{Name: "data_meta", Offset: 16, Size: 8, RealOffset: 16, RealSize: 8, Kind: PacketMeta},
		{Name: "ingress_ifindex", Offset: 24, Size: 4, RealOffset: 24, RealSize: 4, Narrow: true},
	},
}

// Where the ebpf-for-windows bpf_sock_addr fields that Linux's lacks live in the runtime's
// struct: after Linux's 72 bytes.
const (
	winSockAddrSrcPort     = 72
	winSockAddrCompartment = 76
	winSockAddrLUID        = 80
)

// WindowsSockAddrContext is ebpf-for-windows's bpf_sock_addr (64 bytes) on the runtime's
// Linux bpf_sock_addr. Linux's user_port holds the port in network order in its first two
// bytes, which is what ebpf-for-windows's 16-bit user_port reads.
var WindowsSockAddrContext = &Context{
	Name: "bpf_sock_addr (ebpf-for-windows)", Size: 64, RealSize: 88,
	Fields: []Field{
		{Name: "family", Offset: 0, Size: 4, RealOffset: 0, RealSize: 4},
		{Name: "msg_src_ip4", Offset: 4, Size: 4, RealOffset: 40, RealSize: 4, Narrow: true},
		{Name: "msg_src_ip6", Offset: 4, Size: 16, RealOffset: 44, RealSize: 16, Narrow: true},
		{Name: "msg_src_port", Offset: 20, Size: 2, RealOffset: winSockAddrSrcPort, RealSize: 2},
		{Name: "user_ip4", Offset: 24, Size: 4, RealOffset: 4, RealSize: 4, Writable: true, Narrow: true},
		{Name: "user_ip6", Offset: 24, Size: 16, RealOffset: 8, RealSize: 16, Writable: true, Narrow: true},
		{Name: "user_port", Offset: 40, Size: 2, RealOffset: 24, RealSize: 2, Writable: true},
		{Name: "protocol", Offset: 44, Size: 4, RealOffset: 36, RealSize: 4},
		{Name: "compartment_id", Offset: 48, Size: 4, RealOffset: winSockAddrCompartment, RealSize: 4},
		{Name: "interface_luid", Offset: 56, Size: 8, RealOffset: winSockAddrLUID, RealSize: 8},
	},
}

// WindowsContextFor returns the descriptor of the context ebpf-for-windows programs of
// type t see, or nil when anybpf does not translate it (SOCK_OPS: its op numbers and port
// byte order differ from Linux's, not only its offsets). BIND and PROCESS are
// ebpf-for-windows's own types and have one layout.
func WindowsContextFor(t Type, a AttachType) *Context {
	switch t {
	case XDP:
		return WindowsXDPContext
	case CgroupSockAddr:
		return WindowsSockAddrContext
	case Bind:
		return BindContext
	case Process:
		return ProcessContext
	}
	return nil
}

// WindowsVerdict translates the return value of an ebpf-for-windows program of type t
// into Linux's meaning: XDP_PASS is 1 and XDP_DROP 2 there (Linux: 2 and 1), and sock_addr
// programs may return BPF_SOCK_ADDR_VERDICT_PROCEED_HARD (2), which allows like 1.
func WindowsVerdict(t Type, ret uint32) uint32 {
	switch t {
	case XDP:
		switch ret {
		case 1:
			return 2 // XDP_PASS
		case 2:
			return 1 // XDP_DROP
		case 3:
			return 3 // XDP_TX
		}
		return 0 // anything else aborts
	case CgroupSockAddr:
		if ret == 2 {
			return 1
		}
	}
	return ret
}

// WindowsSockAddrIn builds the runtime's bpf_sock_addr from an ebpf-for-windows one (64
// bytes), into real (WindowsSockAddrContext.RealSize bytes).
func WindowsSockAddrIn(win, real []byte) {
	for _, f := range WindowsSockAddrContext.Fields {
		if f.Name == "msg_src_ip4" || f.Name == "user_ip4" {
			continue // the first 4 bytes of the ip6 fields
		}
		copy(real[f.RealOffset:f.RealOffset+f.RealSize], win[f.Offset:f.Offset+f.Size])
	}
	// Linux's user_port is 32 bits; the upper half is zero.
	binary.LittleEndian.PutUint16(real[26:], 0)
}

// WindowsSockAddrOut is the reverse of WindowsSockAddrIn.
func WindowsSockAddrOut(real []byte) []byte {
	win := make([]byte, WindowsSockAddrContext.Size)
	for _, f := range WindowsSockAddrContext.Fields {
		if f.Name == "msg_src_ip4" || f.Name == "user_ip4" {
			continue
		}
		copy(win[f.Offset:f.Offset+f.Size], real[f.RealOffset:f.RealOffset+f.RealSize])
	}
	return win
}
