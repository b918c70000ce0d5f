// Package progtype knows eBPF program types: their numbers (Linux's, plus the types only
// anybpf has, in a reserved range) and which type an object's section name selects.
package progtype

import (
	"fmt"
	"strings"
)

// Type is a program type.
type Type uint32

// AttachType is an attach type.
type AttachType uint32

// Types that Linux lacks, from ebpf-for-windows, numbered far above Linux's so that a
// future Linux type never collides.
const (
	// Bind programs see a socket's bind, listen and close (ebpf-for-windows's BIND).
	Bind Type = 0x10000 + iota
	// Process programs see process creation and exit (ebpf-for-windows's PROCESS).
	Process
)

// Attach types of the anybpf-only program types.
const (
	AttachBind AttachType = 0x10000 + iota
	AttachProcess
	// ebpf-for-windows's sock_addr attach points that Linux lacks.
	AttachRecvAccept4
	AttachRecvAccept6
	AttachConnectAuthorization4
	AttachConnectAuthorization6
	// AttachNone is for program types that attach in one way only.
	AttachNone AttachType = 0xffffffff
)

// Linux reports whether t is one of Linux's program types, not one anybpf takes from
// ebpf-for-windows.
func (t Type) Linux() bool { return t < Bind }

func (t Type) String() string {
	switch t {
	case Bind:
		return "bind"
	case Process:
		return "process"
	}
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

func (a AttachType) String() string {
	switch a {
	case AttachBind:
		return "bind"
	case AttachProcess:
		return "process"
	case AttachRecvAccept4:
		return "recv_accept4"
	case AttachRecvAccept6:
		return "recv_accept6"
	case AttachConnectAuthorization4:
		return "connect_authorization4"
	case AttachConnectAuthorization6:
		return "connect_authorization6"
	case AttachNone:
		return "none"
	}
	if n, ok := attachNames[a]; ok {
		return n
	}
	return fmt.Sprintf("attach(%d)", uint32(a))
}

// section maps a section name prefix to a program type.
type section struct {
	prefix string
	typ    Type
	attach AttachType
	// loose also matches names that merely start with prefix ("xdp_ttl"), as the
	// loaders of iproute2 and older samples did.
	loose bool
}

// sections follows libbpf's section names, the legacy names of older samples and
// iproute2, and ebpf-for-windows's names. Longer prefixes come first where one prefix
// extends another.
var sections = []section{
	{"socket", SocketFilter, AttachNone, true},
	{"sk_reuseport/migrate", SKReuseport, AttachSKReuseportSelectOrMigrate, false},
	{"sk_reuseport", SKReuseport, AttachSKReuseportSelect, false},
	{"kprobe.multi", Kprobe, AttachTraceKprobeMulti, false},
	{"kretprobe.multi", Kprobe, AttachTraceKprobeMulti, false},
	{"kprobe", Kprobe, AttachNone, false},
	{"kretprobe", Kprobe, AttachNone, false},
	{"uprobe", Kprobe, AttachNone, false},
	{"uretprobe", Kprobe, AttachNone, false},
	{"ksyscall", Kprobe, AttachNone, false},
	{"kretsyscall", Kprobe, AttachNone, false},
	{"usdt", Kprobe, AttachNone, false},
	{"classifier", SchedCls, AttachNone, true},
	{"tc", SchedCls, AttachNone, true},
	{"tcx", SchedCls, AttachNone, false},
	{"action", SchedAct, AttachNone, true},
	{"tracepoint", Tracepoint, AttachNone, false},
	{"tp", Tracepoint, AttachNone, false},
	{"raw_tracepoint.w", RawTracepointWritable, AttachNone, false},
	{"raw_tp.w", RawTracepointWritable, AttachNone, false},
	{"raw_tracepoint", RawTracepoint, AttachNone, false},
	{"raw_tp", RawTracepoint, AttachNone, false},
	{"tp_btf", Tracing, AttachTraceRawTP, false},
	{"fentry", Tracing, AttachTraceFentry, false},
	{"fmod_ret", Tracing, AttachModifyReturn, false},
	{"fexit", Tracing, AttachTraceFexit, false},
	{"iter", Tracing, AttachTraceIter, false},
	{"freplace", Ext, AttachNone, false},
	{"lsm", LSM, AttachLSMMac, false},
	{"lsm_cgroup", LSM, AttachLSMCgroup, false},
	{"xdp.frags/devmap", XDP, AttachXDPDevmap, false},
	{"xdp/devmap", XDP, AttachXDPDevmap, false},
	{"xdp.frags/cpumap", XDP, AttachXDPCpumap, false},
	{"xdp/cpumap", XDP, AttachXDPCpumap, false},
	{"xdp.frags", XDP, AttachXDP, false},
	{"xdp", XDP, AttachXDP, true},
	{"perf_event", PerfEvent, AttachNone, false},
	{"lwt_in", LWTIn, AttachNone, false},
	{"lwt_out", LWTOut, AttachNone, false},
	{"lwt_xmit", LWTXmit, AttachNone, false},
	{"lwt_seg6local", LWTSeg6local, AttachNone, false},
	{"sockops", SockOps, AttachCgroupSockOps, false},
	{"sk_skb/stream_parser", SKSKB, AttachSKSKBStreamParser, false},
	{"sk_skb/stream_verdict", SKSKB, AttachSKSKBStreamVerdict, false},
	{"sk_skb", SKSKB, AttachSKSKBVerdict, false},
	{"sk_msg", SKMsg, AttachSKMsgVerdict, false},
	{"lirc_mode2", LircMode2, AttachLircMode2, false},
	{"flow_dissector", FlowDissector, AttachFlowDissector, false},
	{"cgroup_skb/ingress", CgroupSKB, AttachCgroupInetIngress, false},
	{"cgroup_skb/egress", CgroupSKB, AttachCgroupInetEgress, false},
	{"cgroup/skb", CgroupSKB, AttachNone, false},
	{"cgroup_skb", CgroupSKB, AttachNone, false},
	{"cgroup/sock_create", CgroupSock, AttachCgroupInetSockCreate, false},
	{"cgroup/sock_release", CgroupSock, AttachCgroupInetSockRelease, false},
	{"cgroup/sock", CgroupSock, AttachCgroupInetSockCreate, true}, // samples/bpf: "cgroup/sock1"
	{"cgroup/post_bind4", CgroupSock, AttachCgroupInet4PostBind, false},
	{"cgroup/post_bind6", CgroupSock, AttachCgroupInet6PostBind, false},
	{"cgroup/bind4", CgroupSockAddr, AttachCgroupInet4Bind, false},
	{"cgroup/bind6", CgroupSockAddr, AttachCgroupInet6Bind, false},
	{"cgroup/connect4", CgroupSockAddr, AttachCgroupInet4Connect, false},
	{"cgroup/connect6", CgroupSockAddr, AttachCgroupInet6Connect, false},
	{"cgroup/sendmsg4", CgroupSockAddr, AttachCgroupUDP4Sendmsg, false},
	{"cgroup/sendmsg6", CgroupSockAddr, AttachCgroupUDP6Sendmsg, false},
	{"cgroup/recvmsg4", CgroupSockAddr, AttachCgroupUDP4Recvmsg, false},
	{"cgroup/recvmsg6", CgroupSockAddr, AttachCgroupUDP6Recvmsg, false},
	{"cgroup/getpeername4", CgroupSockAddr, AttachCgroupInet4Getpeername, false},
	{"cgroup/getpeername6", CgroupSockAddr, AttachCgroupInet6Getpeername, false},
	{"cgroup/getsockname4", CgroupSockAddr, AttachCgroupInet4Getsockname, false},
	{"cgroup/getsockname6", CgroupSockAddr, AttachCgroupInet6Getsockname, false},
	{"cgroup/sysctl", CgroupSysctl, AttachCgroupSysctl, false},
	{"cgroup/getsockopt", CgroupSockopt, AttachCgroupGetsockopt, false},
	{"cgroup/setsockopt", CgroupSockopt, AttachCgroupSetsockopt, false},
	{"cgroup/dev", CgroupDevice, AttachCgroupDevice, false},
	{"struct_ops", StructOps, AttachNone, false},
	{"struct_ops.s", StructOps, AttachNone, false},
	{"sk_lookup", SKLookup, AttachSKLookup, false},
	{"syscall", Syscall, AttachNone, false},
	// ebpf-for-windows's names.
	{"bind", Bind, AttachBind, false},
	{"process", Process, AttachProcess, false},
	{"cgroup/recv_accept4", CgroupSockAddr, AttachRecvAccept4, false},
	{"cgroup/recv_accept6", CgroupSockAddr, AttachRecvAccept6, false},
	{"cgroup/connect_authorization4", CgroupSockAddr, AttachConnectAuthorization4, false},
	{"cgroup/connect_authorization6", CgroupSockAddr, AttachConnectAuthorization6, false},
	{"cgroup/listen4", CgroupSockAddr, AttachListen4, false},
	{"cgroup/listen6", CgroupSockAddr, AttachListen6, false},
}

// FromSection returns the program type and attach type that a section name selects: an
// exact name or a name followed by "/" and anything ("kprobe/sys_open"), the longest
// match winning; or, for the legacy names of older tools, any name starting with "xdp",
// "socket", "classifier", "tc" or "action". ok is false when nothing matches: the caller
// must then say the type.
func FromSection(name string) (t Type, attach AttachType, ok bool) {
	best := -1
	for i, s := range sections {
		if name == s.prefix || strings.HasPrefix(name, s.prefix+"/") {
			if best < 0 || len(s.prefix) > len(sections[best].prefix) {
				best = i
			}
		}
	}
	if best < 0 {
		for i, s := range sections {
			if s.loose && strings.HasPrefix(name, s.prefix) && (best < 0 || len(s.prefix) > len(sections[best].prefix)) {
				best = i
			}
		}
	}
	if best < 0 {
		return 0, 0, false
	}
	return sections[best].typ, sections[best].attach, true
}
