package progtype

// BTFArgsContext is the context of TRACING programs (fentry, fexit, fmod_ret, tp_btf,
// iter) and LSM programs: the traced function's arguments as u64 values, read 8 bytes at
// a time at offsets aligned to 8 and never written (bpf_tracing_btf_ctx_access). Linux
// types each argument from BTF (a pointer argument becomes a pointer to its BTF type);
// the descriptor knows only the slots, of which there are at most MAX_BPF_FUNC_ARGS.
var BTFArgsContext = rawTracepointContext("tracing args", Scalar)

// LinuxContextFor returns the descriptor, with Linux's access rules, of the context of
// programs of type t attached as a, for the program types ContextFor does not describe
// (tracing, cgroup device, sysctl and sockopt, sk_skb, sk_msg, lwt, flow dissector,
// sk_reuseport, sk_lookup, syscall) and for CGROUP_SKB, whose rules differ from the
// socket filter's and tc's. It returns nil for other types. The attach type matters for
// CGROUP_SOCKOPT only (AttachNone gives the union of getsockopt and setsockopt).
//
// These descriptors let the verifier judge programs anybpf cannot run yet: the runtime
// gives none of these contexts except CGROUP_SKB's (whose real layout is SKBuff's, as
// SKBuffContext's).
func LinuxContextFor(t Type, a AttachType) *Context {
	switch t {
	case Kprobe:
		return KprobeContext
	case Tracepoint:
		return TracepointContext
	case RawTracepoint:
		return RawTracepointContext
	case RawTracepointWritable:
		return RawTracepointWritableContext
	case PerfEvent:
		return PerfEventContext
	case Tracing, LSM:
		return BTFArgsContext
	case CgroupSKB:
		return CgroupSKBContext
	case SKSKB:
		return SKSKBContext
	case SKMsg:
		return SKMsgContext
	case LWTIn, LWTOut, LWTXmit, LWTSeg6local:
		return LWTContext
	case FlowDissector:
		return FlowDissectorContext
	case SKReuseport:
		return SKReuseportContext
	case SKLookup:
		return SKLookupContext
	case CgroupDevice:
		return CgroupDevContext
	case CgroupSysctl:
		return SysctlContext
	case CgroupSockopt:
		switch a {
		case AttachCgroupGetsockopt, AttachCgroupSetsockopt:
			return sockoptContext(a)
		}
		return SockoptContext
	case Syscall:
		return SyscallContext
	}
	return nil
}
