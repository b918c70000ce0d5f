//go:build linux

package xdp

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/anybpf/anybpf"
)

// The test network: host A and host B each in a namespace of their own, and the
// datapath's namespace between them:
//
//	A: va0 198.18.0.1/24 ⟷ M: va1 | anybpf | M: vb1 ⟷ B: vb0 198.18.0.2/24
//
// Nothing in M has an address, a bridge or a route, so only anybpf carries frames from
// va1 to vb1. IPv6 is off in all three, so that no router solicitation or neighbour
// discovery adds to the counts.
type testNet struct {
	a, b, m      string // namespace names
	macA, macB   net.HardwareAddr
	ifA1, ifB1   int // indexes of va1 and vb1 in M
	ipA, ipB     net.IP
	cleanupNames []string
}

const nsPrefix = "axdp"

var nsCount atomic.Int32

// needNetns skips the test when network namespaces cannot be made here.
func needNetns(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces and AF_PACKET")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip(8) (iproute2) for network namespaces")
	}
	removeLeftovers()
}

// removeLeftovers deletes test namespaces whose test process is gone.
func removeLeftovers() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	re := regexp.MustCompile(`^` + nsPrefix + `-\w*-(\d+)-\d+-[abm]\b`)
	for _, line := range strings.Split(string(out), "\n") {
		m := re.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid == os.Getpid() || unix.Kill(pid, 0) == nil {
			continue
		}
		exec.Command("ip", "netns", "del", strings.Fields(line)[0]).Run()
	}
}

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// newTestNet builds the test network; t.Cleanup removes it.
func newTestNet(t *testing.T) *testNet {
	t.Helper()
	needNetns(t)
	short := regexp.MustCompile(`\W`).ReplaceAllString(t.Name(), "")
	if len(short) > 20 {
		short = short[:20]
	}
	base := fmt.Sprintf("%s-%s-%d-%d", nsPrefix, short, os.Getpid(), nsCount.Add(1))
	n := &testNet{a: base + "-a", b: base + "-b", m: base + "-m", ipA: net.IPv4(198, 18, 0, 1), ipB: net.IPv4(198, 18, 0, 2)}
	for _, ns := range []string{n.a, n.b, n.m} {
		ipCmd(t, "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		n.sysctl(t, ns, "net/ipv6/conf/all/disable_ipv6", "1")
		n.sysctl(t, ns, "net/ipv6/conf/default/disable_ipv6", "1")
	}
	ipCmd(t, "-n", n.m, "link", "add", "va1", "type", "veth", "peer", "name", "va0", "netns", n.a)
	ipCmd(t, "-n", n.m, "link", "add", "vb1", "type", "veth", "peer", "name", "vb0", "netns", n.b)
	ipCmd(t, "-n", n.a, "addr", "add", "198.18.0.1/24", "dev", "va0")
	ipCmd(t, "-n", n.b, "addr", "add", "198.18.0.2/24", "dev", "vb0")
	for _, l := range [][2]string{{n.a, "va0"}, {n.a, "lo"}, {n.b, "vb0"}, {n.b, "lo"}, {n.m, "va1"}, {n.m, "vb1"}} {
		ipCmd(t, "-n", l[0], "link", "set", l[1], "up")
	}
	// TCP segmentation offload would hand the datapath segments larger than the MTU.
	n.noSegmentationOffload(t, n.a, "va0")
	n.noSegmentationOffload(t, n.b, "vb0")
	inNetns(t, n.a, func() error {
		ifc, err := net.InterfaceByName("va0")
		if err == nil {
			n.macA = ifc.HardwareAddr
		}
		return err
	})
	inNetns(t, n.b, func() error {
		ifc, err := net.InterfaceByName("vb0")
		if err == nil {
			n.macB = ifc.HardwareAddr
		}
		return err
	})
	inNetns(t, n.m, func() error {
		a, err := net.InterfaceByName("va1")
		if err != nil {
			return err
		}
		b, err := net.InterfaceByName("vb1")
		if err != nil {
			return err
		}
		n.ifA1, n.ifB1 = a.Index, b.Index
		return nil
	})
	return n
}

func (n *testNet) sysctl(t *testing.T, ns, key, value string) {
	t.Helper()
	inNetns(t, ns, func() error {
		// /proc/sys/net shows the namespace of the thread that opens it.
		return os.WriteFile("/proc/sys/"+key, []byte(value), 0)
	})
}

// noSegmentationOffload turns TSO and GSO off on an interface (ethtool -K tso off gso
// off, without ethtool).
func (n *testNet) noSegmentationOffload(t *testing.T, ns, ifname string) {
	t.Helper()
	inNetns(t, ns, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		for _, cmd := range []uint32{unix.ETHTOOL_STSO, unix.ETHTOOL_SGSO} {
			val := struct{ cmd, data uint32 }{cmd, 0}
			var ifr [40]byte
			copy(ifr[:16], ifname)
			*(*uintptr)(unsafe.Pointer(&ifr[16])) = uintptr(unsafe.Pointer(&val))
			if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr[0]))); errno != 0 {
				return fmt.Errorf("SIOCETHTOOL %#x on %s: %w", cmd, ifname, errno)
			}
		}
		return nil
	})
}

// inNetns runs fn on a thread in the named namespace. Sockets fn opens stay in that
// namespace when used from anywhere later.
func inNetns(t *testing.T, ns string, fn func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		// The thread is never unlocked: it ends with the goroutine, namespace and all.
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	if err := <-errc; err != nil {
		t.Fatalf("in namespace %s: %v", ns, err)
	}
}

// attach attaches a program in the datapath's namespace; t.Cleanup detaches it.
func (n *testNet) attach(t *testing.T, prog *anybpf.Program, opts Options) *Attachment {
	t.Helper()
	var a *Attachment
	inNetns(t, n.m, func() error {
		var err error
		a, err = Attach(prog, opts)
		return err
	})
	t.Cleanup(func() { a.Close() })
	return a
}

// load loads a test object; t.Cleanup closes its runtime.
func load(t testing.TB, name string) *anybpf.Collection {
	t.Helper()
	rt := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig())
	t.Cleanup(func() { rt.Close() })
	coll, err := rt.LoadCollection("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(coll.Close)
	return coll
}

// counter reads a u64 value (0 when the key is missing).
func counter(t testing.TB, m *anybpf.Map, key uint32) uint64 {
	t.Helper()
	var v uint64
	if err := m.Lookup(key, &v); err != nil {
		return 0
	}
	return v
}

// ping sends count ICMP echo requests from ns to dst, one at a time, and returns how many
// replies came back (waiting up to wait for each).
func ping(t *testing.T, ns string, dst net.IP, count int, wait time.Duration) int {
	t.Helper()
	var c net.PacketConn
	inNetns(t, ns, func() error {
		var err error
		c, err = net.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	})
	defer c.Close()
	id := uint16(os.Getpid())
	got := 0
	buf := make([]byte, 1500)
	for seq := range count {
		msg := []byte{8, 0, 0, 0, byte(id >> 8), byte(id), byte(seq >> 8), byte(seq), 'a', 'n', 'y', 'b', 'p', 'f'}
		ck := ^fold(sumBytes(msg, 0))
		msg[2], msg[3] = byte(ck>>8), byte(ck)
		if _, err := c.WriteTo(msg, &net.IPAddr{IP: dst}); err != nil {
			t.Fatalf("ping: %v", err)
		}
		deadline := time.Now().Add(wait)
		for {
			c.SetReadDeadline(deadline)
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				break // timeout: no reply to this one
			}
			if n >= 8 && buf[0] == 0 && from.(*net.IPAddr).IP.Equal(dst) && int(buf[6])<<8|int(buf[7]) == seq && int(buf[4])<<8|int(buf[5]) == int(id) {
				got++
				break
			}
		}
	}
	return got
}

// udpListen opens a UDP socket in ns.
func udpListen(t *testing.T, ns string, addr string) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	inNetns(t, ns, func() error {
		pc, err := net.ListenPacket("udp4", addr)
		if err == nil {
			c = pc.(*net.UDPConn)
		}
		return err
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// udpExchange sends count datagrams from src to dst and returns how many dst received
// (and checks they arrived intact).
func udpExchange(t *testing.T, src, dst *net.UDPConn, count int, wait time.Duration) int {
	t.Helper()
	to := dst.LocalAddr().(*net.UDPAddr)
	for i := range count {
		if _, err := src.WriteToUDP([]byte(fmt.Sprintf("datagram %d", i)), to); err != nil {
			t.Fatalf("udp send: %v", err)
		}
	}
	got := 0
	buf := make([]byte, 1500)
	dst.SetReadDeadline(time.Now().Add(wait))
	for got < count {
		n, _, err := dst.ReadFromUDP(buf)
		if err != nil {
			break
		}
		if !strings.HasPrefix(string(buf[:n]), "datagram ") {
			t.Errorf("udp: got %q", buf[:n])
		}
		got++
	}
	return got
}
