// Package examples_test checks that the examples' programs do what their READMEs say.
package examples_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/anybpf/anybpf"
	"github.com/anybpf/anybpf/maps"
)

// ipv4Frame builds an Ethernet frame carrying an IPv4 header from src to dst.
func ipv4Frame(src, dst string, proto byte) []byte {
	f := make([]byte, 14+20+8)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0], ip[9] = 0x45, proto
	binary.BigEndian.PutUint16(ip[2:], 28)
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(ip[12:], s[:])
	copy(ip[16:], d[:])
	return f
}

// lpmKey is struct lpm_v4: a prefix length and an address in network byte order.
func lpmKey(prefix string) []byte {
	p := netip.MustParsePrefix(prefix)
	k := make([]byte, 8)
	binary.LittleEndian.PutUint32(k, uint32(p.Bits()))
	a := p.Addr().As4()
	copy(k[4:], a[:])
	return k
}

func TestXDPFirewall(t *testing.T) {
	rt := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig())
	defer rt.Close()
	coll, err := rt.LoadCollection("xdp_firewall/firewall.o")
	if err != nil {
		t.Fatal(err)
	}
	for prefix, rule := range map[string]uint32{"198.18.0.0/24": 7, "198.18.0.128/25": 9} {
		if err := coll.Maps["blocklist"].Update(lpmKey(prefix), rule, maps.UpdateAny); err != nil {
			t.Fatal(err)
		}
	}
	const xdpDrop, xdpPass = 1, 2
	for _, tc := range []struct {
		src  string
		want uint32
	}{
		{"198.18.0.5", xdpDrop},   // rule 7
		{"198.18.0.200", xdpDrop}, // rule 9, the longer prefix
		{"198.18.0.6", xdpDrop},   // rule 7
		{"198.18.1.5", xdpPass},
		{"10.0.0.1", xdpPass},
	} {
		ret, err := coll.Programs["firewall"].Run(&anybpf.RunOptions{Data: ipv4Frame(tc.src, "198.18.1.1", 17)})
		if err != nil || ret != tc.want {
			t.Errorf("from %s: %d, %v; want %d", tc.src, ret, err, tc.want)
		}
	}
	for rule, want := range map[uint32]uint64{7: 2, 9: 1, 0: 0} {
		var n uint64
		if err := coll.Maps["drops"].Lookup(rule, &n); err != nil || n != want {
			t.Errorf("drops[%d] = %d, %v; want %d", rule, n, err, want)
		}
	}
	rb := coll.Maps["events"].Underlying().(*maps.RingBuffer)
	rd := maps.NewRingBufferReader(rb)
	defer rd.Close()
	var got []string
	for range 3 {
		rd.SetDeadline(time.Now().Add(time.Second))
		rec, err := rd.Read()
		if err != nil {
			t.Fatalf("event %d: %v", len(got), err)
		}
		if len(rec.RawSample) != 16 {
			t.Fatalf("event of %d bytes, want 16", len(rec.RawSample))
		}
		src := netip.AddrFrom4([4]byte(rec.RawSample[0:4]))
		rule := binary.LittleEndian.Uint32(rec.RawSample[8:])
		got = append(got, fmt.Sprintf("%s/%d", src, rule))
	}
	want := []string{"198.18.0.5/7", "198.18.0.200/9", "198.18.0.6/7"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %v, want %v", got, want)
		}
	}
}

func load(t *testing.T, path string) *anybpf.Collection {
	t.Helper()
	rt := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig())
	t.Cleanup(func() { rt.Close() })
	coll, err := rt.LoadCollection(path)
	if err != nil {
		t.Fatal(err)
	}
	return coll
}

func TestXDPReflector(t *testing.T) {
	coll := load(t, "xdp_reflector/reflector.o")
	in := ipv4Frame("198.18.0.1", "198.18.0.2", 17)
	copy(in[0:6], []byte{2, 0, 0, 0, 0, 2})  // destination MAC
	copy(in[6:12], []byte{2, 0, 0, 0, 0, 1}) // source MAC
	udp := in[34:]
	binary.BigEndian.PutUint16(udp[0:], 40000)
	binary.BigEndian.PutUint16(udp[2:], 7)
	opts := &anybpf.RunOptions{Data: in}
	const xdpTX = 3
	if ret, err := coll.Programs["reflect"].Run(opts); err != nil || ret != xdpTX {
		t.Fatalf("echo datagram: %d, %v; want XDP_TX", ret, err)
	}
	out := opts.DataOut
	if string(out[0:6]) != string(in[6:12]) || string(out[6:12]) != string(in[0:6]) ||
		string(out[26:30]) != string(in[30:34]) || string(out[30:34]) != string(in[26:30]) ||
		binary.BigEndian.Uint16(out[34:]) != 7 || binary.BigEndian.Uint16(out[36:]) != 40000 {
		t.Errorf("reflected frame %x from %x", out, in)
	}
	binary.BigEndian.PutUint16(udp[2:], 53)
	if ret, err := coll.Programs["reflect"].Run(&anybpf.RunOptions{Data: in}); err != nil || ret != 2 {
		t.Errorf("datagram to port 53: %d, %v; want XDP_PASS", ret, err)
	}
	var n uint64
	if err := coll.Maps[".bss"].Lookup(uint32(0), &n); err != nil || n != 1 {
		t.Errorf("reflected = %d, %v; want 1", n, err)
	}
}

// sockAddr is a bpf_sock_addr for an IPv4 TCP socket calling connect or bind with addr.
func sockAddr(addr string) []byte {
	ap := netip.MustParseAddrPort(addr)
	c := make([]byte, 72)
	binary.LittleEndian.PutUint32(c[0:], 2) // AF_INET
	a := ap.Addr().As4()
	copy(c[4:8], a[:])
	binary.BigEndian.PutUint16(c[24:], ap.Port())
	binary.LittleEndian.PutUint32(c[28:], 2)
	binary.LittleEndian.PutUint32(c[32:], 1) // SOCK_STREAM
	binary.LittleEndian.PutUint32(c[36:], 6) // IPPROTO_TCP
	return c
}

func addrOf(c []byte) string {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(c[4:8])), binary.BigEndian.Uint16(c[24:])).String()
}

func TestConnectRedirect(t *testing.T) {
	coll := load(t, "connect_redirect/redirect.o")
	backend := make([]byte, 8)
	a := netip.MustParseAddr("127.0.0.1").As4()
	copy(backend, a[:])
	binary.LittleEndian.PutUint32(backend[4:], 8080)
	if err := coll.Maps["backends"].Update(uint32(0), backend, maps.UpdateAny); err != nil {
		t.Fatal(err)
	}
	if err := coll.Maps["denied"].Update(uint16(25), []byte{1}, maps.UpdateAny); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		to, want string
		allow    uint32
	}{
		{"198.18.0.10:80", "127.0.0.1:8080", 1},
		{"198.18.0.10:443", "198.18.0.10:443", 1},
		{"198.18.0.11:80", "198.18.0.11:80", 1},
		{"198.18.0.10:25", "198.18.0.10:25", 0},
	} {
		opts := &anybpf.RunOptions{Context: sockAddr(tc.to)}
		ret, err := coll.Programs["connect4"].Run(opts)
		if err != nil || ret != tc.allow || addrOf(opts.ContextOut) != tc.want {
			t.Errorf("connect %s: %d %s, %v; want %d %s", tc.to, ret, addrOf(opts.ContextOut), err, tc.allow, tc.want)
		}
	}
}

func TestBindPolicy(t *testing.T) {
	coll := load(t, "bind_policy/policy.o")
	if err := coll.Maps["allowed"].Update(uint16(8080), []byte{1}, maps.UpdateAny); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr string
		want uint32
	}{{"0.0.0.0:8080", 1}, {"0.0.0.0:0", 1}, {"127.0.0.1:22", 0}, {"0.0.0.0:8081", 0}} {
		if ret, err := coll.Programs["bind4"].Run(&anybpf.RunOptions{Context: sockAddr(tc.addr)}); err != nil || ret != tc.want {
			t.Errorf("bind %s: %d, %v; want %d", tc.addr, ret, err, tc.want)
		}
	}
	var n uint64
	if err := coll.Maps[".bss"].Lookup(uint32(0), &n); err != nil || n != 2 {
		t.Errorf("refused = %d, %v; want 2", n, err)
	}
}

func TestExecAudit(t *testing.T) {
	coll := load(t, "exec_audit/audit.o")
	key := make([]byte, 64)
	copy(key, "/usr/bin/nc")
	if err := coll.Maps["denied"].Update(key, []byte{1}, maps.UpdateAny); err != nil {
		t.Fatal(err)
	}
	md := func(pid uint64, op byte) []byte {
		c := make([]byte, 88)
		binary.LittleEndian.PutUint64(c[16:], pid)
		binary.LittleEndian.PutUint64(c[24:], 1)
		c[68] = op
		return c
	}
	for _, tc := range []struct {
		image string
		op    byte
		want  uint32
	}{{"/usr/bin/nc", 0, 1}, {"/usr/bin/ls", 0, 0}, {"/usr/bin/nc", 1, 0}} {
		ret, err := coll.Programs["audit"].Run(&anybpf.RunOptions{Data: []byte(tc.image), ImagePath: []byte(tc.image), Context: md(42, tc.op)})
		if err != nil || ret != tc.want {
			t.Errorf("%s operation %d: %d, %v; want %d", tc.image, tc.op, ret, err, tc.want)
		}
	}
	rd := maps.NewRingBufferReader(coll.Maps["events"].Underlying().(*maps.RingBuffer))
	defer rd.Close()
	for i, want := range []string{"/usr/bin/nc denied", "/usr/bin/ls allowed", "/usr/bin/nc allowed"} {
		rd.SetDeadline(time.Now().Add(time.Second))
		rec, err := rd.Read()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		ev := rec.RawSample
		path := string(ev[20 : 20+len("/usr/bin/xx")])
		verdict := "allowed"
		if binary.LittleEndian.Uint32(ev[16:]) != 0 {
			verdict = "denied"
		}
		if got := path + " " + verdict; got != want || binary.LittleEndian.Uint32(ev[0:]) != 42 {
			t.Errorf("event %d: %q pid %d, want %q pid 42", i, got, binary.LittleEndian.Uint32(ev[0:]), want)
		}
	}
}
