//go:build linux

package xdp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestWire: ping, UDP and TCP cross the bump in the wire while the program passes them
// and stop when it drops them; the program's counts are exact.
func TestWire(t *testing.T) {
	n := newTestNet(t)
	coll := load(t, "wire.o")
	counts, config := coll.Maps["counts"], coll.Maps["config"]
	a := n.attach(t, coll.Programs["wire"], Options{Interface: "va1", Peer: "vb1", Workers: 2})

	const icmpEcho, udpPort, tcpPort = 1<<16 | 8, 17<<16 | 9000, 6<<16 | 9001
	if got := ping(t, n.a, n.ipB, 5, time.Second); got != 5 {
		t.Fatalf("pass: %d of 5 pings answered", got)
	}
	if got := counter(t, counts, icmpEcho); got != 5 {
		t.Errorf("pass: echo requests counted %d, want 5", got)
	}
	src := udpListen(t, n.a, "198.18.0.1:0")
	dst := udpListen(t, n.b, "198.18.0.2:9000")
	if got := udpExchange(t, src, dst, 20, 2*time.Second); got != 20 {
		t.Errorf("pass: %d of 20 datagrams arrived", got)
	}
	if got := counter(t, counts, udpPort); got != 20 {
		t.Errorf("pass: datagrams counted %d, want 20", got)
	}
	ln := tcpListen(t, n.b, "198.18.0.2:9001")
	for i := range 3 {
		if err := tcpEcho(t, n.a, "198.18.0.2:9001", 3*time.Second, bytes.Repeat([]byte{byte(i)}, 100000)); err != nil {
			t.Fatalf("pass: tcp connection %d: %v", i, err)
		}
	}
	if got := counter(t, counts, tcpPort); got != 3 {
		t.Errorf("pass: connection attempts counted %d, want 3", got)
	}
	if s := a.Stats(); s.Forwarded == 0 || s.Dropped != 0 || s.Received < s.Forwarded {
		t.Errorf("pass: stats %+v", s)
	}

	if err := config.Update(uint32(0), uint32(Drop), 0); err != nil {
		t.Fatal(err)
	}
	if got := ping(t, n.a, n.ipB, 3, 300*time.Millisecond); got != 0 {
		t.Errorf("drop: %d of 3 pings answered", got)
	}
	if got := counter(t, counts, icmpEcho); got != 8 {
		t.Errorf("drop: echo requests counted %d, want 8", got)
	}
	if got := udpExchange(t, src, dst, 10, 500*time.Millisecond); got != 0 {
		t.Errorf("drop: %d of 10 datagrams arrived", got)
	}
	if got := counter(t, counts, udpPort); got != 30 {
		t.Errorf("drop: datagrams counted %d, want 30", got)
	}
	if err := tcpEcho(t, n.a, "198.18.0.2:9001", 1500*time.Millisecond, []byte("x")); err == nil {
		t.Error("drop: tcp connection succeeded")
	}
	if got := counter(t, counts, tcpPort); got < 4 {
		t.Errorf("drop: connection attempts counted %d, want at least 4", got)
	}
	if s := a.Stats(); s.Dropped < 13 {
		t.Errorf("drop: stats %+v, want at least 13 dropped", s)
	}
	_ = ln
}

func tcpListen(t *testing.T, ns, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	inNetns(t, ns, func() error {
		var err error
		ln, err = net.Listen("tcp4", addr)
		return err
	})
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 65536)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln
}

// tcpEcho connects from ns, sends msg and checks it comes back.
func tcpEcho(t *testing.T, ns, addr string, timeout time.Duration, msg []byte) error {
	t.Helper()
	var c net.Conn
	var dialErr error
	inNetns(t, ns, func() error {
		c, dialErr = net.DialTimeout("tcp4", addr, timeout)
		return nil
	})
	if dialErr != nil {
		return dialErr
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		errc <- err
	}()
	got := make([]byte, len(msg))
	for off := 0; off < len(got); {
		n, err := c.Read(got[off:])
		if err != nil {
			return err
		}
		off += n
	}
	if err := <-errc; err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return errors.New("echo differs")
	}
	return nil
}

// TestReflector: a program answers pings and UDP echo with XDP_TX, and, chained before
// the counting program, keeps what it answers from it (the first verdict other than
// XDP_PASS wins).
func TestReflector(t *testing.T) {
	n := newTestNet(t)
	refl := load(t, "reflect.o")
	wire := load(t, "wire.o")
	// No host B: the reflector answers for 198.18.0.2, whose address host A is told.
	ipCmd(t, "-n", n.a, "neigh", "add", "198.18.0.2", "lladdr", "02:00:00:00:00:02", "dev", "va0")
	a := n.attach(t, wire.Programs["wire"], Options{Interface: "va1", Priority: 1, Workers: 1})
	n.attach(t, refl.Programs["reflect"], Options{Interface: "va1", Priority: 0})

	if got := ping(t, n.a, n.ipB, 4, time.Second); got != 4 {
		t.Errorf("%d of 4 pings answered", got)
	}
	src := udpListen(t, n.a, "198.18.0.1:0")
	to := &net.UDPAddr{IP: n.ipB, Port: 7}
	for i := range 6 {
		msg := []byte{'e', 'c', 'h', 'o', byte('0' + i)}
		if _, err := src.WriteToUDP(msg, to); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		src.SetReadDeadline(time.Now().Add(time.Second))
		k, from, err := src.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("udp echo %d: %v", i, err)
		}
		if !bytes.Equal(buf[:k], msg) || !from.IP.Equal(n.ipB) || from.Port != 7 {
			t.Errorf("udp echo %d: got %q from %v", i, buf[:k], from)
		}
	}
	// Datagrams to another port pass the reflector and reach the counter.
	for range 3 {
		src.WriteToUDP([]byte("count me"), &net.UDPAddr{IP: n.ipB, Port: 9000})
	}
	time.Sleep(100 * time.Millisecond)
	deadline := time.Now().Add(2 * time.Second)
	for counter(t, wire.Maps["counts"], 17<<16|9000) < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := counter(t, refl.Maps["reflected"], 0); got != 10 {
		t.Errorf("reflected %d frames, want 10", got)
	}
	if got := counter(t, wire.Maps["counts"], 1<<16|8); got != 0 {
		t.Errorf("the counting program saw %d echo requests the reflector answered", got)
	}
	if got := counter(t, wire.Maps["counts"], 17<<16|9000); got != 3 {
		t.Errorf("the counting program saw %d datagrams to port 9000, want 3", got)
	}
	if s := a.Stats(); s.Transmit != 10 {
		t.Errorf("stats %+v, want 10 transmitted", s)
	}
}

// TestRedirect: bpf_redirect_map through a devmap hash, and bpf_redirect, move the
// traffic between the interfaces.
func TestRedirect(t *testing.T) {
	t.Run("devmap", func(t *testing.T) {
		n := newTestNet(t)
		coll := load(t, "redirect.o")
		out, redirected := coll.Maps["out"], coll.Maps["redirected"]
		if err := out.Update(uint32(n.ifA1), uint32(n.ifB1), 0); err != nil {
			t.Fatal(err)
		}
		if err := out.Update(uint32(n.ifB1), uint32(n.ifA1), 0); err != nil {
			t.Fatal(err)
		}
		a := n.attach(t, coll.Programs["redirect_dev"], Options{Interface: "va1", Workers: 1})
		b := n.attach(t, coll.Programs["redirect_dev"], Options{Interface: "vb1", Workers: 1})
		if got := ping(t, n.a, n.ipB, 3, time.Second); got != 3 {
			t.Errorf("%d of 3 pings answered", got)
		}
		src := udpListen(t, n.a, "198.18.0.1:0")
		dst := udpListen(t, n.b, "198.18.0.2:9000")
		if got := udpExchange(t, src, dst, 10, 2*time.Second); got != 10 {
			t.Errorf("%d of 10 datagrams arrived", got)
		}
		sa, sb := a.Stats(), b.Stats()
		if got := counter(t, redirected, uint32(n.ifA1)); got != sa.Redirected || got < 13 {
			t.Errorf("va1: program redirected %d, datapath %d (want equal, at least 13)", got, sa.Redirected)
		}
		if got := counter(t, redirected, uint32(n.ifB1)); got != sb.Redirected || got < 3 {
			t.Errorf("vb1: program redirected %d, datapath %d (want equal, at least 3)", got, sb.Redirected)
		}
		if sa.SendErrors+sb.SendErrors != 0 {
			t.Errorf("send errors: %+v %+v", sa, sb)
		}
	})
	t.Run("ifindex", func(t *testing.T) {
		n := newTestNet(t)
		coll := load(t, "redirect.o")
		if err := coll.Maps["target"].Update(uint32(0), uint32(n.ifB1), 0); err != nil {
			t.Fatal(err)
		}
		// vb1 is the peer: it has no program and sends what it receives back to va1.
		a := n.attach(t, coll.Programs["redirect_if"], Options{Interface: "va1", Peer: "vb1", Workers: 1})
		if got := ping(t, n.a, n.ipB, 3, time.Second); got != 3 {
			t.Errorf("%d of 3 pings answered", got)
		}
		if s := a.Stats(); s.Redirected < 3 || s.Redirected != counter(t, coll.Maps["redirected"], uint32(n.ifA1)) {
			t.Errorf("stats %+v", s)
		}
	})
}

// TestAdjustHead: bpf_xdp_adjust_head, _tail and _meta on real frames. Frames from A
// that arrive in an outer header lose it on the way (decap); UDP datagrams from B to
// port 9200 arrive at A inside one (encap); datagrams from A to port 9400 lose their last
// 4 bytes (trim, chained after decap), and the metadata trim leaves is not sent.
func TestAdjustHead(t *testing.T) {
	n := newTestNet(t)
	coll := load(t, "encap.o")
	n.attach(t, coll.Programs["decap"], Options{Interface: "va1", Peer: "vb1", Workers: 1})
	n.attach(t, coll.Programs["trim"], Options{Interface: "va1", Peer: "vb1", Priority: 1})
	n.attach(t, coll.Programs["encap"], Options{Interface: "vb1", Peer: "va1", Workers: 1})

	// Host A's raw socket for the outer frames, both ways.
	var fd int
	inNetns(t, n.a, func() error {
		var err error
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(0x88b5))); err != nil {
			return err
		}
		ifc, err := net.InterfaceByName("va0")
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(0x88b5), Ifindex: ifc.Index})
	})
	defer unix.Close(fd)
	tv := unix.Timeval{Sec: 2}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)

	// A → B, decapsulated on the way.
	dst := udpListen(t, n.b, "198.18.0.2:9300")
	inner := udpFrame(n.macB, n.macA, n.ipA, n.ipB, 4242, 9300, []byte("hello decap"))
	outer := append(append(append([]byte{}, n.macB...), n.macA...), 0x88, 0xb5, 'A', 'B', 'P', 'F')
	if _, err := unix.Write(fd, append(outer, inner...)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	dst.SetReadDeadline(time.Now().Add(2 * time.Second))
	k, from, err := dst.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("decap: %v", err)
	}
	if string(buf[:k]) != "hello decap" || from.Port != 4242 {
		t.Errorf("decap: got %q from %v", buf[:k], from)
	}

	// A → B, trimmed on the way.
	trimDst := udpListen(t, n.b, "198.18.0.2:9400")
	trimSrc := udpListen(t, n.a, "198.18.0.1:0")
	payload := bytes.Repeat([]byte("0123456789"), 10)
	if _, err := trimSrc.WriteToUDP(payload, &net.UDPAddr{IP: n.ipB, Port: 9400}); err != nil {
		t.Fatal(err)
	}
	trimDst.SetReadDeadline(time.Now().Add(2 * time.Second))
	k, _, err = trimDst.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("trim: %v", err)
	}
	if !bytes.Equal(buf[:k], payload[:96]) {
		t.Errorf("trim: got %q, want %q", buf[:k], payload[:96])
	}

	// B → A, encapsulated on the way.
	src := udpListen(t, n.b, "198.18.0.2:5555")
	if _, err := src.WriteToUDP([]byte("hello encap"), &net.UDPAddr{IP: n.ipA, Port: 9200}); err != nil {
		t.Fatal(err)
	}
	for {
		k, err := unix.Read(fd, buf)
		if err != nil {
			t.Fatalf("encap: nothing arrived: %v", err)
		}
		f := buf[:k]
		if len(f) < 18+14+20+8 || binary.BigEndian.Uint16(f[12:]) != 0x88b5 {
			continue // the one we sent
		}
		if string(f[14:18]) != "ABPF" || !bytes.Equal(f[0:6], n.macA) || !bytes.Equal(f[18:24], n.macA) || binary.BigEndian.Uint16(f[30:]) != 0x0800 {
			t.Fatalf("encap: frame % x", f)
		}
		udp := f[18+14+20:]
		if binary.BigEndian.Uint16(udp[0:]) != 5555 || binary.BigEndian.Uint16(udp[2:]) != 9200 || string(udp[8:]) != "hello encap" {
			t.Errorf("encap: inner udp % x", udp)
		}
		break
	}
}

// udpFrame builds an Ethernet/IPv4/UDP frame (UDP checksum 0: none).
func udpFrame(dstMAC, srcMAC net.HardwareAddr, src, dst net.IP, sport, dport uint16, payload []byte) []byte {
	f := append(append(append([]byte{}, dstMAC...), srcMAC...), 0x08, 0x00)
	ip := make([]byte, 20)
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	copy(ip[12:], src.To4())
	copy(ip[16:], dst.To4())
	binary.BigEndian.PutUint16(ip[10:], ^fold(sumBytes(ip, 0)))
	udp := make([]byte, 8)
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], dport)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	return append(append(append(f, ip...), udp...), payload...)
}

// TestCloseReleases: Close stops the workers and closes the sockets; nothing is left
// behind, and closing twice is fine.
func TestCloseReleases(t *testing.T) {
	n := newTestNet(t)
	coll := load(t, "wire.o")
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	settle := func(want int) int {
		g := runtime.NumGoroutine()
		for i := 0; i < 100 && g > want; i++ {
			time.Sleep(10 * time.Millisecond)
			g = runtime.NumGoroutine()
		}
		return g
	}
	g0, f0 := settle(0), fds()
	for range 3 {
		var as []*Attachment
		inNetns(t, n.m, func() error {
			for _, o := range []Options{{Interface: "va1", Peer: "vb1", Workers: 3}, {Interface: "vb1", Peer: "va1", Priority: 5}} {
				a, err := Attach(coll.Programs["wire"], o)
				if err != nil {
					return err
				}
				as = append(as, a)
			}
			return nil
		})
		if got := ping(t, n.a, n.ipB, 1, time.Second); got != 1 {
			t.Errorf("ping through the attached wire: %d replies", got)
		}
		if g := runtime.NumGoroutine(); g < g0+6 {
			t.Errorf("%d goroutines with 6 workers running, %d before", g, g0)
		}
		for _, a := range as {
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			if err := a.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
		}
	}
	if g := settle(g0); g > g0 {
		t.Errorf("%d goroutines after Close, %d before", g, g0)
	}
	if f := fds(); f != f0 {
		t.Errorf("%d open files after Close, %d before", f, f0)
	}
	regMu.Lock()
	left := len(ports)
	regMu.Unlock()
	if left != 0 {
		t.Errorf("%d interfaces still in the datapath", left)
	}
}

// TestAttachErrors: bad options are refused with a clear error.
func TestAttachErrors(t *testing.T) {
	n := newTestNet(t)
	coll := load(t, "wire.o")
	prog := coll.Programs["wire"]
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"no interface", Options{}},
		{"own peer", Options{Interface: "va1", Peer: "va1"}},
		{"missing interface", Options{Interface: "nosuch0"}},
		{"missing peer", Options{Interface: "va1", Peer: "nosuch0"}},
		{"workers", Options{Interface: "va1", Workers: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inNetns(t, n.m, func() error {
				a, err := Attach(prog, tc.opts)
				if err == nil {
					a.Close()
					t.Errorf("Attach(%+v) succeeded", tc.opts)
				}
				return nil
			})
		})
	}
	inNetns(t, n.m, func() error {
		a, err := Attach(prog, Options{Interface: "va1", Peer: "vb1", Workers: 1})
		if err != nil {
			return err
		}
		defer a.Close()
		if _, err := Attach(prog, Options{Interface: "va1", Peer: "lo", Workers: 1}); !errors.Is(err, ErrPeerConflict) {
			t.Errorf("second peer: %v, want ErrPeerConflict", err)
		}
		return nil
	})
	if _, err := Attach(nil, Options{Interface: "lo"}); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("nil program: %v", err)
	}
}

// TestInterfaceGone: when an attached interface is deleted, its workers neither spin
// nor hang, and Close still works.
func TestInterfaceGone(t *testing.T) {
	n := newTestNet(t)
	coll := load(t, "wire.o")
	a := n.attach(t, coll.Programs["wire"], Options{Interface: "va1", Peer: "vb1", Workers: 2})
	ipCmd(t, "-n", n.m, "link", "del", "va1")
	time.Sleep(100 * time.Millisecond)
	var before, after unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &before)
	time.Sleep(500 * time.Millisecond)
	unix.Getrusage(unix.RUSAGE_SELF, &after)
	used := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
	if used > 200*time.Millisecond {
		t.Errorf("%v of CPU in 500 ms with the interface gone: the workers spin", used)
	}
	done := make(chan error, 1)
	go func() { done <- a.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs")
	}
}

// TestTAP: without a peer wire, the host gets what the program passes through a TAP
// device, and nothing of what it drops: the interface has no address and ARP off, so the
// kernel ignores its own copy of the frames.
//
//	A: va0 198.18.0.1 ⟷ M: va1 (arp off) | anybpf | M: tap 198.18.0.2 (M's host stack)
func TestTAP(t *testing.T) {
	n := newTestNet(t)
	coll := load(t, "wire.o")
	ipCmd(t, "-n", n.m, "link", "set", "va1", "arp", "off")
	a := n.attach(t, coll.Programs["wire"], Options{Interface: "va1", TAP: "axtap0", Workers: 1})
	ipCmd(t, "-n", n.m, "addr", "add", "198.18.0.2/24", "dev", "axtap0")

	if got := ping(t, n.a, n.ipB, 4, time.Second); got != 4 {
		t.Fatalf("pass: %d of 4 pings answered", got)
	}
	src := udpListen(t, n.a, "198.18.0.1:0")
	dst := udpListen(t, n.m, "198.18.0.2:9000")
	if got := udpExchange(t, src, dst, 10, 2*time.Second); got != 10 {
		t.Errorf("pass: %d of 10 datagrams reached the host", got)
	}
	if err := coll.Maps["config"].Update(uint32(0), uint32(Drop), 0); err != nil {
		t.Fatal(err)
	}
	if got := ping(t, n.a, n.ipB, 2, 300*time.Millisecond); got != 0 {
		t.Errorf("drop: %d of 2 pings answered", got)
	}
	if got := udpExchange(t, src, dst, 10, 500*time.Millisecond); got != 0 {
		t.Errorf("drop: %d of 10 datagrams reached the host", got)
	}
	if got := counter(t, coll.Maps["counts"], 17<<16|9000); got != 20 {
		t.Errorf("datagrams counted %d, want 20", got)
	}
	if s := a.Stats(); s.Dropped < 12 || s.Forwarded == 0 {
		t.Errorf("stats %+v", s)
	}
	inNetns(t, n.m, func() error {
		if _, err := Attach(coll.Programs["wire"], Options{Interface: "vb1", TAP: "va1"}); err == nil {
			t.Error("a TAP device named like an existing interface was made")
		}
		return nil
	})
	a.Close()
	inNetns(t, n.m, func() error {
		if _, err := net.InterfaceByName("axtap0"); err == nil {
			t.Error("the TAP device outlives Close")
		}
		return nil
	})
}
