package progtype

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/anybpf/anybpf/isa"
)

// access is one context access a program makes, and whether Linux's is_valid_access for
// the context allows it.
type access struct {
	asm string // one load or store through r1
	ok  bool
}

func checkAccesses(t *testing.T, c *Context, cases []access) {
	t.Helper()
	for _, tc := range cases {
		insns, err := isa.Assemble(tc.asm + "\nmov %r0, 1\nexit")
		if err != nil {
			t.Fatal(err)
		}
		_, err = RewriteContext(insns, c)
		if tc.ok && err != nil {
			t.Errorf("%s: %q refused: %v", c.Name, tc.asm, err)
		}
		if !tc.ok && !errors.Is(err, ErrContextAccess) {
			t.Errorf("%s: %q = %v, want ErrContextAccess", c.Name, tc.asm, err)
		}
	}
}

func TestSockOpsContext(t *testing.T) {
	checkAccesses(t, SockOpsContext, []access{
		{"ldxw %r2, [%r1+0]", true},     // op
		{"ldxb %r2, [%r1+0]", false},    // op is read whole
		{"ldxh %r2, [%r1+2]", false},    //
		{"ldxw %r2, [%r1+4]", true},     // args[0], reply
		{"ldxw %r2, [%r1+16]", true},    // args[3]
		{"ldxdw %r2, [%r1+8]", false},   // args[1..2] at once
		{"stxw [%r1+4], %r2", true},     // reply
		{"stw [%r1+4], 1", true},        //
		{"stxh [%r1+4], %r2", false},    // reply, 2 bytes
		{"stxw [%r1+8], %r2", false},    // replylong[1]: Linux allows stores to reply only
		{"stxw [%r1+20], %r2", false},   // family
		{"ldxw %r2, [%r1+44]", true},    // remote_ip6[3]
		{"ldxdw %r2, [%r1+32]", false},  // remote_ip6[0..1]
		{"ldxw %r2, [%r1+64]", true},    // remote_port
		{"ldxh %r2, [%r1+66]", false},   // remote_port's upper half
		{"ldxw %r2, [%r1+160]", true},   // sacked_out
		{"ldxw %r2, [%r1+164]", true},   // sk_txhash
		{"stxw [%r1+164], %r2", true},   //
		{"stxb [%r1+164], %r2", false},  //
		{"ldxdw %r2, [%r1+168]", true},  // bytes_received
		{"ldxw %r2, [%r1+168]", false},  //
		{"ldxdw %r2, [%r1+176]", true},  // bytes_acked
		{"ldxdw %r2, [%r1+184]", false}, // sk: no kernel socket
		{"ldxdw %r2, [%r1+192]", true},  // skb_data
		{"ldxw %r2, [%r1+192]", false},  //
		{"ldxdw %r2, [%r1+200]", true},  // skb_data_end
		{"stxdw [%r1+192], %r2", false}, //
		{"ldxw %r2, [%r1+208]", true},   // skb_len
		{"ldxw %r2, [%r1+212]", true},   // skb_tcp_flags
		{"ldxb %r2, [%r1+212]", true},   // in parts
		{"ldxh %r2, [%r1+214]", true},   //
		{"ldxdw %r2, [%r1+216]", true},  // skb_hwtstamp
		{"ldxw %r2, [%r1+224]", false},  // past the end
		{"ldxw %r2, [%r1+2]", false},    // misaligned
	})
	insns, err := isa.Assemble("ldxdw %r2, [%r1+184]\nmov %r0, 1\nexit")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RewriteContext(insns, SockOpsContext); !errors.Is(err, ErrNotSupported) {
		t.Errorf("load of sk: %v, want ErrNotSupported", err)
	}
}

func TestSockOpsLayout(t *testing.T) {
	// Offsets from struct bpf_sock_ops in linux/bpf.h (Linux 6.2 and later).
	want := map[string]int{
		"op": 0, "reply": 4, "args[3]": 16, "family": 20, "remote_ip4": 24, "local_ip4": 28,
		"remote_ip6[0]": 32, "local_ip6[0]": 48, "remote_port": 64, "local_port": 68,
		"is_fullsock": 72, "snd_cwnd": 76, "srtt_us": 80, "bpf_sock_ops_cb_flags": 84,
		"state": 88, "rtt_min": 92, "snd_ssthresh": 96, "rcv_nxt": 100, "snd_nxt": 104,
		"snd_una": 108, "mss_cache": 112, "ecn_flags": 116, "rate_delivered": 120,
		"rate_interval_us": 124, "packets_out": 128, "retrans_out": 132, "total_retrans": 136,
		"segs_in": 140, "data_segs_in": 144, "segs_out": 148, "data_segs_out": 152,
		"lost_out": 156, "sacked_out": 160, "sk_txhash": 164, "bytes_received": 168,
		"bytes_acked": 176, "sk": 184, "skb_data": 192, "skb_data_end": 200, "skb_len": 208,
		"skb_tcp_flags": 212, "skb_hwtstamp": 216,
	}
	got := map[string]int{}
	end := 0
	for _, f := range SockOpsContext.Fields {
		got[f.Name] = f.Offset
		if f.Offset < end {
			t.Errorf("%s at %d overlaps the field before", f.Name, f.Offset)
		}
		end = f.Offset + f.Size
		if f.RealOffset != f.Offset || f.RealSize != f.Size {
			t.Errorf("%s: the runtime's layout differs from Linux's", f.Name)
		}
	}
	if end != SockOpsSize || SockOpsContext.Size != SockOpsSize {
		t.Errorf("fields end at %d, size %d; want %d", end, SockOpsContext.Size, SockOpsSize)
	}
	for name, off := range want {
		if g, ok := got[name]; !ok || g != off {
			t.Errorf("%s at %d (%v), want %d", name, g, ok, off)
		}
	}
}

func TestSockAddrByAttachType(t *testing.T) {
	const (
		ip4Load, ip4Store   = "ldxw %r2, [%r1+4]", "stxw [%r1+4], %r2"
		ip6Load, ip6Store   = "ldxw %r2, [%r1+20]", "stxdw [%r1+16], %r2"
		src4Load, src4Store = "ldxb %r2, [%r1+40]", "stxw [%r1+40], %r2"
		src6Load, src6Store = "ldxdw %r2, [%r1+48]", "stxw [%r1+56], %r2"
	)
	v4 := []AttachType{AttachCgroupInet4Bind, AttachCgroupInet4Connect, AttachCgroupUDP4Sendmsg, AttachCgroupUDP4Recvmsg, AttachCgroupInet4Getpeername, AttachCgroupInet4Getsockname}
	v6 := []AttachType{AttachCgroupInet6Bind, AttachCgroupInet6Connect, AttachCgroupUDP6Sendmsg, AttachCgroupUDP6Recvmsg, AttachCgroupInet6Getpeername, AttachCgroupInet6Getsockname}
	for i, a := range append(v4, v6...) {
		t.Run(a.String(), func(t *testing.T) {
			is4 := i < len(v4)
			c := ContextFor(CgroupSockAddr, a)
			checkAccesses(t, c, []access{
				{ip4Load, is4}, {ip4Store, is4},
				{ip6Load, !is4}, {ip6Store, !is4},
				{src4Load, a == AttachCgroupUDP4Sendmsg}, {src4Store, a == AttachCgroupUDP4Sendmsg},
				{src6Load, a == AttachCgroupUDP6Sendmsg}, {src6Store, a == AttachCgroupUDP6Sendmsg},
				{"ldxw %r2, [%r1+0]", true},    // user_family
				{"stxw [%r1+0], %r2", false},   //
				{"ldxh %r2, [%r1+0]", false},   //
				{"ldxh %r2, [%r1+26]", true},   // user_port, in parts
				{"stxw [%r1+24], %r2", true},   //
				{"stxh [%r1+24], %r2", false},  // stores are 4 bytes
				{"ldxw %r2, [%r1+36]", true},   // protocol
				{"ldxdw %r2, [%r1+64]", false}, // sk
			})
		})
	}
	// Without an attach type (and for ebpf-for-windows's hooks) every field.
	for _, a := range []AttachType{AttachNone, AttachConnectAuthorization4} {
		if c := ContextFor(CgroupSockAddr, a); c != SockAddrContext {
			t.Errorf("ContextFor(cgroup_sock_addr, %s) is not SockAddrContext", a)
		}
	}
}

func TestSockContext(t *testing.T) {
	for _, tc := range []struct {
		attach AttachType
		cases  []access
	}{
		{AttachCgroupInetSockCreate, []access{
			{"ldxw %r2, [%r1+0]", true}, {"stxw [%r1+0], %r2", true}, // bound_dev_if
			{"stxw [%r1+16], %r2", true}, {"stxw [%r1+20], %r2", true}, // mark, priority
			{"stxh [%r1+16], %r2", false}, {"ldxb %r2, [%r1+16]", false},
			{"ldxw %r2, [%r1+24]", false}, {"ldxw %r2, [%r1+28]", false}, {"ldxw %r2, [%r1+44]", false},
			{"ldxb %r2, [%r1+4]", true}, {"stxw [%r1+4], %r2", false}, // family
		}},
		{AttachCgroupInetSockRelease, []access{{"stxw [%r1+16], %r2", true}, {"ldxw %r2, [%r1+44]", false}}},
		{AttachCgroupInet4PostBind, []access{
			{"ldxw %r2, [%r1+0]", false}, {"ldxw %r2, [%r1+16]", false},
			{"ldxh %r2, [%r1+24]", true}, {"stxw [%r1+24], %r2", false}, // src_ip4
			{"ldxw %r2, [%r1+28]", false},                              // src_ip6
			{"ldxw %r2, [%r1+44]", true}, {"ldxh %r2, [%r1+44]", true}, // src_port
		}},
		{AttachCgroupInet6PostBind, []access{
			{"ldxw %r2, [%r1+24]", false},
			{"ldxw %r2, [%r1+40]", true}, {"ldxb %r2, [%r1+31]", true}, {"ldxdw %r2, [%r1+32]", false},
			{"ldxw %r2, [%r1+44]", true},
			{"ldxh %r2, [%r1+48]", true}, {"ldxw %r2, [%r1+48]", true}, {"ldxb %r2, [%r1+49]", true}, // dst_port
			{"ldxh %r2, [%r1+50]", false}, // padding
			{"ldxw %r2, [%r1+68]", true}, {"ldxw %r2, [%r1+72]", true}, {"ldxw %r2, [%r1+76]", true},
			{"ldxw %r2, [%r1+80]", false},
		}},
	} {
		t.Run(tc.attach.String(), func(t *testing.T) {
			checkAccesses(t, ContextFor(CgroupSock, tc.attach), tc.cases)
		})
	}
	// Without an attach type: the union.
	checkAccesses(t, ContextOf(CgroupSock), []access{
		{"stxw [%r1+16], %r2", true}, {"ldxw %r2, [%r1+24]", true}, {"ldxw %r2, [%r1+40]", true},
		{"ldxw %r2, [%r1+44]", true}, {"stxw [%r1+44], %r2", false}, {"ldxdw %r2, [%r1+32]", false},
	})
	if ContextFor(CgroupSock, AttachNone) != SockContext {
		t.Error("ContextFor(cgroup_sock, none) is not SockContext")
	}
}

func TestSockOpsCBFlagsSet(t *testing.T) {
	for _, tc := range []struct {
		fullsock  bool
		flags     int32
		ret       int64
		wantFlags uint32
	}{
		{true, 0x4, 0, 0x4},
		{true, 0x7f, 0, 0x7f},
		{true, 0x105, 0x100, 0x5},
		{true, -1, -1 &^ 0x7f, 0x7f},
		{false, 0x4, -22, 0},
	} {
		t.Run(fmt.Sprintf("%v/%#x", tc.fullsock, tc.flags), func(t *testing.T) {
			ctx := make([]byte, SockOpsSize)
			if tc.fullsock {
				binary.LittleEndian.PutUint32(ctx[SockOpsIsFullsockOffset:], 1)
			}
			if ret := SockOpsCBFlagsSet(ctx, tc.flags); ret != tc.ret {
				t.Errorf("ret = %d, want %d", ret, tc.ret)
			}
			if got := binary.LittleEndian.Uint32(ctx[SockOpsCBFlagsOffset:]); got != tc.wantFlags {
				t.Errorf("flags = %#x, want %#x", got, tc.wantFlags)
			}
		})
	}
}
