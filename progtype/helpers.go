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

// tracingTypes offer the helpers of Linux's bpf_tracing_func_proto and of the per-type
// tables built on it (kprobe_prog_func_proto, tp_prog_func_proto, pe_prog_func_proto,
// raw_tp_prog_func_proto, tracing_prog_func_proto, which LSM and SYSCALL programs reach
// too): reading user and kernel memory the old way, stacks, perf counters, signals.
var tracingTypes = []Type{Kprobe, Tracepoint, PerfEvent, RawTracepoint, RawTracepointWritable, Tracing, LSM, Syscall}

// btfTracingTypes offer the helpers that read a BTF-typed function's arguments.
var btfTracingTypes = []Type{Tracing, LSM}

// lwtTypes are the light-weight tunnel hooks; lwt_out_func_proto is the base of them all.
var lwtTypes = []Type{LWTIn, LWTOut, LWTXmit, LWTSeg6local}

// tcLWTTypes offer the skb helpers that tc and every lwt hook have and socket filters,
// cgroup_skb and sk_skb lack.
var tcLWTTypes = append(append([]Type{}, tcTypes...), lwtTypes...)

// restricted lists the helpers (by Linux name) that only some program types offer, as in
// Linux's per-type helper tables; a helper not listed here is offered to every type
// anybpf runs.
var restricted = map[string][]Type{
	"xdp_adjust_head":       {XDP},
	"xdp_adjust_tail":       {XDP},
	"xdp_adjust_meta":       {XDP},
	"redirect_map":          {XDP},
	"xdp_output":            {XDP, Tracing}, // fentry/fexit on XDP programs too
	"redirect":              append([]Type{XDP, LWTXmit}, tcTypes...),
	"skb_load_bytes":        append([]Type{SKReuseport}, skbTypes...),
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
	"skb_pull_data":         append([]Type{SKSKB}, tcLWTTypes...),
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

	// Networking helpers that no tracing type has (tc_cls_act_func_proto,
	// xdp_func_proto, lwt_*_func_proto, sk_skb_func_proto, sk_msg_func_proto, ...).
	"skb_get_tunnel_key":       append([]Type{LWTXmit}, tcTypes...),
	"skb_set_tunnel_key":       append([]Type{LWTXmit}, tcTypes...),
	"skb_get_tunnel_opt":       append([]Type{LWTXmit}, tcTypes...),
	"skb_set_tunnel_opt":       append([]Type{LWTXmit}, tcTypes...),
	"csum_diff":                append([]Type{XDP}, tcLWTTypes...),
	"csum_update":              tcTypes,
	"csum_level":               tcTypes,
	"get_hash_recalc":          tcLWTTypes,
	"set_hash_invalid":         tcTypes,
	"set_hash":                 tcTypes,
	"skb_under_cgroup":         tcLWTTypes,
	"get_cgroup_classid":       tcLWTTypes,
	"get_route_realm":          tcLWTTypes,
	"skb_cgroup_classid":       tcTypes,
	"skb_cgroup_id":            append([]Type{CgroupSKB}, tcTypes...),
	"skb_ancestor_cgroup_id":   append([]Type{CgroupSKB}, tcTypes...),
	"skb_load_bytes_relative":  append([]Type{SocketFilter, CgroupSKB}, tcTypes...),
	"fib_lookup":               append([]Type{XDP}, tcTypes...),
	"check_mtu":                append([]Type{XDP}, tcTypes...),
	"redirect_peer":            tcTypes,
	"redirect_neigh":           tcTypes,
	"xdp_get_buff_len":         {XDP},
	"xdp_load_bytes":           {XDP},
	"xdp_store_bytes":          {XDP},
	"sk_assign":                append([]Type{SKLookup}, tcTypes...),
	"sk_redirect_map":          {SKSKB},
	"sk_redirect_hash":         {SKSKB},
	"msg_redirect_map":         {SKMsg},
	"msg_redirect_hash":        {SKMsg},
	"msg_apply_bytes":          {SKMsg},
	"msg_cork_bytes":           {SKMsg},
	"msg_pull_data":            {SKMsg},
	"msg_push_data":            {SKMsg},
	"msg_pop_data":             {SKMsg},
	"sk_select_reuseport":      {SKReuseport},
	"lwt_push_encap":           {LWTIn, LWTXmit},
	"lwt_seg6_store_bytes":     {LWTSeg6local},
	"lwt_seg6_action":          {LWTSeg6local},
	"lwt_seg6_adjust_srh":      {LWTSeg6local},
	"sysctl_get_name":          {CgroupSysctl},
	"sysctl_get_current_value": {CgroupSysctl},
	"sysctl_get_new_value":     {CgroupSysctl},
	"sysctl_set_new_value":     {CgroupSysctl},
	"bind":                     {CgroupSockAddr},

	// Tracing helpers that no networking type has (bpf_tracing_func_proto and the
	// tables above it). probe_read_kernel, probe_read_user, their _str forms and
	// get_current_task are not listed: Linux's bpf_base_func_proto offers them to every
	// type (with CAP_PERFMON).
	"probe_read":                tracingTypes,
	"probe_read_str":            tracingTypes,
	"probe_write_user":          tracingTypes,
	"get_stackid":               tracingTypes,
	"get_stack":                 tracingTypes,
	"get_task_stack":            tracingTypes,
	"perf_event_read":           tracingTypes,
	"perf_event_read_value":     tracingTypes,
	"current_task_under_cgroup": tracingTypes,
	"send_signal":               tracingTypes,
	"send_signal_thread":        tracingTypes,
	"get_func_ip":               tracingTypes,
	"copy_from_user":            tracingTypes,
	"copy_from_user_task":       tracingTypes,
	"get_branch_snapshot":       tracingTypes,
	"find_vma":                  tracingTypes,
	"perf_prog_read_value":      {PerfEvent},
	"read_branch_records":       {PerfEvent},
	"get_func_arg":              btfTracingTypes,
	"get_func_ret":              btfTracingTypes,
	"get_func_arg_cnt":          btfTracingTypes,
	"d_path":                    btfTracingTypes,
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
