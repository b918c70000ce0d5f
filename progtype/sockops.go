package progtype

import (
	"encoding/binary"
	"fmt"
)

// Sizes of struct bpf_sock_ops: Linux 6.2 appended skb_hwtstamp to the 216 bytes of
// earlier headers.
const (
	SockOpsSize    = 224
	SockOpsSizeOld = 216
)

// Offsets in struct bpf_sock_ops that the runtime fills in or acts on.
const (
	SockOpsOpOffset          = 0
	SockOpsReplyOffset       = 4
	SockOpsIsFullsockOffset  = 72
	SockOpsCBFlagsOffset     = 84
	SockOpsTxhashOffset      = 164
	SockOpsSkOffset          = 184
	SockOpsSKBDataOffset     = 192
	SockOpsSKBDataEndOffset  = 200
	SockOpsSKBLenOffset      = 208
	SockOpsSKBTCPFlagsOffset = 212
)

// SockOpsAllCBFlags is BPF_SOCK_OPS_ALL_CB_FLAGS: the callback flags
// bpf_sock_ops_cb_flags_set takes.
const SockOpsAllCBFlags = 0x7f

// SockOpsContext is struct bpf_sock_ops, for SOCK_OPS programs. The runtime's struct is
// Linux's (its pointer fields are 64-bit there too). Access rules are the kernel's
// sock_ops_is_valid_access: every field is read whole (4 bytes, or 8 for bytes_received,
// bytes_acked, skb_hwtstamp and the pointers), skb_tcp_flags also in aligned parts;
// stores go only to reply (args[0], replylong[0]) and sk_txhash, 4 bytes each. The
// elements of args, replylong, remote_ip6 and local_ip6 are fields of their own. sk, a
// pointer to the kernel's socket, cannot be loaded; skb_data and skb_data_end span the
// TCP header a callback sees (empty when there is none). Programs return 1 (ok); what a
// callback answers goes in reply.
var SockOpsContext = func() *Context {
	c := &Context{Name: "bpf_sock_ops", Size: SockOpsSize, RealSize: SockOpsSize}
	add := func(name string, off, size int, f Field) {
		f.Name, f.Offset, f.Size, f.RealOffset, f.RealSize = name, off, size, off, size
		c.Fields = append(c.Fields, f)
	}
	add("op", 0, 4, Field{})
	add("reply", SockOpsReplyOffset, 4, Field{Writable: true}) // args[0], replylong[0]
	for i := 1; i < 4; i++ {
		add(fmt.Sprintf("args[%d]", i), 4+4*i, 4, Field{})
	}
	add("family", 20, 4, Field{})
	add("remote_ip4", 24, 4, Field{})
	add("local_ip4", 28, 4, Field{})
	for i := 0; i < 4; i++ {
		add(fmt.Sprintf("remote_ip6[%d]", i), 32+4*i, 4, Field{})
	}
	for i := 0; i < 4; i++ {
		add(fmt.Sprintf("local_ip6[%d]", i), 48+4*i, 4, Field{})
	}
	for i, name := range []string{
		"remote_port", "local_port", "is_fullsock", "snd_cwnd", "srtt_us",
		"bpf_sock_ops_cb_flags", "state", "rtt_min", "snd_ssthresh", "rcv_nxt", "snd_nxt",
		"snd_una", "mss_cache", "ecn_flags", "rate_delivered", "rate_interval_us",
		"packets_out", "retrans_out", "total_retrans", "segs_in", "data_segs_in", "segs_out",
		"data_segs_out", "lost_out", "sacked_out",
	} {
		add(name, 64+4*i, 4, Field{})
	}
	add("sk_txhash", SockOpsTxhashOffset, 4, Field{Writable: true})
	add("bytes_received", 168, 8, Field{})
	add("bytes_acked", 176, 8, Field{})
	add("sk", SockOpsSkOffset, 8, Field{Kind: SocketPointer})
	add("skb_data", SockOpsSKBDataOffset, 8, Field{Kind: PacketStart})
	add("skb_data_end", SockOpsSKBDataEndOffset, 8, Field{Kind: PacketEnd})
	add("skb_len", SockOpsSKBLenOffset, 4, Field{})
	add("skb_tcp_flags", SockOpsSKBTCPFlagsOffset, 4, Field{Narrow: true})
	add("skb_hwtstamp", 216, 8, Field{})
	return c
}()

// SockOpsFullsockRanges are the [start, end) byte ranges of struct bpf_sock_ops that
// Linux reads from the TCP socket and so gives as zero when is_fullsock is 0 (a request
// or time-wait socket): snd_cwnd to bpf_sock_ops_cb_flags and rtt_min to bytes_acked.
var SockOpsFullsockRanges = [][2]int{{76, 88}, {92, 184}}

// SockOpsCBFlagsSet is bpf_sock_ops_cb_flags_set on the bpf_sock_ops image ctx (in the
// runtime's layout, which is Linux's): like the kernel it fails with -EINVAL without a
// full socket, stores the flags Linux knows (SockOpsAllCBFlags) in
// bpf_sock_ops_cb_flags, and returns the flags it did not know.
func SockOpsCBFlagsSet(ctx []byte, flags int32) int64 {
	const einval = 22
	if len(ctx) < SockOpsSizeOld || binary.LittleEndian.Uint32(ctx[SockOpsIsFullsockOffset:]) == 0 {
		return -einval
	}
	binary.LittleEndian.PutUint32(ctx[SockOpsCBFlagsOffset:], uint32(flags&SockOpsAllCBFlags))
	return int64(flags &^ SockOpsAllCBFlags)
}

// SockSize is the size of struct bpf_sock.
const SockSize = 80

// sockFields are struct bpf_sock's fields. access says which attach types reach a field
// and whether they may store to it, as Linux's __sock_filter_check_attach_type.
var sockFields = []struct {
	f      Field
	access func(a AttachType) (read, write bool)
}{
	{Field{Name: "bound_dev_if", Offset: 0, Size: 4}, sockCreateRW},
	{Field{Name: "family", Offset: 4, Size: 4, Narrow: true}, readOnly},
	{Field{Name: "type", Offset: 8, Size: 4, Narrow: true}, readOnly},
	{Field{Name: "protocol", Offset: 12, Size: 4, Narrow: true}, readOnly},
	{Field{Name: "mark", Offset: 16, Size: 4}, sockCreateRW},
	{Field{Name: "priority", Offset: 20, Size: 4}, sockCreateRW},
	{Field{Name: "src_ip4", Offset: 24, Size: 4, Narrow: true}, postBind(AttachCgroupInet4PostBind)},
	{Field{Name: "src_ip6", Offset: 28, Size: 16, Narrow: true}, postBind(AttachCgroupInet6PostBind)},
	{Field{Name: "src_port", Offset: 44, Size: 4, Narrow: true}, postBind(AttachCgroupInet4PostBind, AttachCgroupInet6PostBind)},
	// dst_port is a __be16 read in parts or, with the zero padding after it, as 4 bytes.
	{Field{Name: "dst_port", Offset: 48, Size: 2, Narrow: true}, readOnly},
	{Field{Name: "dst_port", Offset: 48, Size: 4}, readOnly},
	{Field{Name: "dst_ip4", Offset: 52, Size: 4, Narrow: true}, readOnly},
	{Field{Name: "dst_ip6", Offset: 56, Size: 16, Narrow: true}, readOnly},
	{Field{Name: "state", Offset: 72, Size: 4, Narrow: true}, readOnly},
	{Field{Name: "rx_queue_mapping", Offset: 76, Size: 4, Narrow: true}, readOnly},
}

func readOnly(AttachType) (bool, bool) { return true, false }

func sockCreateRW(a AttachType) (bool, bool) {
	ok := a == AttachCgroupInetSockCreate || a == AttachCgroupInetSockRelease
	return ok, ok
}

func postBind(types ...AttachType) func(AttachType) (bool, bool) {
	return func(a AttachType) (bool, bool) {
		for _, t := range types {
			if a == t {
				return true, false
			}
		}
		return false, false
	}
}

// SockContext is struct bpf_sock, for CGROUP_SOCK programs, with every field some attach
// type may read and writable where some attach type may write; ContextFor gives the
// fields of one attach type. The runtime keeps Linux's layout (80 bytes). Programs return
// 1 to allow the socket operation and 0 to refuse it.
var SockContext = sockContext(AttachNone)

// sockContext returns struct bpf_sock as CGROUP_SOCK programs of attach type a see it:
// sock_create and sock_release programs may set bound_dev_if, mark and priority;
// post_bind4 and post_bind6 programs read the bound address and port instead. AttachNone
// gives the union. The ip6 arrays are read in parts of up to 4 bytes.
func sockContext(a AttachType) *Context {
	c := &Context{Name: "bpf_sock", Size: SockSize, RealSize: SockSize}
	for _, sf := range sockFields {
		read, write := sf.access(a)
		if a == AttachNone {
			for _, b := range []AttachType{AttachCgroupInetSockCreate, AttachCgroupInet4PostBind, AttachCgroupInet6PostBind} {
				r, w := sf.access(b)
				read, write = read || r, write || w
			}
		}
		if !read {
			continue
		}
		f := sf.f
		f.RealOffset, f.RealSize, f.Writable = f.Offset, f.Size, write
		if f.Size == 16 {
			// Linux reads the u32 elements of src_ip6 and dst_ip6 one (or a part of
			// one) at a time: split them so that 8-byte loads find no field.
			for i := 0; i < 4; i++ {
				e := f
				e.Name = fmt.Sprintf("%s[%d]", f.Name, i)
				e.Offset, e.Size, e.RealOffset, e.RealSize = f.Offset+4*i, 4, f.Offset+4*i, 4
				c.Fields = append(c.Fields, e)
			}
			continue
		}
		c.Fields = append(c.Fields, f)
	}
	return c
}

// sockAddrContext returns struct bpf_sock_addr with the fields attach type a reaches, as Linux's
// sock_addr_is_valid_access: user_ip4 for the IPv4 hooks, user_ip6 for the IPv6 ones,
// msg_src_ip4 and msg_src_ip6 for sendmsg4 and sendmsg6 only. Every hook may rewrite the
// address fields it reaches.
func sockAddrContext(a AttachType) *Context {
	var v4, v6 bool
	switch a {
	case AttachCgroupInet4Bind, AttachCgroupInet4Connect, AttachCgroupUDP4Sendmsg, AttachCgroupUDP4Recvmsg,
		AttachCgroupInet4Getpeername, AttachCgroupInet4Getsockname:
		v4 = true
	case AttachCgroupInet6Bind, AttachCgroupInet6Connect, AttachCgroupUDP6Sendmsg, AttachCgroupUDP6Recvmsg,
		AttachCgroupInet6Getpeername, AttachCgroupInet6Getsockname:
		v6 = true
	default:
		// ebpf-for-windows's hooks and attach types anybpf does not know yet: every
		// field.
		return SockAddrContext
	}
	c := &Context{Name: SockAddrContext.Name, Size: SockAddrContext.Size, RealSize: SockAddrContext.RealSize}
	for _, f := range SockAddrContext.Fields {
		switch f.Name {
		case "user_ip4":
			if !v4 {
				continue
			}
		case "user_ip6":
			if !v6 {
				continue
			}
		case "msg_src_ip4":
			if a != AttachCgroupUDP4Sendmsg {
				continue
			}
		case "msg_src_ip6":
			if a != AttachCgroupUDP6Sendmsg {
				continue
			}
		}
		c.Fields = append(c.Fields, f)
	}
	return c
}

// ContextFor returns the context descriptor of programs of type t attached as a, or nil
// when anybpf does not describe that type yet. Where Linux decides field access by the
// expected attach type (CGROUP_SOCK_ADDR, CGROUP_SOCK) the descriptor follows it; for
// other types it is ContextOf(t). AttachNone (or an attach type the program type does not
// know) gives ContextOf(t).
func ContextFor(t Type, a AttachType) *Context {
	switch t {
	case CgroupSockAddr:
		return sockAddrContext(a)
	case CgroupSock:
		switch a {
		case AttachCgroupInetSockCreate, AttachCgroupInetSockRelease, AttachCgroupInet4PostBind, AttachCgroupInet6PostBind:
			return sockContext(a)
		}
	}
	if c := LinuxContextFor(t, a); c != nil {
		return c
	}
	return ContextOf(t)
}
