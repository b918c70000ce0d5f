package anybpf_test

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/anybpf/anybpf"
)

// Linux's sock_ops callbacks (enum BPF_SOCK_OPS_*) and TCP states.
const (
	sockOpsTimeoutInit        = 1
	sockOpsRwndInit           = 2
	sockOpsTCPConnect         = 3
	sockOpsActiveEstablished  = 4
	sockOpsPassiveEstablished = 5
	sockOpsStateCB            = 10
	sockOpsParseHdrOpt        = 13
	tcpEstablished            = 1
	tcpClose                  = 7
)

// sockOpsCtx is what a test gives of a struct bpf_sock_ops; the image is built with
// Linux's layout and byte orders.
type sockOpsCtx struct {
	op            uint32
	args          [4]uint32
	remote, local netip.AddrPort
	fullsock      bool
	sndCwnd       uint32
	bytesAcked    uint64
	skbTCPFlags   uint32
	size          int // 0: 224
	skBits        bool
}

func (c sockOpsCtx) image() []byte {
	size := c.size
	if size == 0 {
		size = 224
	}
	b := make([]byte, size)
	le := binary.LittleEndian
	le.PutUint32(b[0:], c.op)
	for i, a := range c.args {
		le.PutUint32(b[4+4*i:], a)
	}
	if c.remote.Addr().Is4() {
		le.PutUint32(b[20:], 2) // AF_INET
		r, l := c.remote.Addr().As4(), c.local.Addr().As4()
		copy(b[24:], r[:]) // network order
		copy(b[28:], l[:])
	} else if c.remote.IsValid() {
		le.PutUint32(b[20:], 10) // AF_INET6
		r, l := c.remote.Addr().As16(), c.local.Addr().As16()
		copy(b[32:], r[:])
		copy(b[48:], l[:])
	}
	// remote_port: network order in the upper 16 bits; local_port: host order.
	binary.BigEndian.PutUint32(b[64:], uint32(c.remote.Port()))
	le.PutUint32(b[68:], uint32(c.local.Port()))
	if c.fullsock {
		le.PutUint32(b[72:], 1)
		le.PutUint32(b[88:], tcpEstablished) // state
	}
	le.PutUint32(b[76:], c.sndCwnd)
	le.PutUint64(b[176:], c.bytesAcked)
	le.PutUint32(b[212:], c.skbTCPFlags)
	if c.skBits {
		le.PutUint64(b[184:], 0xdead)
	}
	return b
}

// peerKey is struct peer of testdata/sockops.c.
type peerKey struct {
	Family           uint32
	IP               [4]byte
	RemotePort, Port uint16
}

func peerOf(c sockOpsCtx) peerKey {
	k := peerKey{Family: 2, RemotePort: c.remote.Port(), Port: c.local.Port()}
	if c.remote.Addr().Is4() {
		k.IP = c.remote.Addr().As4()
	} else {
		k.Family = 10
		a := c.remote.Addr().As16()
		copy(k.IP[:], a[12:])
	}
	return k
}

func TestSockOps(t *testing.T) {
	coll := load(t, anybpf.NewRuntimeConfig(), "testdata/sockops.o")
	prog := coll.Programs["sockops_prog"]
	v4 := sockOpsCtx{remote: netip.MustParseAddrPort("10.0.0.1:443"), local: netip.MustParseAddrPort("192.168.1.2:40000")}
	v6 := sockOpsCtx{remote: netip.MustParseAddrPort("[2001:db8::5]:8080"), local: netip.MustParseAddrPort("[2001:db8::1]:22")}
	with := func(c sockOpsCtx, f func(*sockOpsCtx)) sockOpsCtx { f(&c); return c }
	for _, tc := range []struct {
		name   string
		ctx    sockOpsCtx
		reply  uint32
		txhash uint32
		peer   *peerKey // expected in peers after the run, with value acked
		acked  uint64
		gone   *peerKey // expected absent after the run
	}{
		{name: "timeout init, 10/8", ctx: with(v4, func(c *sockOpsCtx) { c.op = sockOpsTimeoutInit }), reply: 10},
		{name: "timeout init, elsewhere", ctx: with(v4, func(c *sockOpsCtx) {
			c.op, c.remote = sockOpsTimeoutInit, netip.MustParseAddrPort("192.0.2.1:443")
		}), reply: 0xffffffff},
		{name: "rwnd init, iperf", ctx: with(v4, func(c *sockOpsCtx) {
			c.op, c.local = sockOpsRwndInit, netip.MustParseAddrPort("192.168.1.2:5201")
		}), reply: 40},
		{name: "rwnd init, other", ctx: with(v4, func(c *sockOpsCtx) { c.op = sockOpsRwndInit }), reply: 0},
		{name: "connect", ctx: with(v4, func(c *sockOpsCtx) { c.op = sockOpsTCPConnect }), peer: &peerKey{}},
		{name: "active established", ctx: with(v4, func(c *sockOpsCtx) {
			c.op, c.fullsock, c.sndCwnd, c.bytesAcked = sockOpsActiveEstablished, true, 10, 1000
		}), reply: 1, txhash: 0x0100000a ^ 443 ^ 10, peer: &peerKey{}, acked: 1000},
		{name: "passive established, v6, no full socket", ctx: with(v6, func(c *sockOpsCtx) {
			c.op = sockOpsPassiveEstablished
		}), reply: 1, peer: &peerKey{}},
		{name: "state: established to close", ctx: with(v4, func(c *sockOpsCtx) {
			c.op, c.args = sockOpsStateCB, [4]uint32{tcpEstablished, tcpClose}
		}), reply: tcpEstablished, gone: &peerKey{}}, // reply shares its bytes with args[0]
		{name: "216-byte context", ctx: with(v4, func(c *sockOpsCtx) { c.op, c.size = sockOpsTimeoutInit, 216 }), reply: 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.ctx.image()
			opts := &anybpf.RunOptions{Context: in}
			ret, err := prog.Run(opts)
			if err != nil || ret != 1 {
				t.Fatalf("Run = %d, %v; want 1", ret, err)
			}
			out := opts.ContextOut
			if len(out) != len(in) {
				t.Fatalf("ContextOut is %d bytes, want %d", len(out), len(in))
			}
			if got := binary.LittleEndian.Uint32(out[4:]); got != tc.reply {
				t.Errorf("reply = %#x, want %#x", got, tc.reply)
			}
			if got := binary.LittleEndian.Uint32(out[164:]); got != tc.txhash {
				t.Errorf("sk_txhash = %#x, want %#x", got, tc.txhash)
			}
			// Everything but reply and sk_txhash comes back as it went in.
			for i := range out {
				if (i < 4 || i >= 8) && (i < 164 || i >= 168) && out[i] != in[i] {
					t.Fatalf("ContextOut byte %d = %#x, want %#x", i, out[i], in[i])
				}
			}
			var acked uint64
			if tc.peer != nil {
				if err := coll.Maps["peers"].Lookup(peerOf(tc.ctx), &acked); err != nil || acked != tc.acked {
					t.Errorf("peers[%+v] = %d, %v; want %d", peerOf(tc.ctx), acked, err, tc.acked)
				}
			}
			if tc.gone != nil {
				if err := coll.Maps["peers"].Lookup(peerOf(tc.ctx), &acked); !errors.Is(err, anybpf.ErrKeyNotExist) {
					t.Errorf("peers[%+v]: %v, want it gone", peerOf(tc.ctx), err)
				}
			}
		})
	}
	for op, want := range map[uint32]uint64{sockOpsTimeoutInit: 3, sockOpsRwndInit: 2, sockOpsTCPConnect: 1, sockOpsActiveEstablished: 1, sockOpsPassiveEstablished: 1, sockOpsStateCB: 1, 0: 0} {
		var n uint64
		if err := coll.Maps["ops"].Lookup(op, &n); err != nil || n != want {
			t.Errorf("ops[%d] = %d, %v; want %d", op, n, err, want)
		}
	}
	var n uint64
	if err := coll.Maps["states"].Lookup(uint32(tcpClose), &n); err != nil || n != 1 {
		t.Errorf("states[TCP_CLOSE] = %d, %v; want 1", n, err)
	}
	// Without a context the program sees op BPF_SOCK_OPS_VOID.
	if ret, err := prog.Run(nil); err != nil || ret != 1 {
		t.Errorf("Run(nil) = %d, %v", ret, err)
	}
	if err := coll.Maps["ops"].Lookup(uint32(0), &n); err != nil || n != 1 {
		t.Errorf("ops[0] = %d, %v; want 1", n, err)
	}
}

func TestSockOpsContextIn(t *testing.T) {
	coll := load(t, anybpf.NewRuntimeConfig(), "testdata/sockops.o")
	prog := coll.Programs["sockops_prog"]
	for _, tc := range []struct {
		name string
		ctx  []byte
	}{
		{"10 bytes", make([]byte, 10)},
		{"too long", make([]byte, 232)},
		{"sk given", sockOpsCtx{skBits: true}.image()},
		{"TCP fields without a full socket", sockOpsCtx{sndCwnd: 10}.image()},
	} {
		if _, err := prog.Run(&anybpf.RunOptions{Context: tc.ctx}); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

func TestSockOpsHeader(t *testing.T) {
	coll := load(t, anybpf.NewRuntimeConfig(), "testdata/sockops.o")
	prog := coll.Programs["sockops_hdr"]
	tcp := make([]byte, 24) // a TCP header with one option word
	binary.BigEndian.PutUint16(tcp[0:], 40000)
	binary.BigEndian.PutUint16(tcp[2:], 443)
	tcp[12], tcp[13] = 6<<4, 0x12 // data offset 6 words; SYN|ACK
	for _, tc := range []struct {
		name  string
		data  []byte
		flags uint32
		len   uint32
		reply uint32
	}{
		{"no packet", nil, 0, 0, 0},
		{"short", tcp[:19], 0x12, 0, 0},
		{"syn-ack", tcp, 0x12, 0, 24 | 1<<8 | 24<<16},
		{"flags differ", tcp, 0x10, 0, 24 | 24<<16},
		{"skb_len given", tcp, 0x12, 1500, 24 | 1<<8 | 1500<<16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := sockOpsCtx{op: sockOpsParseHdrOpt, skbTCPFlags: tc.flags}.image()
			binary.LittleEndian.PutUint32(ctx[208:], tc.len)
			opts := &anybpf.RunOptions{Data: tc.data, Context: ctx}
			if ret, err := prog.Run(opts); err != nil || ret != 1 {
				t.Fatalf("Run = %d, %v", ret, err)
			}
			if got := binary.LittleEndian.Uint32(opts.ContextOut[4:]); got != tc.reply {
				t.Errorf("reply = %#x, want %#x", got, tc.reply)
			}
			for _, off := range []int{184, 192, 200} {
				if p := binary.LittleEndian.Uint64(opts.ContextOut[off:]); p != 0 {
					t.Errorf("ContextOut pointer at %d = %#x, want 0", off, p)
				}
			}
		})
	}
}

// TestSockOpsCBFlags runs bpf_sock_ops_cb_flags_set, or sees the program kept with
// ErrNotSupported while the runtime does not offer the helper.
func TestSockOpsCBFlags(t *testing.T) {
	coll := load(t, anybpf.NewRuntimeConfig(), "testdata/sockops.o")
	prog := coll.Programs["sockops_flags"]
	ctx := sockOpsCtx{op: sockOpsActiveEstablished, fullsock: true}.image()
	binary.LittleEndian.PutUint32(ctx[84:], 1) // BPF_SOCK_OPS_RTO_CB_FLAG
	opts := &anybpf.RunOptions{Context: ctx}
	ret, err := prog.Run(opts)
	if errors.Is(err, anybpf.ErrNotSupported) {
		t.Skipf("bpf_sock_ops_cb_flags_set: %v", err)
	}
	if err != nil || ret != 1 {
		t.Fatalf("Run = %d, %v", ret, err)
	}
	// The flags Linux knows are set; the unknown 0x100 comes back.
	if got := binary.LittleEndian.Uint32(opts.ContextOut[84:]); got != 1|4 {
		t.Errorf("bpf_sock_ops_cb_flags = %#x, want 0x5", got)
	}
	if got := binary.LittleEndian.Uint32(opts.ContextOut[4:]); got != 0x100 {
		t.Errorf("reply = %#x, want 0x100", got)
	}
	// Without a full socket the helper fails with -EINVAL.
	ctx = sockOpsCtx{op: sockOpsActiveEstablished}.image()
	opts = &anybpf.RunOptions{Context: ctx}
	if _, err := prog.Run(opts); err != nil {
		t.Fatal(err)
	}
	if got := int32(binary.LittleEndian.Uint32(opts.ContextOut[4:])); got != -22 {
		t.Errorf("reply = %d, want -EINVAL", got)
	}
}

// bpfSock builds a struct bpf_sock image.
func bpfSock(family, typ, protocol uint32, src netip.AddrPort) []byte {
	b := make([]byte, 80)
	le := binary.LittleEndian
	le.PutUint32(b[4:], family)
	le.PutUint32(b[8:], typ)
	le.PutUint32(b[12:], protocol)
	if src.Addr().Is4() {
		a := src.Addr().As4()
		copy(b[24:], a[:])
	}
	le.PutUint32(b[44:], uint32(src.Port())) // src_port: host order
	return b
}

func TestCgroupSock(t *testing.T) {
	coll := load(t, anybpf.NewRuntimeConfig(), "testdata/sockops_cgroup_sock.o")
	none := netip.AddrPort{}
	for _, tc := range []struct {
		name           string
		prog           string
		ctx            []byte
		ret            uint32
		mark, priority uint32
	}{
		{"tcp", "sock_create", bpfSock(2, 1, 6, none), 1, 0x106, 4},
		{"udp6", "sock_create", bpfSock(10, 2, 17, none), 1, 0x111, 6},
		{"raw", "sock_create", bpfSock(2, 3, 1, none), 0, 0, 0},
		{"loopback:80", "post_bind4", bpfSock(2, 1, 6, netip.MustParseAddrPort("127.0.0.1:80")), 1, 0, 0},
		{"any:80", "post_bind4", bpfSock(2, 1, 6, netip.MustParseAddrPort("0.0.0.0:80")), 0, 0, 0},
		{"any:8080", "post_bind4", bpfSock(2, 1, 6, netip.MustParseAddrPort("0.0.0.0:8080")), 1, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := &anybpf.RunOptions{Context: tc.ctx}
			ret, err := coll.Programs[tc.prog].Run(opts)
			if err != nil || ret != tc.ret {
				t.Fatalf("Run = %d, %v; want %d", ret, err, tc.ret)
			}
			mark, prio := binary.LittleEndian.Uint32(opts.ContextOut[16:]), binary.LittleEndian.Uint32(opts.ContextOut[20:])
			if mark != tc.mark || prio != tc.priority {
				t.Errorf("mark %#x, priority %d; want %#x, %d", mark, prio, tc.mark, tc.priority)
			}
		})
	}
	var n uint64
	if err := coll.Maps[".bss"].Lookup(uint32(0), &n); err != nil || n != 2 {
		t.Errorf("created = %d, %v; want 2", n, err)
	}
	if _, err := coll.Programs["sock_create"].Run(&anybpf.RunOptions{Context: make([]byte, 72)}); err == nil {
		t.Error("a 72-byte bpf_sock was accepted")
	}
}
