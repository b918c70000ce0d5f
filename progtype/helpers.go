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
