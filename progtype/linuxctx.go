package progtype

import "fmt"

// BTFArgsContext is the context of TRACING programs (fentry, fexit, fmod_ret, tp_btf,
// iter) and LSM programs: the traced function's arguments as u64 slots, never written,
// each read from its start (bpf_tracing_btf_ctx_access and btf_ctx_access require an
// offset that is a multiple of 8) as 1, 2, 4 or 8 bytes. Linux types each argument from
// BTF (a pointer argument becomes a pointer to its BTF type, and only the function's
// own arguments and fexit's return value may be read); the descriptor knows only the
// MAX_BPF_FUNC_ARGS slots.
var BTFArgsContext = func() *Context {
	c := &Context{Name: "tracing args", Size: 8 * MaxBPFFuncArgs, RealSize: 8 * MaxBPFFuncArgs}
	for i := 0; i < MaxBPFFuncArgs; i++ {
		for _, size := range []int{8, 4, 2, 1} {
			c.Fields = append(c.Fields, sameLayout(Field{Name: fmt.Sprintf("args[%d]", i), Offset: 8 * i, Size: size}))
		}
	}
	return c
}()

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
