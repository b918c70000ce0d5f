package progtype

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestLinuxNumbering checks the constants against the kernel's UAPI header, when the
// machine has it (linux-libc-dev).
func TestLinuxNumbering(t *testing.T) {
	h, err := os.ReadFile("/usr/include/linux/bpf.h")
	if err != nil {
		t.Skip("/usr/include/linux/bpf.h not found (install linux-libc-dev)")
	}
	for _, tc := range []struct {
		enum, prefix string
		name         func(uint32) (string, bool)
	}{
		{"bpf_prog_type", "BPF_PROG_TYPE_", func(i uint32) (string, bool) { n, ok := typeNames[Type(i)]; return n, ok }},
		{"bpf_attach_type", "BPF_", func(i uint32) (string, bool) { n, ok := attachNames[AttachType(i)]; return n, ok }},
	} {
		body := regexp.MustCompile(`(?s)enum ` + tc.enum + ` \{(.*?)\};`).FindSubmatch(h)
		if body == nil {
			t.Fatalf("enum %s not in the header", tc.enum)
		}
		i := uint32(0)
		for _, line := range strings.Split(string(body[1]), "\n") {
			m := regexp.MustCompile(`^\s*(` + tc.prefix + `\w+)`).FindStringSubmatch(line)
			if m == nil {
				continue
			}
			name, ok := tc.name(i)
			if want := strings.ToLower(strings.TrimPrefix(m[1], tc.prefix)); !ok || name != want {
				t.Errorf("%s value %d: have %q, header says %q", tc.enum, i, name, want)
			}
			i++
		}
		if i < 30 {
			t.Errorf("%s: read only %d values", tc.enum, i)
		}
	}
}

func TestFromSection(t *testing.T) {
	for _, tc := range []struct {
		section string
		typ     Type
		attach  AttachType
		ok      bool
	}{
		{"xdp", XDP, AttachXDP, true},
		{"xdp/devmap", XDP, AttachXDPDevmap, true},
		{"xdp_ttl", XDP, AttachXDP, true}, // legacy name
		{"socket", SocketFilter, AttachNone, true},
		{"socket1", SocketFilter, AttachNone, true},
		{"kprobe/sys_open", Kprobe, AttachNone, true},
		{"kretprobe/tcp_v4_connect", Kprobe, AttachNone, true},
		{"tracepoint/syscalls/sys_enter_open", Tracepoint, AttachNone, true},
		{"tp/sched/sched_switch", Tracepoint, AttachNone, true},
		{"raw_tp/sched_switch", RawTracepoint, AttachNone, true},
		{"raw_tracepoint.w/x", RawTracepointWritable, AttachNone, true},
		{"tc", SchedCls, AttachNone, true},
		{"classifier/ingress", SchedCls, AttachNone, true},
		{"cgroup/connect4", CgroupSockAddr, AttachCgroupInet4Connect, true},
		{"cgroup/bind6", CgroupSockAddr, AttachCgroupInet6Bind, true},
		{"cgroup/recvmsg4", CgroupSockAddr, AttachCgroupUDP4Recvmsg, true},
		{"cgroup/getsockname6", CgroupSockAddr, AttachCgroupInet6Getsockname, true},
		{"cgroup_skb/egress", CgroupSKB, AttachCgroupInetEgress, true},
		{"cgroup/sock_create", CgroupSock, AttachCgroupInetSockCreate, true},
		{"sockops", SockOps, AttachCgroupSockOps, true},
		{"sk_skb/stream_parser", SKSKB, AttachSKSKBStreamParser, true},
		{"sk_msg", SKMsg, AttachSKMsgVerdict, true},
		{"fentry/tcp_connect", Tracing, AttachTraceFentry, true},
		{"perf_event", PerfEvent, AttachNone, true},
		{"lwt_xmit", LWTXmit, AttachNone, true},
		{"bind", Bind, AttachBind, true},
		{"process", Process, AttachProcess, true},
		{"cgroup/recv_accept4", CgroupSockAddr, AttachRecvAccept4, true},
		{".text", 0, 0, false},
		{"license", 0, 0, false},
		{"socketfoo/x", SocketFilter, AttachNone, true},
		{"mysection", 0, 0, false},
	} {
		typ, attach, ok := FromSection(tc.section)
		if ok != tc.ok || typ != tc.typ || attach != tc.attach {
			t.Errorf("FromSection(%q) = %v, %v, %v; want %v, %v, %v", tc.section, typ, attach, ok, tc.typ, tc.attach, tc.ok)
		}
	}
	if Bind.String() != "bind" || XDP.String() != "xdp" || Type(999).String() != "type(999)" {
		t.Errorf("String: %v %v %v", Bind, XDP, Type(999))
	}
}

func TestCheckHelper(t *testing.T) {
	for _, tc := range []struct {
		typ    Type
		helper string
		ok     bool
	}{
		{XDP, "xdp_adjust_head", true},
		{SocketFilter, "xdp_adjust_head", false},
		{SchedCls, "skb_store_bytes", true},
		{SocketFilter, "skb_store_bytes", false},
		{SocketFilter, "skb_load_bytes", true},
		{XDP, "skb_load_bytes", false},
		{XDP, "map_lookup_elem", true},
		{Unspec, "xdp_adjust_head", true},
		{SockOps, "sock_ops_cb_flags_set", true},
		{XDP, "sock_ops_cb_flags_set", false},
		{SockOps, "sock_map_update", true},
		{SchedCls, "sock_map_update", false},
		{SockOps, "sock_hash_update", true},
		{SockOps, "load_hdr_opt", true},
		{SockOps, "store_hdr_opt", true},
		{CgroupSockAddr, "reserve_hdr_opt", false},
		{CgroupSockAddr, "setsockopt", true},
		{SockOps, "getsockopt", true},
		{XDP, "getsockopt", false},
		{SockOps, "get_socket_cookie", true},
		{SocketFilter, "get_socket_cookie", true},
		{XDP, "get_socket_cookie", false},
		{SockOps, "tcp_sock", true},
		{XDP, "tcp_sock", false},
	} {
		err := CheckHelper(tc.typ, tc.helper)
		if (err == nil) != tc.ok {
			t.Errorf("CheckHelper(%s, %s) = %v", tc.typ, tc.helper, err)
		}
		if err != nil && !strings.Contains(err.Error(), "bpf_"+tc.helper) {
			t.Errorf("error %q does not name the helper", err)
		}
	}
}
