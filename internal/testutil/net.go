package testutil

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"testing"
)

// NetNS creates a network namespace for the test, deleted when it ends, and returns its
// name and a function that runs ip(8) with the given arguments, failing the test on an
// error. It skips the test without Linux, root or ip(8).
func NetNS(tb testing.TB, prefix string) (string, func(args ...string)) {
	tb.Helper()
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		tb.Skip("needs Linux and root for network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		tb.Skip("needs ip(8) (iproute2) for network namespaces")
	}
	ip := func(args ...string) {
		tb.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			tb.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	ns := fmt.Sprintf("%s-%d", prefix, os.Getpid())
	ip("netns", "add", ns)
	tb.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	return ns, ip
}

// TCPServer listens on loopback until the test ends and writes id to every connection it
// accepts.
func TCPServer(tb testing.TB, id string) netip.AddrPort {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(id))
			c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr).AddrPort()
}
