package progtype

import (
	"errors"
	"fmt"
)

// ErrHelperNotAllowed is wrapped by errors about a program calling a helper its type does
// not offer.
var ErrHelperNotAllowed = errors.New("helper not offered to this program type")

var skbTypes = []Type{SocketFilter, SchedCls, SchedAct, CgroupSKB, SKSKB, LWTIn, LWTOut, LWTXmit, LWTSeg6local, FlowDissector}
var tcTypes = []Type{SchedCls, SchedAct}

// sockoptTypes offer bpf_setsockopt and bpf_getsockopt (sock_ops; cgroup sock_addr and
// sock hooks; the BTF-typed variants of lsm_cgroup, struct_ops and iterators).
var sockoptTypes = []Type{SockOps, CgroupSockAddr, CgroupSock, LSM, StructOps, Tracing}

// cookieTypes offer bpf_get_socket_cookie: those whose context leads to a socket, and
// the BTF-typed variant for tracing, lsm and sk_reuseport programs. XDP, flow dissector
// and lwt programs lack it.
var cookieTypes = []Type{SocketFilter, SchedCls, SchedAct, CgroupSKB, CgroupSock, CgroupSockAddr,
	SockOps, SKSKB, SKMsg, SKReuseport, Tracing, LSM}

// restricted lists the helpers (by Linux name) that only some program types offer, as in
// Linux's per-type helper tables; a helper not listed here is offered to every type
// anybpf runs.
var restricted = map[string][]Type{
	"xdp_adjust_head":       {XDP},
	"xdp_adjust_tail":       {XDP},
	"xdp_adjust_meta":       {XDP},
	"redirect_map":          {XDP},
	"xdp_output":            {XDP},
	"redirect":              append([]Type{XDP, LWTXmit}, tcTypes...),
	"skb_load_bytes":        skbTypes,
	"skb_store_bytes":       append([]Type{LWTXmit, SKSKB}, tcTypes...),
	"l3_csum_replace":       append([]Type{LWTXmit}, tcTypes...),
	"l4_csum_replace":       append([]Type{LWTXmit}, tcTypes...),
	"clone_redirect":        append([]Type{LWTXmit}, tcTypes...),
	"skb_vlan_push":         tcTypes,
	"skb_vlan_pop":          tcTypes,
	"skb_change_proto":      tcTypes,
	"skb_change_type":       tcTypes,
	"skb_change_tail":       append([]Type{SKSKB}, tcTypes...),
	"skb_change_head":       append([]Type{SKSKB}, tcTypes...),
	"skb_adjust_room":       append([]Type{SKSKB}, tcTypes...),
	"skb_pull_data":         append([]Type{SKSKB, LWTXmit}, tcTypes...),
	"get_socket_uid":        append([]Type{SocketFilter, CgroupSKB}, tcTypes...),
	"sock_ops_cb_flags_set": {SockOps},
	"sock_map_update":       {SockOps},
	"sock_hash_update":      {SockOps},
	"load_hdr_opt":          {SockOps},
	"store_hdr_opt":         {SockOps},
	"reserve_hdr_opt":       {SockOps},
	"setsockopt":            sockoptTypes,
	"getsockopt":            sockoptTypes,
	"get_socket_cookie":     cookieTypes,
	"tcp_sock":              append([]Type{CgroupSKB, SockOps}, tcTypes...),
	"override_return":       {Kprobe},
}

// CheckHelper returns an error naming the helper when programs of type t cannot call it.
func CheckHelper(t Type, helper string) error {
	allowed, ok := restricted[helper]
	if !ok || t == Unspec {
		return nil
	}
	for _, a := range allowed {
		if a == t {
			return nil
		}
	}
	return fmt.Errorf("%w: bpf_%s is not offered to %s programs", ErrHelperNotAllowed, helper, t)
}
