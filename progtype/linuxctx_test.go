package progtype

import (
	"errors"
	"testing"

	"github.com/anybpf/anybpf/isa"
)

// Results of a context access under Linux's rules.
const (
	refused     = iota // no such field, wrong size or alignment, or a write to a read-only field
	allowed            // allowed and rewritten
	unsupported        // allowed by Linux, but a socket pointer the runtime cannot give
)

type linuxAccess struct {
	asm  string // loads or stores through r1 (the last one is the access tested)
	want int
}

func checkLinux(t *testing.T, c *Context, cases []linuxAccess) {
	t.Helper()
	for _, tc := range cases {
		insns, err := isa.Assemble(tc.asm + "\nmov %r0, 1\nexit")
		if err != nil {
			t.Fatalf("%q: %v", tc.asm, err)
		}
		_, err = RewriteContext(insns, c)
		got := allowed
		switch {
		case errors.Is(err, ErrNotSupported):
			got = unsupported
		case errors.Is(err, ErrContextAccess):
			got = refused
		case err != nil:
			t.Errorf("%s: %q: %v", c.Name, tc.asm, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s: %q = %v, want %s", c.Name, tc.asm, err, []string{"refused", "allowed", "unsupported"}[tc.want])
		}
	}
}

func TestLinuxContextAccess(t *testing.T) {
	for _, tc := range []struct {
		c     *Context
		cases []linuxAccess
	}{
		{KprobeContext, []linuxAccess{
			{"ldxdw %r2, [%r1+0]", allowed},   // r15
			{"ldxw %r2, [%r1+4]", allowed},    // its upper half
			{"ldxh %r2, [%r1+6]", allowed},    //
			{"ldxb %r2, [%r1+167]", allowed},  // ss's last byte
			{"ldxdw %r2, [%r1+112]", allowed}, // rdi
			{"ldxdw %r2, [%r1+160]", allowed}, // ss
			{"ldxdw %r2, [%r1+164]", refused}, // misaligned
			{"ldxw %r2, [%r1+2]", refused},    //
			{"ldxdw %r2, [%r1+168]", refused}, // past the end
			{"ldxb %r2, [%r1+168]", refused},  //
			{"stxdw [%r1+0], %r2", refused},   // read-only
			{"stw [%r1+80], 0", refused},      //
			{"ldxdw %r2, [%r1-8]", refused},   // before the start
		}},
		{TracepointContext, []linuxAccess{
			{"ldxdw %r2, [%r1+8]", allowed},    // the first field after struct trace_entry
			{"ldxw %r2, [%r1+12]", allowed},    //
			{"ldxh %r2, [%r1+14]", allowed},    //
			{"ldxb %r2, [%r1+8191]", allowed},  // the last byte
			{"ldxdw %r2, [%r1+8184]", allowed}, //
			{"ldxw %r2, [%r1+4]", refused},     // common_pid: Linux refuses the first 8 bytes
			{"ldxdw %r2, [%r1+0]", refused},    //
			{"ldxb %r2, [%r1+8192]", refused},  // past PERF_MAX_TRACE_SIZE
			{"ldxw %r2, [%r1+10]", refused},    // misaligned
			{"stxw [%r1+8], %r2", refused},     // read-only
		}},
		{RawTracepointContext, []linuxAccess{
			{"ldxdw %r2, [%r1+0]", allowed},  // args[0]
			{"ldxdw %r2, [%r1+88]", allowed}, // args[11]
			{"ldxdw %r2, [%r1+96]", refused}, // args[12]
			{"ldxw %r2, [%r1+0]", allowed},   // in aligned parts
			{"ldxw %r2, [%r1+4]", allowed},   //
			{"ldxb %r2, [%r1+95]", allowed},  //
			{"ldxdw %r2, [%r1+4]", refused},  // misaligned
			{"ldxh %r2, [%r1+5]", refused},   //
			{"stxdw [%r1+0], %r2", refused},  // read-only
		}},
		{RawTracepointWritableContext, []linuxAccess{
			{"ldxdw %r2, [%r1+0]", allowed}, // the buffer pointer
			{"ldxdw %r2, [%r1+8]", allowed}, // args[1]
			{"ldxw %r2, [%r1+12]", allowed}, //
			{"ldxw %r2, [%r1+0]", refused},  // the pointer is read whole
			{"stxdw [%r1+0], %r2", refused}, //
		}},
		{BTFArgsContext, []linuxAccess{
			{"ldxdw %r2, [%r1+0]", allowed},  // args[0]
			{"ldxw %r2, [%r1+8]", allowed},   // args[1], from its start
			{"ldxb %r2, [%r1+88]", allowed},  // args[11]
			{"ldxw %r2, [%r1+12]", refused},  // not a multiple of 8
			{"ldxb %r2, [%r1+1]", refused},   //
			{"ldxdw %r2, [%r1+96]", refused}, // past MAX_BPF_FUNC_ARGS
			{"stxdw [%r1+0], %r2", refused},  // read-only
		}},
		{PerfEventContext, []linuxAccess{
			{"ldxdw %r2, [%r1+0]", allowed},   // regs.r15
			{"ldxdw %r2, [%r1+128]", allowed}, // regs.rip
			{"ldxw %r2, [%r1+0]", refused},    // registers are read whole
			{"ldxb %r2, [%r1+128]", refused},  //
			{"ldxdw %r2, [%r1+168]", allowed}, // sample_period
			{"ldxw %r2, [%r1+172]", allowed},  // in parts
			{"ldxh %r2, [%r1+170]", allowed},  //
			{"ldxdw %r2, [%r1+176]", allowed}, // addr
			{"ldxb %r2, [%r1+183]", allowed},  //
			{"ldxdw %r2, [%r1+184]", refused}, // past the end
			{"ldxdw %r2, [%r1+172]", refused}, // misaligned
			{"stxdw [%r1+168], %r2", refused}, // read-only
		}},
		{CgroupSKBContext, []linuxAccess{
			{"ldxw %r2, [%r1+0]", allowed},        // len
			{"ldxb %r2, [%r1+0]", allowed},        // in parts
			{"ldxh %r2, [%r1+18]", allowed},       // protocol's upper half
			{"stxw [%r1+0], %r2", refused},        // len is read-only
			{"ldxw %r2, [%r1+76]", allowed},       // data
			{"ldxw %r2, [%r1+80]", allowed},       // data_end
			{"ldxh %r2, [%r1+76]", refused},       // pointers are read whole
			{"stxw [%r1+76], %r2", refused},       //
			{"ldxw %r2, [%r1+140]", refused},      // data_meta
			{"ldxw %r2, [%r1+72]", refused},       // tc_classid
			{"ldxw %r2, [%r1+160]", refused},      // wire_len
			{"stxw [%r1+8], %r2", allowed},        // mark
			{"stxb [%r1+8], %r2", refused},        // stores are 4 bytes
			{"stxw [%r1+32], %r2", allowed},       // priority
			{"stxw [%r1+44], %r2", refused},       // tc_index
			{"stxw [%r1+12], %r2", refused},       // queue_mapping
			{"stxw [%r1+48], %r2", allowed},       // cb[0]
			{"stxb [%r1+67], %r2", allowed},       // cb[4], a byte
			{"stxdw [%r1+56], %r2", allowed},      // cb[2..3]
			{"ldxdw %r2, [%r1+48]", allowed},      // cb[0..1]
			{"ldxdw %r2, [%r1+64]", refused},      // cb[4] and hash
			{"ldxdw %r2, [%r1+152]", allowed},     // tstamp
			{"stxdw [%r1+152], %r2", allowed},     //
			{"ldxw %r2, [%r1+152]", refused},      // tstamp is read whole
			{"ldxw %r2, [%r1+88]", allowed},       // family
			{"ldxw %r2, [%r1+92]", allowed},       // remote_ip4
			{"ldxb %r2, [%r1+92]", refused},       // ip addresses are read 4 bytes at a time
			{"ldxw %r2, [%r1+112]", allowed},      // remote_ip6[3]
			{"ldxdw %r2, [%r1+104]", refused},     //
			{"ldxh %r2, [%r1+136]", allowed},      // local_port
			{"ldxdw %r2, [%r1+184]", allowed},     // hwtstamp
			{"stxdw [%r1+184], %r2", refused},     //
			{"ldxdw %r2, [%r1+168]", unsupported}, // sk
			{"ldxdw %r2, [%r1+144]", refused},     // flow_keys
			{"ldxb %r2, [%r1+180]", refused},      // tstamp_type
			{"ldxb %r2, [%r1+182]", refused},      // padding
			{"ldxw %r2, [%r1+192]", refused},      // past the end
		}},
		{SKSKBContext, []linuxAccess{
			{"ldxw %r2, [%r1+0]", allowed},        // len
			{"ldxw %r2, [%r1+8]", refused},        // mark
			{"stxw [%r1+44], %r2", allowed},       // tc_index
			{"stxw [%r1+32], %r2", allowed},       // priority
			{"stxw [%r1+48], %r2", refused},       // cb is read-only here
			{"ldxw %r2, [%r1+48]", allowed},       //
			{"ldxw %r2, [%r1+76]", allowed},       // data
			{"ldxw %r2, [%r1+140]", refused},      // data_meta
			{"ldxdw %r2, [%r1+152]", refused},     // tstamp
			{"ldxw %r2, [%r1+88]", allowed},       // family
			{"ldxw %r2, [%r1+132]", allowed},      // remote_port
			{"ldxdw %r2, [%r1+184]", refused},     // hwtstamp
			{"ldxw %r2, [%r1+160]", refused},      // wire_len
			{"ldxdw %r2, [%r1+168]", unsupported}, // sk
		}},
		{LWTContext, []linuxAccess{
			{"ldxw %r2, [%r1+0]", allowed},    // len
			{"ldxw %r2, [%r1+88]", refused},   // family
			{"ldxw %r2, [%r1+100]", refused},  // remote_ip6[0]
			{"stxw [%r1+8], %r2", allowed},    // mark
			{"stxw [%r1+48], %r2", allowed},   // cb
			{"stxw [%r1+44], %r2", refused},   // tc_index
			{"ldxw %r2, [%r1+76]", allowed},   // data
			{"ldxw %r2, [%r1+80]", allowed},   // data_end
			{"ldxw %r2, [%r1+140]", refused},  // data_meta
			{"ldxdw %r2, [%r1+152]", refused}, // tstamp
			{"ldxdw %r2, [%r1+184]", refused}, // hwtstamp
		}},
		{FlowDissectorContext, []linuxAccess{
			{"ldxw %r2, [%r1+76]", allowed},   // data
			{"ldxw %r2, [%r1+80]", allowed},   // data_end
			{"ldxdw %r2, [%r1+144]", allowed}, // flow_keys
			{"ldxw %r2, [%r1+144]", refused},  //
			{"ldxw %r2, [%r1+0]", refused},    // len
			{"stxw [%r1+76], %r2", refused},   //
			{"stxdw [%r1+144], %r2", refused}, //
		}},
		{SKMsgContext, []linuxAccess{
			{"ldxdw %r2, [%r1+0]", allowed},      // data
			{"ldxw %r2, [%r1+0]", refused},       //
			{"ldxdw %r2, [%r1+8]", allowed},      // data_end
			{"ldxw %r2, [%r1+16]", allowed},      // family
			{"ldxb %r2, [%r1+16]", refused},      // 4 bytes only
			{"ldxw %r2, [%r1+28]", allowed},      // remote_ip6[0]
			{"ldxdw %r2, [%r1+28]", refused},     //
			{"ldxw %r2, [%r1+56]", allowed},      // local_ip6[3]
			{"ldxw %r2, [%r1+68]", allowed},      // size
			{"ldxdw %r2, [%r1+72]", unsupported}, // sk
			{"stxw [%r1+16], %r2", refused},      // read-only
			{"ldxw %r2, [%r1+80]", refused},      // past the end
		}},
		{SKReuseportContext, []linuxAccess{
			{"ldxdw %r2, [%r1+0]", allowed},      // data
			{"ldxdw %r2, [%r1+8]", allowed},      // data_end
			{"ldxw %r2, [%r1+0]", refused},       //
			{"ldxw %r2, [%r1+16]", allowed},      // len
			{"ldxb %r2, [%r1+16]", allowed},      //
			{"ldxw %r2, [%r1+20]", allowed},      // eth_protocol
			{"ldxh %r2, [%r1+20]", allowed},      //
			{"ldxh %r2, [%r1+22]", allowed},      //
			{"ldxb %r2, [%r1+20]", refused},      // not a byte of it
			{"ldxb %r2, [%r1+24]", allowed},      // ip_protocol
			{"ldxh %r2, [%r1+30]", allowed},      // bind_inany
			{"ldxw %r2, [%r1+32]", allowed},      // hash
			{"ldxh %r2, [%r1+32]", refused},      //
			{"ldxw %r2, [%r1+36]", refused},      // padding
			{"ldxdw %r2, [%r1+40]", unsupported}, // sk
			{"ldxdw %r2, [%r1+48]", unsupported}, // migrating_sk
			{"stxw [%r1+16], %r2", refused},      // read-only
		}},
		{SKLookupContext, []linuxAccess{
			{"ldxdw %r2, [%r1+0]", unsupported}, // sk
			{"ldxw %r2, [%r1+0]", refused},      //
			{"ldxw %r2, [%r1+8]", allowed},      // family
			{"ldxb %r2, [%r1+9]", allowed},      //
			{"ldxdw %r2, [%r1+8]", refused},     //
			{"ldxw %r2, [%r1+20]", allowed},     // remote_ip6[0]
			{"ldxb %r2, [%r1+23]", allowed},     //
			{"ldxw %r2, [%r1+36]", allowed},     // remote_port, 4 bytes
			{"ldxh %r2, [%r1+36]", allowed},     //
			{"ldxb %r2, [%r1+37]", allowed},     //
			{"ldxh %r2, [%r1+38]", allowed},     // its padding
			{"ldxw %r2, [%r1+40]", allowed},     // local_ip4
			{"ldxw %r2, [%r1+56]", allowed},     // local_ip6[3]
			{"ldxw %r2, [%r1+60]", allowed},     // local_port
			{"ldxw %r2, [%r1+64]", allowed},     // ingress_ifindex
			{"ldxw %r2, [%r1+68]", refused},     // padding
			{"stxw [%r1+8], %r2", refused},      // read-only
		}},
		{CgroupDevContext, []linuxAccess{
			{"ldxw %r2, [%r1+0]", allowed},  // access_type
			{"ldxh %r2, [%r1+2]", allowed},  //
			{"ldxb %r2, [%r1+1]", allowed},  //
			{"ldxw %r2, [%r1+4]", allowed},  // major
			{"ldxw %r2, [%r1+8]", allowed},  // minor
			{"ldxh %r2, [%r1+4]", refused},  //
			{"ldxw %r2, [%r1+12]", refused}, //
			{"stxw [%r1+0], %r2", refused},  //
			{"ldxdw %r2, [%r1+0]", refused}, //
		}},
		{SysctlContext, []linuxAccess{
			{"ldxw %r2, [%r1+0]", allowed}, // write
			{"ldxb %r2, [%r1+0]", allowed}, //
			{"stxw [%r1+0], %r2", refused}, //
			{"ldxw %r2, [%r1+4]", allowed}, // file_pos
			{"ldxh %r2, [%r1+6]", allowed}, //
			{"stxw [%r1+4], %r2", allowed}, //
			{"stxh [%r1+4], %r2", refused}, //
			{"ldxw %r2, [%r1+8]", refused}, //
		}},
		{sockoptContext(AttachCgroupGetsockopt), []linuxAccess{
			{"ldxdw %r2, [%r1+0]", unsupported}, // sk
			{"ldxdw %r2, [%r1+8]", allowed},     // optval
			{"ldxdw %r2, [%r1+16]", allowed},    // optval_end
			{"ldxw %r2, [%r1+8]", refused},      //
			{"ldxw %r2, [%r1+24]", allowed},     // level
			{"ldxh %r2, [%r1+24]", refused},     //
			{"stxw [%r1+24], %r2", refused},     // level: setsockopt only
			{"stxw [%r1+28], %r2", refused},     // optname: setsockopt only
			{"stxw [%r1+32], %r2", allowed},     // optlen
			{"stxh [%r1+32], %r2", refused},     //
			{"ldxw %r2, [%r1+36]", allowed},     // retval
			{"stxw [%r1+36], %r2", allowed},     //
			{"stxdw [%r1+8], %r2", refused},     //
		}},
		{sockoptContext(AttachCgroupSetsockopt), []linuxAccess{
			{"stxw [%r1+24], %r2", allowed}, // level
			{"stxw [%r1+28], %r2", allowed}, // optname
			{"stxw [%r1+32], %r2", allowed}, // optlen
			{"ldxw %r2, [%r1+36]", refused}, // retval: getsockopt only
			{"stxw [%r1+36], %r2", refused}, //
		}},
		{SyscallContext, []linuxAccess{
			{"ldxdw %r2, [%r1+0]", allowed},
			{"stxdw [%r1+8], %r2", allowed},
			{"stb [%r1+3], 1", allowed},
			{"ldxw %r2, [%r1+2]", refused}, // misaligned
			{"add %r1, 65528\nldxdw %r2, [%r1+0]", allowed},
			{"add %r1, 65532\nstxw [%r1+0], %r2", allowed},
			{"add %r1, 65534\nldxh %r2, [%r1+0]", allowed},
			{"add %r1, 65534\nldxb %r2, [%r1+0]", allowed},
			{"add %r1, 65535\nldxb %r2, [%r1+0]", refused}, // Linux: off < U16_MAX
			{"add %r1, 65536\nldxb %r2, [%r1+0]", refused},
		}},
	} {
		t.Run(tc.c.Name, func(t *testing.T) { checkLinux(t, tc.c, tc.cases) })
	}
}

func TestLinuxContextFor(t *testing.T) {
	for _, tc := range []struct {
		t    Type
		a    AttachType
		want *Context
	}{
		{Kprobe, AttachNone, KprobeContext},
		{Tracepoint, AttachNone, TracepointContext},
		{RawTracepoint, AttachNone, RawTracepointContext},
		{RawTracepointWritable, AttachNone, RawTracepointWritableContext},
		{PerfEvent, AttachNone, PerfEventContext},
		{Tracing, AttachTraceFentry, BTFArgsContext},
		{LSM, AttachLSMMac, BTFArgsContext},
		{CgroupSKB, AttachCgroupInetIngress, CgroupSKBContext},
		{SKSKB, AttachSKSKBStreamVerdict, SKSKBContext},
		{SKMsg, AttachSKMsgVerdict, SKMsgContext},
		{LWTIn, AttachNone, LWTContext},
		{LWTOut, AttachNone, LWTContext},
		{LWTXmit, AttachNone, LWTContext},
		{LWTSeg6local, AttachNone, LWTContext},
		{FlowDissector, AttachFlowDissector, FlowDissectorContext},
		{SKReuseport, AttachSKReuseportSelect, SKReuseportContext},
		{SKLookup, AttachSKLookup, SKLookupContext},
		{CgroupDevice, AttachCgroupDevice, CgroupDevContext},
		{CgroupSysctl, AttachCgroupSysctl, SysctlContext},
		{CgroupSockopt, AttachNone, SockoptContext},
		{Syscall, AttachNone, SyscallContext},
		{XDP, AttachXDP, nil},
		{SocketFilter, AttachNone, nil},
		{Unspec, AttachNone, nil},
	} {
		if got := LinuxContextFor(tc.t, tc.a); got != tc.want {
			t.Errorf("LinuxContextFor(%s, %s) = %v, want %v", tc.t, tc.a, got, tc.want)
		}
	}
	for a, retval := range map[AttachType]bool{AttachCgroupGetsockopt: true, AttachCgroupSetsockopt: false} {
		c := LinuxContextFor(CgroupSockopt, a)
		if _, ok := c.Field(36, 4); ok != retval {
			t.Errorf("%s: retval readable = %v, want %v", c.Name, ok, retval)
		}
	}
}

// TestLinuxContextsRealLayout checks what RewriteContext relies on: every field lies
// inside both layouts, and a narrow field's real layout is its Linux one.
func TestLinuxContextsRealLayout(t *testing.T) {
	cs := []*Context{TracepointContext, BTFArgsContext, SyscallContext}
	for _, lc := range linuxLayoutCases() {
		cs = append(cs, lc.c)
	}
	for _, c := range cs {
		for _, f := range c.Fields {
			if f.Offset < 0 || f.Offset+f.Size > c.Size || f.RealOffset < 0 || f.RealOffset+f.RealSize > c.RealSize {
				t.Errorf("%s.%s lies outside the context", c.Name, f.Name)
			}
			if f.Narrow && f.RealSize != f.Size {
				t.Errorf("%s.%s is narrow but changes size", c.Name, f.Name)
			}
			if f.Kind != Scalar && f.Writable {
				t.Errorf("%s.%s: a pointer field is writable", c.Name, f.Name)
			}
		}
	}
}

func TestCheckHelperLinuxTables(t *testing.T) {
	for _, tc := range []struct {
		t      Type
		helper string
		ok     bool
	}{
		{Kprobe, "probe_read", true},
		{Kprobe, "probe_read_str", true},
		{Kprobe, "get_stackid", true},
		{Kprobe, "override_return", true},
		{Kprobe, "perf_event_read_value", true},
		{Kprobe, "perf_prog_read_value", false},
		{Kprobe, "send_signal", true},
		{Kprobe, "xdp_adjust_head", false},
		{Kprobe, "skb_load_bytes", false},
		{Kprobe, "csum_diff", false},
		{Kprobe, "skb_get_tunnel_key", false},
		{Kprobe, "map_lookup_elem", true},
		{Kprobe, "perf_event_output", true},
		{Kprobe, "probe_read_kernel", true},
		{Tracepoint, "get_stack", true},
		{Tracepoint, "override_return", false},
		{PerfEvent, "perf_prog_read_value", true},
		{PerfEvent, "read_branch_records", true},
		{RawTracepoint, "get_stackid", true},
		{Tracing, "get_func_arg", true},
		{Kprobe, "get_func_arg", false},
		{XDP, "probe_read", false},
		{XDP, "get_stackid", false},
		{XDP, "perf_event_read", false},
		{XDP, "override_return", false},
		{XDP, "send_signal", false},
		{XDP, "csum_diff", true},
		{XDP, "fib_lookup", true},
		{XDP, "probe_read_kernel", true}, // bpf_base_func_proto, with CAP_PERFMON
		{XDP, "get_current_task", true},  //
		{SocketFilter, "probe_write_user", false},
		{SchedCls, "get_stack", false},
		{SchedCls, "skb_set_tunnel_key", true},
		{SchedCls, "fib_lookup", true},
		{SocketFilter, "fib_lookup", false},
		{SocketFilter, "skb_load_bytes_relative", true},
		{CgroupSKB, "perf_event_read_value", false},
		{CgroupSKB, "skb_cgroup_id", true},
		{SockOps, "current_task_under_cgroup", false},
		{LWTXmit, "skb_set_tunnel_key", true},
		{LWTIn, "lwt_push_encap", true},
		{LWTOut, "lwt_push_encap", false},
		{LWTSeg6local, "lwt_seg6_action", true},
		{SKSKB, "sk_redirect_map", true},
		{SKMsg, "msg_redirect_map", true},
		{SKSKB, "msg_redirect_map", false},
		{CgroupSysctl, "sysctl_get_name", true},
		{CgroupSockAddr, "bind", true},
		{SKReuseport, "sk_select_reuseport", true},
	} {
		err := CheckHelper(tc.t, tc.helper)
		if (err == nil) != tc.ok {
			t.Errorf("CheckHelper(%s, %s) = %v, want allowed %v", tc.t, tc.helper, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrHelperNotAllowed) {
			t.Errorf("CheckHelper(%s, %s) = %v, want ErrHelperNotAllowed", tc.t, tc.helper, err)
		}
	}
}
