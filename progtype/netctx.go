package progtype

import (
	"fmt"
	"strings"
)

// Context descriptors of Linux's networking program types beyond XDP, socket filters, tc
// and sock_ops: cgroup_skb, sk_skb, lwt_*, flow_dissector (each a view of __sk_buff),
// sk_msg, sk_reuseport and sk_lookup, with the access rules of the kernel's
// *_is_valid_access functions in net/core/filter.c.

// KernelPointer is the kind of a context field that points to a kernel object other
// than a socket: __sk_buff.flow_keys (struct bpf_flow_keys, FlowKeysContext describes
// it; Linux's PTR_TO_FLOW_KEYS) and args[0] of RAW_TRACEPOINT_WRITABLE programs (the
// tracepoint's buffer, PTR_TO_TP_BUFFER). The field's name says which. Like
// SocketPointer, nothing in anybpf's runtime stands behind it yet. Its value is far from
// the kinds of context.go so that new kinds there never collide with it.
const KernelPointer FieldKind = 0x100

// skbField is one field of struct __sk_buff with bpf_skb_is_valid_access's rules.
type skbField struct {
	name      string
	off, size int
	// exact: read (and written) whole only, never in parts; otherwise reads may take
	// any aligned part and writes must be 4 bytes (cb: any aligned part both ways).
	exact bool
	kind  FieldKind
	// realOff is where the runtime's SKBuff keeps it, when not at off.
	realOff, realSize int
}

// skbFields are struct __sk_buff's fields as bpf_skb_is_valid_access reads them
// (offsets from linux/bpf.h). The ip addresses are read 4 bytes at a time, element by
// element; tstamp, hwtstamp and the pointers whole; tstamp_type (a u8 that only tc
// programs read) and the padding after it not at all.
var skbFields = func() []skbField {
	fs := []skbField{
		{name: "len", off: 0}, {name: "pkt_type", off: 4}, {name: "mark", off: 8},
		{name: "queue_mapping", off: 12}, {name: "protocol", off: 16}, {name: "vlan_present", off: 20},
		{name: "vlan_tci", off: 24}, {name: "vlan_proto", off: 28}, {name: "priority", off: 32},
		{name: "ingress_ifindex", off: 36}, {name: "ifindex", off: 40}, {name: "tc_index", off: 44},
		{name: "cb", off: 48, size: 20}, {name: "hash", off: 68}, {name: "tc_classid", off: 72},
		{name: "data", off: 76, exact: true, kind: PacketStart, realOff: 192, realSize: 8},
		{name: "data_end", off: 80, exact: true, kind: PacketEnd, realOff: 200, realSize: 8},
		{name: "napi_id", off: 84}, {name: "family", off: 88},
		{name: "remote_ip4", off: 92, exact: true}, {name: "local_ip4", off: 96, exact: true},
	}
	for i := 0; i < 4; i++ {
		fs = append(fs, skbField{name: fmt.Sprintf("remote_ip6[%d]", i), off: 100 + 4*i, exact: true})
	}
	for i := 0; i < 4; i++ {
		fs = append(fs, skbField{name: fmt.Sprintf("local_ip6[%d]", i), off: 116 + 4*i, exact: true})
	}
	fs = append(fs,
		skbField{name: "remote_port", off: 132}, skbField{name: "local_port", off: 136},
		skbField{name: "data_meta", off: 140, exact: true, kind: PacketMeta, realOff: 208, realSize: 8},
		skbField{name: "flow_keys", off: 144, size: 8, exact: true, kind: KernelPointer},
		skbField{name: "tstamp", off: 152, size: 8, exact: true},
		skbField{name: "wire_len", off: 160}, skbField{name: "gso_segs", off: 164},
		skbField{name: "sk", off: 168, size: 8, exact: true, kind: SocketPointer},
		skbField{name: "gso_size", off: 176},
		skbField{name: "hwtstamp", off: 184, size: 8, exact: true},
	)
	for i := range fs {
		if fs[i].size == 0 {
			fs[i].size = 4
		}
		if fs[i].realSize == 0 {
			fs[i].realOff, fs[i].realSize = fs[i].off, fs[i].size
		}
	}
	return fs
}()

// skbView returns __sk_buff as a program type sees it: every field of skbFields but
// those in deny, writable where in write. Pointer fields are read-only whatever write
// says.
func skbView(name string, deny, write []string) *Context {
	in := func(list []string, n string) bool {
		for _, s := range list {
			if n == s || strings.HasPrefix(n, s+"[") {
				return true
			}
		}
		return false
	}
	c := &Context{Name: name, Size: SKBuffContext.Size, RealSize: SKBuffContext.RealSize}
	for _, sf := range skbFields {
		if in(deny, sf.name) || sf.name == "flow_keys" {
			continue
		}
		f := Field{Name: sf.name, Offset: sf.off, Size: sf.size, RealOffset: sf.realOff, RealSize: sf.realSize, Kind: sf.kind}
		f.Writable = sf.kind == Scalar && in(write, sf.name)
		if !sf.exact {
			f.Narrow = true
			if f.Writable && sf.name != "cb" {
				f.MinWrite = 4
			}
		}
		c.Fields = append(c.Fields, f)
	}
	return c
}

// sockFieldNames are __sk_buff's fields from family to local_port, which socket
// filters, tc and lwt programs cannot read.
var sockFieldNames = []string{"family", "remote_ip4", "local_ip4", "remote_ip6", "local_ip6", "remote_port", "local_port"}

// CgroupSKBContext is __sk_buff for CGROUP_SKB programs (cg_skb_is_valid_access): no
// tc_classid, data_meta or wire_len; data and data_end give the packet (Linux requires
// CAP_BPF for them); mark, priority, cb and tstamp are writable (tstamp needs
// CAP_SYS_ADMIN in Linux). The socket fields from family to local_port, sk and hwtstamp
// are readable.
var CgroupSKBContext = skbView("__sk_buff (cgroup_skb)",
	[]string{"tc_classid", "data_meta", "wire_len"},
	[]string{"mark", "priority", "cb", "tstamp"})

// SKSKBContext is __sk_buff for SK_SKB programs (sk_skb_is_valid_access): no
// tc_classid, data_meta, tstamp, wire_len, hwtstamp or mark; tc_index and priority are
// the only writable fields; data and data_end give the packet.
var SKSKBContext = skbView("__sk_buff (sk_skb)",
	[]string{"tc_classid", "data_meta", "tstamp", "wire_len", "hwtstamp", "mark"},
	[]string{"tc_index", "priority"})

// LWTContext is __sk_buff for LWT_IN, LWT_OUT, LWT_XMIT and LWT_SEG6LOCAL programs
// (lwt_is_valid_access): no tc_classid, socket fields (family to local_port),
// data_meta, tstamp, wire_len or hwtstamp; mark, priority and cb are writable; data and
// data_end give the packet.
var LWTContext = skbView("__sk_buff (lwt)",
	append([]string{"tc_classid", "data_meta", "tstamp", "wire_len", "hwtstamp"}, sockFieldNames...),
	[]string{"mark", "priority", "cb"})

// FlowDissectorContext is __sk_buff for FLOW_DISSECTOR programs
// (flow_dissector_is_valid_access): only data and data_end (4 bytes each, the packet)
// and flow_keys (8 bytes, a pointer to struct bpf_flow_keys, see FlowKeysContext), all
// read-only.
var FlowDissectorContext = func() *Context {
	c := &Context{Name: "__sk_buff (flow_dissector)", Size: SKBuffContext.Size, RealSize: SKBuffContext.RealSize}
	for _, sf := range skbFields {
		switch sf.name {
		case "data", "data_end", "flow_keys":
			c.Fields = append(c.Fields, Field{Name: sf.name, Offset: sf.off, Size: sf.size, RealOffset: sf.realOff, RealSize: sf.realSize, Kind: sf.kind})
		}
	}
	return c
}()

// FlowKeysSize is the size of struct bpf_flow_keys.
const FlowKeysSize = 56

// FlowKeysContext is struct bpf_flow_keys, which __sk_buff.flow_keys points to in flow
// dissector programs. Linux's check_flow_keys_access lets them read and write any bytes
// inside its 56 bytes at a constant offset; the descriptor is one field that takes every
// access aligned to its size (FlowKeysOffsets names the members).
var FlowKeysContext = &Context{
	Name: "bpf_flow_keys", Size: FlowKeysSize, RealSize: FlowKeysSize,
	Fields: []Field{
		sameLayout(Field{Name: "flow_keys", Offset: 0, Size: FlowKeysSize, Writable: true, Narrow: true}),
	},
}

// FlowKeysOffsets are the offsets of struct bpf_flow_keys's members (linux/bpf.h).
var FlowKeysOffsets = map[string]int{
	"nhoff": 0, "thoff": 2, "addr_proto": 4, "is_frag": 6, "is_first_frag": 7, "is_encap": 8,
	"ip_proto": 9, "n_proto": 10, "sport": 12, "dport": 14, "ipv4_src": 16, "ipv4_dst": 20,
	"ipv6_src": 16, "ipv6_dst": 32, "flags": 48, "flow_label": 52,
}

// u32Array returns n 4-byte fields name[0..n-1] from off, with the given narrowness.
func u32Array(name string, off, n int, narrow bool) []Field {
	var fs []Field
	for i := 0; i < n; i++ {
		fs = append(fs, sameLayout(Field{Name: fmt.Sprintf("%s[%d]", name, i), Offset: off + 4*i, Size: 4, Narrow: narrow}))
	}
	return fs
}

// SKMsgContextSize is the size of struct sk_msg_md.
const SKMsgContextSize = 80

// SKMsgContext is struct sk_msg_md, for SK_MSG programs (sk_msg_is_valid_access): data
// and data_end (the message, 8-byte pointers) and sk (the socket) are read as 8 bytes,
// every other field as exactly 4; nothing is written. The runtime would keep Linux's
// layout.
var SKMsgContext = func() *Context {
	c := &Context{Name: "sk_msg_md", Size: SKMsgContextSize, RealSize: SKMsgContextSize}
	c.Fields = append(c.Fields,
		sameLayout(Field{Name: "data", Offset: 0, Size: 8, Kind: PacketStart}),
		sameLayout(Field{Name: "data_end", Offset: 8, Size: 8, Kind: PacketEnd}),
		sameLayout(Field{Name: "family", Offset: 16, Size: 4}),
		sameLayout(Field{Name: "remote_ip4", Offset: 20, Size: 4}),
		sameLayout(Field{Name: "local_ip4", Offset: 24, Size: 4}),
	)
	c.Fields = append(c.Fields, u32Array("remote_ip6", 28, 4, false)...)
	c.Fields = append(c.Fields, u32Array("local_ip6", 44, 4, false)...)
	c.Fields = append(c.Fields,
		sameLayout(Field{Name: "remote_port", Offset: 60, Size: 4}),
		sameLayout(Field{Name: "local_port", Offset: 64, Size: 4}),
		sameLayout(Field{Name: "size", Offset: 68, Size: 4}),
		sameLayout(Field{Name: "sk", Offset: 72, Size: 8, Kind: SocketPointer}),
	)
	return c
}()

// SKReuseportContextSize is the size of struct sk_reuseport_md.
const SKReuseportContextSize = 56

// SKReuseportContext is struct sk_reuseport_md, for SK_REUSEPORT programs
// (sk_reuseport_is_valid_access), read-only: data and data_end (the packet from the
// transport header), sk and migrating_sk (sockets) read as 8 bytes, hash as 4; len,
// ip_protocol and bind_inany also in aligned parts; eth_protocol as 4 bytes or either
// half (never a single byte, since the kernel's field is 2 bytes).
var SKReuseportContext = &Context{
	Name: "sk_reuseport_md", Size: SKReuseportContextSize, RealSize: SKReuseportContextSize,
	Fields: []Field{
		sameLayout(Field{Name: "data", Offset: 0, Size: 8, Kind: PacketStart}),
		sameLayout(Field{Name: "data_end", Offset: 8, Size: 8, Kind: PacketEnd}),
		sameLayout(Field{Name: "len", Offset: 16, Size: 4, Narrow: true}),
		sameLayout(Field{Name: "eth_protocol", Offset: 20, Size: 4}),
		sameLayout(Field{Name: "eth_protocol", Offset: 20, Size: 2}),
		sameLayout(Field{Name: "eth_protocol", Offset: 22, Size: 2}),
		sameLayout(Field{Name: "ip_protocol", Offset: 24, Size: 4, Narrow: true}),
		sameLayout(Field{Name: "bind_inany", Offset: 28, Size: 4, Narrow: true}),
		sameLayout(Field{Name: "hash", Offset: 32, Size: 4}),
		sameLayout(Field{Name: "sk", Offset: 40, Size: 8, Kind: SocketPointer}),
		sameLayout(Field{Name: "migrating_sk", Offset: 48, Size: 8, Kind: SocketPointer}),
	},
}

// SKLookupContextSize is the size of struct bpf_sk_lookup.
const SKLookupContextSize = 72

// SKLookupContext is struct bpf_sk_lookup, for SK_LOOKUP programs
// (sk_lookup_is_valid_access), read-only: sk (the selected socket, or in a union the
// cookie of a test run) as 8 bytes; the u32 fields, including each element of the ip6
// arrays, whole or in aligned parts; remote_port, a __be16, as 4 bytes (with the zero
// padding after it) or in aligned parts of its 2 bytes, and the padding itself in
// aligned parts.
var SKLookupContext = func() *Context {
	c := &Context{Name: "bpf_sk_lookup", Size: SKLookupContextSize, RealSize: SKLookupContextSize}
	c.Fields = append(c.Fields,
		sameLayout(Field{Name: "sk", Offset: 0, Size: 8, Kind: SocketPointer}),
		sameLayout(Field{Name: "family", Offset: 8, Size: 4, Narrow: true}),
		sameLayout(Field{Name: "protocol", Offset: 12, Size: 4, Narrow: true}),
		sameLayout(Field{Name: "remote_ip4", Offset: 16, Size: 4, Narrow: true}),
	)
	c.Fields = append(c.Fields, u32Array("remote_ip6", 20, 4, true)...)
	c.Fields = append(c.Fields,
		sameLayout(Field{Name: "remote_port", Offset: 36, Size: 4}),
		sameLayout(Field{Name: "remote_port", Offset: 36, Size: 2, Narrow: true}),
		sameLayout(Field{Name: "remote_port padding", Offset: 38, Size: 2, Narrow: true}),
		sameLayout(Field{Name: "local_ip4", Offset: 40, Size: 4, Narrow: true}),
	)
	c.Fields = append(c.Fields, u32Array("local_ip6", 44, 4, true)...)
	c.Fields = append(c.Fields,
		sameLayout(Field{Name: "local_port", Offset: 60, Size: 4, Narrow: true}),
		sameLayout(Field{Name: "ingress_ifindex", Offset: 64, Size: 4, Narrow: true}),
	)
	return c
}()
