package progtype

// Program types, Linux's numbering (enum bpf_prog_type).
const (
	Unspec                Type = 0  // BPF_PROG_TYPE_UNSPEC
	SocketFilter          Type = 1  // BPF_PROG_TYPE_SOCKET_FILTER
	Kprobe                Type = 2  // BPF_PROG_TYPE_KPROBE
	SchedCls              Type = 3  // BPF_PROG_TYPE_SCHED_CLS
	SchedAct              Type = 4  // BPF_PROG_TYPE_SCHED_ACT
	Tracepoint            Type = 5  // BPF_PROG_TYPE_TRACEPOINT
	XDP                   Type = 6  // BPF_PROG_TYPE_XDP
	PerfEvent             Type = 7  // BPF_PROG_TYPE_PERF_EVENT
	CgroupSKB             Type = 8  // BPF_PROG_TYPE_CGROUP_SKB
	CgroupSock            Type = 9  // BPF_PROG_TYPE_CGROUP_SOCK
	LWTIn                 Type = 10 // BPF_PROG_TYPE_LWT_IN
	LWTOut                Type = 11 // BPF_PROG_TYPE_LWT_OUT
	LWTXmit               Type = 12 // BPF_PROG_TYPE_LWT_XMIT
	SockOps               Type = 13 // BPF_PROG_TYPE_SOCK_OPS
	SKSKB                 Type = 14 // BPF_PROG_TYPE_SK_SKB
	CgroupDevice          Type = 15 // BPF_PROG_TYPE_CGROUP_DEVICE
	SKMsg                 Type = 16 // BPF_PROG_TYPE_SK_MSG
	RawTracepoint         Type = 17 // BPF_PROG_TYPE_RAW_TRACEPOINT
	CgroupSockAddr        Type = 18 // BPF_PROG_TYPE_CGROUP_SOCK_ADDR
	LWTSeg6local          Type = 19 // BPF_PROG_TYPE_LWT_SEG6LOCAL
	LircMode2             Type = 20 // BPF_PROG_TYPE_LIRC_MODE2
	SKReuseport           Type = 21 // BPF_PROG_TYPE_SK_REUSEPORT
	FlowDissector         Type = 22 // BPF_PROG_TYPE_FLOW_DISSECTOR
	CgroupSysctl          Type = 23 // BPF_PROG_TYPE_CGROUP_SYSCTL
	RawTracepointWritable Type = 24 // BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE
	CgroupSockopt         Type = 25 // BPF_PROG_TYPE_CGROUP_SOCKOPT
	Tracing               Type = 26 // BPF_PROG_TYPE_TRACING
	StructOps             Type = 27 // BPF_PROG_TYPE_STRUCT_OPS
	Ext                   Type = 28 // BPF_PROG_TYPE_EXT
	LSM                   Type = 29 // BPF_PROG_TYPE_LSM
	SKLookup              Type = 30 // BPF_PROG_TYPE_SK_LOOKUP
	Syscall               Type = 31 // BPF_PROG_TYPE_SYSCALL
)

// Attach types, Linux's numbering (enum bpf_attach_type).
const (
	AttachCgroupInetIngress          AttachType = 0  // BPF_CGROUP_INET_INGRESS
	AttachCgroupInetEgress           AttachType = 1  // BPF_CGROUP_INET_EGRESS
	AttachCgroupInetSockCreate       AttachType = 2  // BPF_CGROUP_INET_SOCK_CREATE
	AttachCgroupSockOps              AttachType = 3  // BPF_CGROUP_SOCK_OPS
	AttachSKSKBStreamParser          AttachType = 4  // BPF_SK_SKB_STREAM_PARSER
	AttachSKSKBStreamVerdict         AttachType = 5  // BPF_SK_SKB_STREAM_VERDICT
	AttachCgroupDevice               AttachType = 6  // BPF_CGROUP_DEVICE
	AttachSKMsgVerdict               AttachType = 7  // BPF_SK_MSG_VERDICT
	AttachCgroupInet4Bind            AttachType = 8  // BPF_CGROUP_INET4_BIND
	AttachCgroupInet6Bind            AttachType = 9  // BPF_CGROUP_INET6_BIND
	AttachCgroupInet4Connect         AttachType = 10 // BPF_CGROUP_INET4_CONNECT
	AttachCgroupInet6Connect         AttachType = 11 // BPF_CGROUP_INET6_CONNECT
	AttachCgroupInet4PostBind        AttachType = 12 // BPF_CGROUP_INET4_POST_BIND
	AttachCgroupInet6PostBind        AttachType = 13 // BPF_CGROUP_INET6_POST_BIND
	AttachCgroupUDP4Sendmsg          AttachType = 14 // BPF_CGROUP_UDP4_SENDMSG
	AttachCgroupUDP6Sendmsg          AttachType = 15 // BPF_CGROUP_UDP6_SENDMSG
	AttachLircMode2                  AttachType = 16 // BPF_LIRC_MODE2
	AttachFlowDissector              AttachType = 17 // BPF_FLOW_DISSECTOR
	AttachCgroupSysctl               AttachType = 18 // BPF_CGROUP_SYSCTL
	AttachCgroupUDP4Recvmsg          AttachType = 19 // BPF_CGROUP_UDP4_RECVMSG
	AttachCgroupUDP6Recvmsg          AttachType = 20 // BPF_CGROUP_UDP6_RECVMSG
	AttachCgroupGetsockopt           AttachType = 21 // BPF_CGROUP_GETSOCKOPT
	AttachCgroupSetsockopt           AttachType = 22 // BPF_CGROUP_SETSOCKOPT
	AttachTraceRawTP                 AttachType = 23 // BPF_TRACE_RAW_TP
	AttachTraceFentry                AttachType = 24 // BPF_TRACE_FENTRY
	AttachTraceFexit                 AttachType = 25 // BPF_TRACE_FEXIT
	AttachModifyReturn               AttachType = 26 // BPF_MODIFY_RETURN
	AttachLSMMac                     AttachType = 27 // BPF_LSM_MAC
	AttachTraceIter                  AttachType = 28 // BPF_TRACE_ITER
	AttachCgroupInet4Getpeername     AttachType = 29 // BPF_CGROUP_INET4_GETPEERNAME
	AttachCgroupInet6Getpeername     AttachType = 30 // BPF_CGROUP_INET6_GETPEERNAME
	AttachCgroupInet4Getsockname     AttachType = 31 // BPF_CGROUP_INET4_GETSOCKNAME
	AttachCgroupInet6Getsockname     AttachType = 32 // BPF_CGROUP_INET6_GETSOCKNAME
	AttachXDPDevmap                  AttachType = 33 // BPF_XDP_DEVMAP
	AttachCgroupInetSockRelease      AttachType = 34 // BPF_CGROUP_INET_SOCK_RELEASE
	AttachXDPCpumap                  AttachType = 35 // BPF_XDP_CPUMAP
	AttachSKLookup                   AttachType = 36 // BPF_SK_LOOKUP
	AttachXDP                        AttachType = 37 // BPF_XDP
	AttachSKSKBVerdict               AttachType = 38 // BPF_SK_SKB_VERDICT
	AttachSKReuseportSelect          AttachType = 39 // BPF_SK_REUSEPORT_SELECT
	AttachSKReuseportSelectOrMigrate AttachType = 40 // BPF_SK_REUSEPORT_SELECT_OR_MIGRATE
	AttachPerfEvent                  AttachType = 41 // BPF_PERF_EVENT
	AttachTraceKprobeMulti           AttachType = 42 // BPF_TRACE_KPROBE_MULTI
	AttachLSMCgroup                  AttachType = 43 // BPF_LSM_CGROUP
)

var typeNames = map[Type]string{
	Unspec:                "unspec",
	SocketFilter:          "socket_filter",
	Kprobe:                "kprobe",
	SchedCls:              "sched_cls",
	SchedAct:              "sched_act",
	Tracepoint:            "tracepoint",
	XDP:                   "xdp",
	PerfEvent:             "perf_event",
	CgroupSKB:             "cgroup_skb",
	CgroupSock:            "cgroup_sock",
	LWTIn:                 "lwt_in",
	LWTOut:                "lwt_out",
	LWTXmit:               "lwt_xmit",
	SockOps:               "sock_ops",
	SKSKB:                 "sk_skb",
	CgroupDevice:          "cgroup_device",
	SKMsg:                 "sk_msg",
	RawTracepoint:         "raw_tracepoint",
	CgroupSockAddr:        "cgroup_sock_addr",
	LWTSeg6local:          "lwt_seg6local",
	LircMode2:             "lirc_mode2",
	SKReuseport:           "sk_reuseport",
	FlowDissector:         "flow_dissector",
	CgroupSysctl:          "cgroup_sysctl",
	RawTracepointWritable: "raw_tracepoint_writable",
	CgroupSockopt:         "cgroup_sockopt",
	Tracing:               "tracing",
	StructOps:             "struct_ops",
	Ext:                   "ext",
	LSM:                   "lsm",
	SKLookup:              "sk_lookup",
	Syscall:               "syscall",
}

var attachNames = map[AttachType]string{
	AttachCgroupInetIngress:          "cgroup_inet_ingress",
	AttachCgroupInetEgress:           "cgroup_inet_egress",
	AttachCgroupInetSockCreate:       "cgroup_inet_sock_create",
	AttachCgroupSockOps:              "cgroup_sock_ops",
	AttachSKSKBStreamParser:          "sk_skb_stream_parser",
	AttachSKSKBStreamVerdict:         "sk_skb_stream_verdict",
	AttachCgroupDevice:               "cgroup_device",
	AttachSKMsgVerdict:               "sk_msg_verdict",
	AttachCgroupInet4Bind:            "cgroup_inet4_bind",
	AttachCgroupInet6Bind:            "cgroup_inet6_bind",
	AttachCgroupInet4Connect:         "cgroup_inet4_connect",
	AttachCgroupInet6Connect:         "cgroup_inet6_connect",
	AttachCgroupInet4PostBind:        "cgroup_inet4_post_bind",
	AttachCgroupInet6PostBind:        "cgroup_inet6_post_bind",
	AttachCgroupUDP4Sendmsg:          "cgroup_udp4_sendmsg",
	AttachCgroupUDP6Sendmsg:          "cgroup_udp6_sendmsg",
	AttachLircMode2:                  "lirc_mode2",
	AttachFlowDissector:              "flow_dissector",
	AttachCgroupSysctl:               "cgroup_sysctl",
	AttachCgroupUDP4Recvmsg:          "cgroup_udp4_recvmsg",
	AttachCgroupUDP6Recvmsg:          "cgroup_udp6_recvmsg",
	AttachCgroupGetsockopt:           "cgroup_getsockopt",
	AttachCgroupSetsockopt:           "cgroup_setsockopt",
	AttachTraceRawTP:                 "trace_raw_tp",
	AttachTraceFentry:                "trace_fentry",
	AttachTraceFexit:                 "trace_fexit",
	AttachModifyReturn:               "modify_return",
	AttachLSMMac:                     "lsm_mac",
	AttachTraceIter:                  "trace_iter",
	AttachCgroupInet4Getpeername:     "cgroup_inet4_getpeername",
	AttachCgroupInet6Getpeername:     "cgroup_inet6_getpeername",
	AttachCgroupInet4Getsockname:     "cgroup_inet4_getsockname",
	AttachCgroupInet6Getsockname:     "cgroup_inet6_getsockname",
	AttachXDPDevmap:                  "xdp_devmap",
	AttachCgroupInetSockRelease:      "cgroup_inet_sock_release",
	AttachXDPCpumap:                  "xdp_cpumap",
	AttachSKLookup:                   "sk_lookup",
	AttachXDP:                        "xdp",
	AttachSKSKBVerdict:               "sk_skb_verdict",
	AttachSKReuseportSelect:          "sk_reuseport_select",
	AttachSKReuseportSelectOrMigrate: "sk_reuseport_select_or_migrate",
	AttachPerfEvent:                  "perf_event",
	AttachTraceKprobeMulti:           "trace_kprobe_multi",
	AttachLSMCgroup:                  "lsm_cgroup",
}
