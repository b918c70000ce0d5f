package helpers

import (
	"fmt"

	"github.com/anybpf/anybpf/maps"
)

// prototypes holds every helper anybpf knows the prototype of, by id.
var prototypes = map[ID]*Prototype{}

// byName is the reverse of names.
var byName = func() map[string]ID {
	m := make(map[string]ID, len(names))
	for id, n := range names {
		m[n] = id
	}
	return m
}()

// ByName returns the id of the helper called name (without "bpf_").
func ByName(name string) (ID, bool) {
	id, ok := byName[name]
	return id, ok
}

type option func(*Prototype)

func mapTypes(ts ...maps.Type) option {
	return func(p *Prototype) { p.MapTypes = ts }
}

var (
	packet option = func(p *Prototype) { p.PacketAccess = true }
	gpl    option = func(p *Prototype) { p.GPLOnly = true }
)

// def declares a prototype by the helper's Linux name, so that ids come from the names
// table and cannot drift.
func def(name string, ret RetKind, args []ArgKind, opts ...option) {
	id, ok := byName[name]
	if !ok {
		panic(fmt.Sprintf("helpers: no helper named %q", name))
	}
	p := &Prototype{ID: id, Ret: ret}
	copy(p.Args[:], args)
	for _, o := range opts {
		o(p)
	}
	prototypes[id] = p
}

func a(kinds ...ArgKind) []ArgKind { return kinds }

func init() {
	const (
		any    = ArgAnything
		mapPtr = ArgConstMapPtr
		ctx    = ArgPtrToCtx
		mem    = ArgPtrToMem
		umem   = ArgPtrToUninitMem
		size   = ArgConstSize
		size0  = ArgConstSizeOrZero
	)
	// Maps.
	def("map_lookup_elem", RetPtrToMapValueOrNull, a(mapPtr, ArgPtrToMapKey))
	def("map_update_elem", RetInteger, a(mapPtr, ArgPtrToMapKey, ArgPtrToMapValue, any))
	def("map_delete_elem", RetInteger, a(mapPtr, ArgPtrToMapKey))
	def("map_push_elem", RetInteger, a(mapPtr, ArgPtrToMapValue, any), mapTypes(maps.Queue, maps.Stack))
	def("map_pop_elem", RetInteger, a(mapPtr, ArgPtrToUninitMapValue), mapTypes(maps.Queue, maps.Stack))
	def("map_peek_elem", RetInteger, a(mapPtr, ArgPtrToUninitMapValue), mapTypes(maps.Queue, maps.Stack))
	def("for_each_map_elem", RetInteger, a(mapPtr, ArgPtrToFunc, ArgPtrToStackOrNull, any))
	// On failure bpf_tail_call returns (a negative error); programs may use it.
	def("tail_call", RetInteger, a(ctx, mapPtr, any), mapTypes(maps.ProgArray))
	def("spin_lock", RetVoid, a(ArgPtrToSpinLock))
	def("spin_unlock", RetVoid, a(ArgPtrToSpinLock))

	// Time, randomness, identity.
	def("ktime_get_ns", RetInteger, nil)
	def("ktime_get_boot_ns", RetInteger, nil)
	def("ktime_get_coarse_ns", RetInteger, nil)
	def("jiffies64", RetInteger, nil)
	def("get_prandom_u32", RetInteger, nil)
	def("get_smp_processor_id", RetInteger, nil)
	def("get_numa_node_id", RetInteger, nil)
	def("get_current_pid_tgid", RetInteger, nil)
	def("get_current_uid_gid", RetInteger, nil)
	def("get_current_comm", RetInteger, a(umem, size))
	def("get_current_task", RetInteger, nil, gpl)
	def("get_current_cgroup_id", RetInteger, nil)

	// Output.
	def("trace_printk", RetInteger, a(mem, size), gpl) // the format arguments are not checked, as in Linux
	def("snprintf", RetInteger, a(umem, size0, ArgPtrToConstStr, mem, size0))
	def("perf_event_output", RetInteger, a(ctx, mapPtr, any, mem, size0), mapTypes(maps.PerfEventArray))
	def("perf_event_read", RetInteger, a(mapPtr, any), mapTypes(maps.PerfEventArray))
	def("ringbuf_output", RetInteger, a(mapPtr, mem, size0, any), mapTypes(maps.RingBuf))
	def("ringbuf_reserve", RetPtrToMemOrNull, a(mapPtr, ArgConstAllocSizeOrZero, any), mapTypes(maps.RingBuf))
	def("ringbuf_submit", RetVoid, a(ArgPtrToRingbufMem, any))
	def("ringbuf_discard", RetVoid, a(ArgPtrToRingbufMem, any))
	def("ringbuf_query", RetInteger, a(mapPtr, any), mapTypes(maps.RingBuf))

	// Bounded iteration and strings.
	def("loop", RetInteger, a(any, ArgPtrToFunc, ArgPtrToStackOrNull, any))
	def("strncmp", RetInteger, a(mem, size, ArgPtrToConstStr))

	// Packets.
	def("csum_diff", RetInteger, a(mem, size0, mem, size0, any))
	def("l3_csum_replace", RetInteger, a(ctx, any, any, any, any), packet)
	def("l4_csum_replace", RetInteger, a(ctx, any, any, any, any), packet)
	def("skb_load_bytes", RetInteger, a(ctx, any, umem, size))
	def("skb_store_bytes", RetInteger, a(ctx, any, mem, size, any), packet)
	def("skb_change_proto", RetInteger, a(ctx, any, any), packet)
	def("skb_change_tail", RetInteger, a(ctx, any, any), packet)
	def("skb_change_head", RetInteger, a(ctx, any, any), packet)
	def("skb_pull_data", RetInteger, a(ctx, any), packet)
	def("skb_adjust_room", RetInteger, a(ctx, any, any, any), packet)
	def("skb_vlan_push", RetInteger, a(ctx, any, any), packet)
	def("skb_vlan_pop", RetInteger, a(ctx), packet)
	def("get_hash_recalc", RetInteger, a(ctx))
	def("set_hash", RetInteger, a(ctx, any))
	def("get_cgroup_classid", RetInteger, a(ctx))
	def("redirect", RetInteger, a(any, any))
	def("redirect_map", RetInteger, a(mapPtr, any, any), mapTypes(maps.DevMap, maps.DevMapHash, maps.CPUMap, maps.XSKMap))
	def("clone_redirect", RetInteger, a(ctx, any, any))
	def("xdp_adjust_head", RetInteger, a(ctx, any), packet)
	def("xdp_adjust_tail", RetInteger, a(ctx, any), packet)
	def("xdp_adjust_meta", RetInteger, a(ctx, any), packet)
	def("get_socket_cookie", RetInteger, a(ctx))
	def("get_socket_uid", RetInteger, a(ctx))
	def("setsockopt", RetInteger, a(ctx, any, any, mem, size))
	def("getsockopt", RetInteger, a(ctx, any, any, umem, size))
	def("sock_ops_cb_flags_set", RetInteger, a(ctx, any))

	// Tracing.
	def("probe_read", RetInteger, a(umem, size0, any), gpl)
	def("probe_read_str", RetInteger, a(umem, size0, any), gpl)
	def("probe_read_user", RetInteger, a(umem, size0, any), gpl)
	def("probe_read_kernel", RetInteger, a(umem, size0, any), gpl)
	def("probe_read_user_str", RetInteger, a(umem, size0, any), gpl)
	def("probe_read_kernel_str", RetInteger, a(umem, size0, any), gpl)
	def("get_stackid", RetInteger, a(ctx, mapPtr, any), mapTypes(maps.StackTrace), gpl)
	def("get_stack", RetInteger, a(ctx, umem, size0, any), gpl)
	def("override_return", RetInteger, a(ctx, any), gpl)
	def("send_signal", RetInteger, a(any))
	def("send_signal_thread", RetInteger, a(any))
	def("probe_write_user", RetInteger, a(any, mem, size), gpl)
	def("perf_event_read_value", RetInteger, a(mapPtr, any, umem, size), mapTypes(maps.PerfEventArray), gpl)
	def("perf_prog_read_value", RetInteger, a(ctx, umem, size), gpl)
	def("current_task_under_cgroup", RetInteger, a(mapPtr, any), mapTypes(maps.CgroupArray))
	def("get_current_task_btf", RetInteger, nil, gpl)
	def("get_current_ancestor_cgroup_id", RetInteger, a(any))
	def("get_ns_current_pid_tgid", RetInteger, a(any, any, umem, size), gpl)
	def("get_func_ip", RetInteger, a(ctx))
	def("get_attach_cookie", RetInteger, a(ctx))
	def("ktime_get_tai_ns", RetInteger, nil)
	def("map_lookup_percpu_elem", RetPtrToMapValueOrNull, a(mapPtr, ArgPtrToMapKey, any),
		mapTypes(maps.PerCPUArray, maps.PerCPUHash, maps.LRUPerCPUHash))

	// Sockets and tunnels (skb programs).
	def("set_hash_invalid", RetVoid, a(ctx))
	def("skb_get_tunnel_key", RetInteger, a(ctx, umem, size, any))
	def("skb_set_tunnel_key", RetInteger, a(ctx, mem, size, any))
	def("skb_get_tunnel_opt", RetInteger, a(ctx, umem, size))
	def("skb_set_tunnel_opt", RetInteger, a(ctx, mem, size))
	def("skb_under_cgroup", RetInteger, a(ctx, mapPtr, any), mapTypes(maps.CgroupArray))
	def("skb_ecn_set_ce", RetInteger, a(ctx))
	def("skb_cgroup_id", RetInteger, a(ctx))
	def("fib_lookup", RetInteger, a(ctx, mem, size, any))
	def("xdp_output", RetInteger, a(ctx, mapPtr, any, mem, size0), mapTypes(maps.PerfEventArray))
	def("sock_map_update", RetInteger, a(ctx, mapPtr, ArgPtrToMapKey, any), mapTypes(maps.SockMap))
	def("sock_hash_update", RetInteger, a(ctx, mapPtr, ArgPtrToMapKey, any), mapTypes(maps.SockHash))
	def("msg_redirect_map", RetInteger, a(ctx, mapPtr, any, any), mapTypes(maps.SockMap))
	def("sk_redirect_map", RetInteger, a(ctx, mapPtr, any, any), mapTypes(maps.SockMap))
	def("sk_lookup_tcp", RetPtrToSocketOrNull, a(ctx, mem, size, any, any))
	def("sk_lookup_udp", RetPtrToSocketOrNull, a(ctx, mem, size, any, any))
	def("skc_lookup_tcp", RetPtrToSocketOrNull, a(ctx, mem, size, any, any))
	def("sk_release", RetInteger, a(ArgPtrToSocket))
	def("skc_to_tcp_sock", RetPtrToBTFIDOrNull, a(ArgPtrToBTFID))
	def("skc_to_tcp6_sock", RetPtrToBTFIDOrNull, a(ArgPtrToBTFID))
	def("skc_to_udp6_sock", RetPtrToBTFIDOrNull, a(ArgPtrToBTFID))
	def("sk_storage_get", RetPtrToMapValueOrNull, a(mapPtr, ArgPtrToBTFID, ArgPtrToMapValueOrNull, any), mapTypes(maps.SKStorage))
	def("sk_storage_delete", RetInteger, a(mapPtr, ArgPtrToBTFID), mapTypes(maps.SKStorage))
	def("bind", RetInteger, a(ctx, mem, size))
}
