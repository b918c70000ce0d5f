package supervisor

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/anybpf/anybpf/internal/testutil"

	"github.com/anybpf/anybpf"
	"github.com/anybpf/anybpf/maps"
)

// clientEnv makes the test binary a client that performs one action and reports it.
const clientEnv = "SUPERVISOR_TEST_CLIENT"

func TestMain(m *testing.M) {
	MaybeChild()
	if action := os.Getenv(clientEnv); action != "" {
		os.Exit(client(action))
	}
	os.Exit(m.Run())
}

// client performs action ("connect ADDR", "bind ADDR", "exec PATH", "child ACTION")
// and prints "ok DETAIL" or "err ERRNO".
func client(action string) int {
	verb, arg, _ := strings.Cut(action, " ")
	report := func(detail string, err error) int {
		if err != nil {
			var errno syscall.Errno
			if errors.As(err, &errno) {
				fmt.Printf("err %d\n", int(errno))
			} else {
				fmt.Printf("err %v\n", err)
			}
			return 1
		}
		fmt.Printf("ok %s\n", detail)
		return 0
	}
	switch verb {
	case "connect":
		c, err := net.DialTimeout("tcp", arg, 5*time.Second)
		if err != nil {
			return report("", err)
		}
		defer c.Close()
		b := make([]byte, 1)
		_, err = io.ReadFull(c, b)
		return report(string(b), err)
	case "bind":
		l, err := net.Listen("tcp", arg)
		if err != nil {
			return report("", err)
		}
		l.Close()
		return report("", nil)
	case "bind-port": // bind-port ADDR: bind a UDP socket, print the port it got
		c, err := net.ListenPacket("udp", arg)
		if err != nil {
			return report("", err)
		}
		defer c.Close()
		return report(fmt.Sprint(c.LocalAddr().(*net.UDPAddr).Port), nil)
	case "exec":
		err := exec.Command(arg).Run()
		return report("", err)
	case "latency":
		// latency N connect|connect-nb|bind|sendto|recvfrom ADDR: time N calls, print the median and p99
		// in µs. connect-nb is a non-blocking connect and the wait for the socket to be
		// writable, as Go's net.Dial does.
		f := strings.Fields(arg)
		n, _ := strconv.Atoi(f[0])
		var ts []time.Duration
		for range n {
			typ := syscall.SOCK_STREAM
			switch f[1] {
			case "connect-nb":
				typ |= syscall.SOCK_NONBLOCK
			case "sendto", "recvfrom":
				typ = syscall.SOCK_DGRAM
			}
			fd, err := syscall.Socket(syscall.AF_INET, typ, 0)
			if err != nil {
				return report("", err)
			}
			ap := netip.MustParseAddrPort(f[2])
			sa := &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
			if f[1] == "recvfrom" {
				// A datagram to itself, then the timed receive.
				syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
				self, _ := syscall.Getsockname(fd)
				if err := syscall.Sendto(fd, []byte("0123456789abcdef"), 0, self); err != nil {
					return report("", err)
				}
			}
			start := time.Now()
			switch f[1] {
			case "recvfrom":
				b := make([]byte, 64)
				_, _, err = syscall.Recvfrom(fd, b, 0)
			case "connect":
				err = syscall.Connect(fd, sa)
			case "sendto":
				err = syscall.Sendto(fd, []byte("0123456789abcdef"), 0, sa)
			case "connect-nb":
				if err = syscall.Connect(fd, sa); err == syscall.EINPROGRESS {
					fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
					_, err = unix.Poll(fds, 5000)
				}
			default:
				sa.Port = 0
				err = syscall.Bind(fd, sa)
			}
			ts = append(ts, time.Since(start))
			syscall.Close(fd)
			if err != nil {
				return report("", err)
			}
		}
		slices.Sort(ts)
		return report(fmt.Sprintf("%.1f %.1f", float64(ts[len(ts)/2].Nanoseconds())/1e3, float64(ts[len(ts)*99/100].Nanoseconds())/1e3), nil)
	case "dial", "dial6", "dial-blocking":
		// dial N ADDR: N TCP connections one after the other (Go's non-blocking connect,
		// or a blocking connect(2)), each reading one byte; prints the local ports.
		f := strings.Fields(arg)
		n, _ := strconv.Atoi(f[0])
		var ports []string
		for range n {
			var port int
			if verb != "dial-blocking" {
				c, err := net.DialTimeout("tcp", f[1], 5*time.Second)
				if err != nil {
					return report("", err)
				}
				b := make([]byte, 1)
				if _, err := io.ReadFull(c, b); err != nil {
					return report("", err)
				}
				port = c.LocalAddr().(*net.TCPAddr).Port
				c.Close()
			} else {
				ap := netip.MustParseAddrPort(f[1])
				fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
				if err != nil {
					return report("", err)
				}
				if err := syscall.Connect(fd, &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
					return report("", err)
				}
				b := make([]byte, 1)
				if _, err := syscall.Read(fd, b); err != nil {
					return report("", err)
				}
				sa, _ := syscall.Getsockname(fd)
				port = sa.(*syscall.SockaddrInet4).Port
				syscall.Close(fd)
			}
			ports = append(ports, strconv.Itoa(port))
		}
		return report(strings.Join(ports, ","), nil)
	case "serve", "serve-blocking":
		// serve M: listen on 127.0.0.1, print "port P", accept M connections (Go's
		// listener, an MPTCP socket whose connections fall back to TCP, with its
		// non-blocking accept4; or a blocking TCP accept(2) whose peer address is
		// checked against getpeername), write one byte to each and close it; prints
		// the peers' ports.
		m, _ := strconv.Atoi(arg)
		var peers []string
		if verb == "serve" {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return report("", err)
			}
			fmt.Printf("port %d\n", l.Addr().(*net.TCPAddr).Port)
			for range m {
				c, err := l.Accept()
				if err != nil {
					return report("", err)
				}
				c.Write([]byte{'S'})
				peers = append(peers, strconv.Itoa(c.RemoteAddr().(*net.TCPAddr).Port))
				c.Close()
			}
			l.Close()
		} else {
			fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
			if err != nil {
				return report("", err)
			}
			if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
				return report("", err)
			}
			syscall.Listen(fd, 16)
			sa, _ := syscall.Getsockname(fd)
			fmt.Printf("port %d\n", sa.(*syscall.SockaddrInet4).Port)
			for range m {
				c, from, err := syscall.Accept(fd)
				if err != nil {
					return report("", err)
				}
				peer, err := syscall.Getpeername(c)
				if err != nil || peer.(*syscall.SockaddrInet4).Port != from.(*syscall.SockaddrInet4).Port {
					return report("", fmt.Errorf("accept's address %v, getpeername's %v", from, peer))
				}
				syscall.Write(c, []byte{'S'})
				peers = append(peers, strconv.Itoa(from.(*syscall.SockaddrInet4).Port))
				syscall.Close(c)
			}
			syscall.Close(fd)
		}
		return report(strings.Join(peers, ","), nil)
	case "dial-parallel":
		// dial-parallel N ADDR: N connections at once, from as many goroutines, half with
		// Go's non-blocking connect and half with a blocking connect(2); prints the local
		// ports.
		f := strings.Fields(arg)
		n, _ := strconv.Atoi(f[0])
		ports := make([]string, n)
		errs := make(chan error, n)
		for i := range n {
			go func() {
				var port int
				if i%2 == 0 {
					c, err := net.DialTimeout("tcp", f[1], 10*time.Second)
					if err != nil {
						errs <- err
						return
					}
					b := make([]byte, 1)
					_, err = io.ReadFull(c, b)
					port = c.LocalAddr().(*net.TCPAddr).Port
					c.Close()
					if err != nil {
						errs <- err
						return
					}
				} else {
					ap := netip.MustParseAddrPort(f[1])
					fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
					if err == nil {
						err = syscall.Connect(fd, &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()})
					}
					if err != nil {
						errs <- err
						return
					}
					b := make([]byte, 1)
					syscall.Read(fd, b)
					sa, _ := syscall.Getsockname(fd)
					port = sa.(*syscall.SockaddrInet4).Port
					syscall.Close(fd)
				}
				ports[i] = strconv.Itoa(port)
				errs <- nil
			}()
		}
		for range n {
			if err := <-errs; err != nil {
				return report("", err)
			}
		}
		return report(strings.Join(ports, ","), nil)
	case "recv":
		// recv NET MODE: bind a UDP socket on the loopback address of NET (udp4, udp6),
		// print "port P", receive one datagram with MODE (recvfrom, recvmsg into two
		// buffers, recvmmsg, small: recvmsg into 4 bytes, peek: recvfrom with MSG_PEEK
		// and then without) and print "ok DATA FROM FLAGS".
		f := strings.Fields(arg)
		domain, sa := syscall.AF_INET, syscall.Sockaddr(&syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
		if f[0] == "udp6" {
			domain, sa = syscall.AF_INET6, &syscall.SockaddrInet6{Addr: netip.IPv6Loopback().As16()}
		}
		fd, err := syscall.Socket(domain, syscall.SOCK_DGRAM, 0)
		if err != nil {
			return report("", err)
		}
		if err := syscall.Bind(fd, sa); err != nil {
			return report("", err)
		}
		local, _ := unix.Getsockname(fd)
		fmt.Printf("port %d\n", addrPortOf(local).Port())
		var data []byte
		var from unix.Sockaddr
		var flags int
		switch f[1] {
		case "recvfrom", "peek":
			b := make([]byte, 100)
			var n int
			if f[1] == "peek" {
				var peeked unix.Sockaddr
				if n, peeked, err = unix.Recvfrom(fd, b, unix.MSG_PEEK); err != nil {
					return report("", err)
				}
				fmt.Printf("peeked %s %s\n", b[:n], addrPortOf(peeked))
			}
			n, from, err = unix.Recvfrom(fd, b, 0)
			data = b[:max(n, 0)]
		case "recvmsg", "small":
			bufs := [][]byte{make([]byte, 3), make([]byte, 100)}
			if f[1] == "small" {
				bufs = [][]byte{make([]byte, 4)}
			}
			var n int
			n, _, flags, from, err = unix.RecvmsgBuffers(fd, bufs, nil, 0)
			for _, b := range bufs {
				k := min(n, len(b))
				data = append(data, b[:k]...)
				n -= k
			}
		case "recvmmsg":
			b := make([]byte, 100)
			var name unix.RawSockaddrAny
			iov := unix.Iovec{Base: &b[0], Len: uint64(len(b))}
			var msgs [2]struct {
				hdr unix.Msghdr
				len uint32
				_   uint32
			}
			msgs[0].hdr = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&name)), Namelen: uint32(unsafe.Sizeof(name)), Iov: &iov, Iovlen: 1}
			msgs[1].hdr = msgs[0].hdr
			k, _, e := unix.Syscall6(299, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), 2, unix.MSG_WAITFORONE, 0, 0)
			if e != 0 {
				return report("", e)
			}
			if k != 1 {
				return report("", fmt.Errorf("recvmmsg received %d messages", k))
			}
			data = b[:msgs[0].len]
			raw := (*[unsafe.Sizeof(name)]byte)(unsafe.Pointer(&name))[:msgs[0].hdr.Namelen]
			port := binary.BigEndian.Uint16(raw[2:4])
			if name.Addr.Family == unix.AF_INET {
				from = &unix.SockaddrInet4{Port: int(port), Addr: [4]byte(raw[4:8])}
			} else {
				from = &unix.SockaddrInet6{Port: int(port), Addr: [16]byte(raw[8:24])}
			}
		}
		if err != nil {
			return report("", err)
		}
		trunc := ""
		if flags&unix.MSG_TRUNC != 0 {
			trunc = " MSG_TRUNC"
		}
		return report(fmt.Sprintf("%s %s%s", data, addrPortOf(from), trunc), nil)
	case "accept-signal":
		// accept-signal: a blocking accept on one thread; print "tid T port P", and
		// "signal" as soon as that thread receives SIGUSR1; then "ok" once accepted.
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGUSR1)
		go func() {
			<-sigs
			fmt.Println("signal")
		}()
		done := make(chan error)
		go func() {
			runtime.LockOSThread()
			fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
			if err == nil {
				err = syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
			}
			if err != nil {
				done <- err
				return
			}
			syscall.Listen(fd, 1)
			sa, _ := syscall.Getsockname(fd)
			fmt.Printf("tid %d port %d\n", syscall.Gettid(), sa.(*syscall.SockaddrInet4).Port)
			_, _, err = syscall.Accept(fd)
			done <- err
		}()
		return report("", <-done)
	case "accept-timeout":
		// accept-timeout: a blocking accept on a listener with a 100 ms SO_RCVTIMEO and
		// no client.
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
		if err != nil {
			return report("", err)
		}
		if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			return report("", err)
		}
		syscall.Listen(fd, 1)
		tv := syscall.NsecToTimeval(int64(100 * time.Millisecond))
		syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
		_, _, err = syscall.Accept(fd)
		return report("", err)
	case "udp":
		// udp ADDR PAYLOAD sendto|sendmsg|sendmmsg|connected: send one datagram (IPv6
		// with sendto only).
		f := strings.Fields(arg)
		ap := netip.MustParseAddrPort(f[0])
		if ap.Addr().Is6() {
			fd, err := syscall.Socket(syscall.AF_INET6, syscall.SOCK_DGRAM, 0)
			if err != nil {
				return report("", err)
			}
			defer syscall.Close(fd)
			return report("", syscall.Sendto(fd, []byte(f[1]), 0, &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}))
		}
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
		if err != nil {
			return report("", err)
		}
		defer syscall.Close(fd)
		sa := &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
		switch f[2] {
		case "sendto":
			err = syscall.Sendto(fd, []byte(f[1]), 0, sa)
		case "sendmsg":
			err = syscall.Sendmsg(fd, []byte(f[1]), nil, sa, 0)
		case "connected":
			if err = syscall.Connect(fd, sa); err == nil {
				_, err = syscall.Write(fd, []byte(f[1]))
			}
		case "sendmmsg":
			err = sendmmsg(fd, []byte(f[1]), ap)
		}
		return report("", err)
	case "connect-twice":
		// connect-twice ADDR FILE: connect, report, wait for FILE to exist, connect
		// again, report.
		f := strings.Fields(arg)
		once := func() {
			c, err := net.DialTimeout("tcp", f[0], 5*time.Second)
			if err == nil {
				b := make([]byte, 1)
				_, err = io.ReadFull(c, b)
				c.Close()
				if err == nil {
					fmt.Printf("ok %s\n", b)
					return
				}
			}
			var errno syscall.Errno
			errors.As(err, &errno)
			fmt.Printf("err %d\n", int(errno))
		}
		once()
		for i := 0; i < 500; i++ {
			if _, err := os.Stat(f[1]); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		once()
		return 0
	case "launch":
		// launch ACTION: start this binary doing ACTION under a filter (every call
		// intercepted) without serving it; print "listener FD PID", wait for a line on
		// the standard input, close the listener, and wait for the child.
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), clientEnv+"="+arg)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		l, err := Launch(cmd, InterceptAll)
		if err != nil {
			return report("", err)
		}
		fmt.Printf("listener %d %d\n", l.Listener, os.Getpid())
		if err := l.Release(); err != nil {
			return report("", err)
		}
		bufio.NewReader(os.Stdin).ReadString('\n')
		syscall.Close(l.Listener)
		l.Cmd.Wait()
		return 0
	case "child":
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), clientEnv+"="+arg)
		out, _ := cmd.Output()
		fmt.Print(string(out))
		return 0
	}
	return report("", fmt.Errorf("unknown action %q", action))
}

// sendmmsg sends one datagram to to with sendmmsg(2).
func sendmmsg(fd int, data []byte, to netip.AddrPort) error {
	var rsa syscall.RawSockaddrInet4
	rsa.Family = syscall.AF_INET
	rsa.Addr = to.Addr().As4()
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&rsa.Port))[:], to.Port())
	iov := syscall.Iovec{Base: &data[0], Len: uint64(len(data))}
	var msgs [2]struct {
		hdr syscall.Msghdr
		len uint32
		_   uint32
	}
	for i := range msgs {
		msgs[i].hdr = syscall.Msghdr{Name: (*byte)(unsafe.Pointer(&rsa)), Namelen: syscall.SizeofSockaddrInet4, Iov: &iov, Iovlen: 1}
	}
	n, _, e := syscall.Syscall6(307, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), 2, 0, 0, 0)
	if e != 0 {
		return e
	}
	if n < 1 || msgs[0].len != uint32(len(data)) {
		return fmt.Errorf("sendmmsg sent %d messages, the first of %d bytes", n, msgs[0].len)
	}
	return nil
}

// supervised runs the test binary as a client doing action under hooks and returns its
// report.
func supervised(t *testing.T, hooks Hooks, action string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), clientEnv+"="+action)
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	s, err := Start(cmd, hooks)
	if err != nil {
		if os.Geteuid() != 0 {
			t.Skip("supervisor: ", err)
		}
		t.Fatal(err)
	}
	s.Wait()
	return strings.TrimSpace(out.String())
}

func load(t *testing.T, path string) *anybpf.Collection {
	t.Helper()
	rt := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig())
	t.Cleanup(func() { rt.Close() })
	coll, err := rt.LoadCollection(filepath.Join("..", "..", path))
	if err != nil {
		t.Fatal(err)
	}
	return coll
}

func TestConnect(t *testing.T) {
	coll := load(t, "examples/connect_redirect/redirect.o")
	backend, other, denied := testutil.TCPServer(t, "B"), testutil.TCPServer(t, "O"), testutil.TCPServer(t, "D")
	b := make([]byte, 8)
	a := backend.Addr().As4()
	copy(b, a[:])
	binary.LittleEndian.PutUint32(b[4:], uint32(backend.Port()))
	if err := coll.Maps["backends"].Update(uint32(0), b, maps.UpdateAny); err != nil {
		t.Fatal(err)
	}
	if err := coll.Maps["denied"].Update(denied.Port(), []byte{1}, maps.UpdateAny); err != nil {
		t.Fatal(err)
	}
	hooks := Hooks{Connect4: []*anybpf.Program{coll.Programs["connect4"]}}
	for _, tc := range []struct{ name, action, want string }{
		{"allowed", "connect " + other.String(), "ok O"},
		{"denied port", "connect " + denied.String(), fmt.Sprintf("err %d", int(syscall.EPERM))},
		{"redirected from the service address", "connect 198.18.0.10:80", "ok B"},
		{"a child is covered", "child connect " + denied.String(), fmt.Sprintf("err %d", int(syscall.EPERM))},
		{"a child is redirected", "child connect 198.18.0.10:80", "ok B"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := supervised(t, hooks, tc.action); got != tc.want {
				t.Errorf("%s: %q, want %q", tc.action, got, tc.want)
			}
		})
	}
	// Without hooks the same connect reaches the denied server.
	if got := supervised(t, Hooks{}, "connect "+denied.String()); got != "ok D" {
		t.Errorf("unhooked connect: %q", got)
	}
}

func TestBind(t *testing.T) {
	coll := load(t, "examples/bind_policy/policy.o")
	if err := coll.Maps["allowed"].Update(uint16(18080), []byte{1}, maps.UpdateAny); err != nil {
		t.Fatal(err)
	}
	hooks := Hooks{Bind4: []*anybpf.Program{coll.Programs["bind4"]}, Bind6: []*anybpf.Program{coll.Programs["bind6"]}}
	for _, tc := range []struct{ action, want string }{
		{"bind 127.0.0.1:18080", "ok"},
		{"bind 127.0.0.1:18081", fmt.Sprintf("err %d", int(syscall.EPERM))},
		{"bind 127.0.0.1:0", "ok"},
		{"bind [::1]:18081", fmt.Sprintf("err %d", int(syscall.EPERM))},
	} {
		if got := supervised(t, hooks, tc.action); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.action, got, tc.want)
		}
	}
	var refused uint64
	// Each refused Listen is two binds: Go tries an MPTCP socket first, then TCP.
	if err := coll.Maps[".bss"].Lookup(uint32(0), &refused); err != nil || refused < 2 || refused%2 != 0 {
		t.Errorf("refused = %d, %v; want 2 Listen calls' worth", refused, err)
	}
}

// TestBindMD runs ebpf-for-windows BIND programs (bind_md) on a command's binds: deny,
// redirect, permit, and permit-hard ahead of a program that denies everything.
func TestBindMD(t *testing.T) {
	coll := load(t, "testdata/bind_md.o")
	policy := coll.Programs["port_policy"]
	eperm := fmt.Sprintf("err %d", int(syscall.EPERM))
	for _, tc := range []struct {
		name   string
		progs  []*anybpf.Program
		action string
		want   string
	}{
		{"permitted", []*anybpf.Program{policy}, "bind-port 127.0.0.1:18080", "ok 18080"},
		{"denied", []*anybpf.Program{policy}, "bind-port 127.0.0.1:18081", eperm},
		{"redirected", []*anybpf.Program{policy}, "bind-port 127.0.0.1:18082", "ok 18083"},
		{"redirected, IPv6", []*anybpf.Program{policy}, "bind-port [::1]:18082", "ok 18083"},
		{"soft permit, then a deny", []*anybpf.Program{policy, coll.Programs["deny_all"]}, "bind-port 127.0.0.1:18080", eperm},
		{"hard permit skips the deny", []*anybpf.Program{policy, coll.Programs["deny_all"]}, "bind-port 127.0.0.1:18084", "ok 18084"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := supervised(t, Hooks{Bind: tc.progs}, tc.action); got != tc.want {
				t.Errorf("%s: %q, want %q", tc.action, got, tc.want)
			}
		})
	}
	v := make([]byte, 16) // .bss: seen, app_id_len
	if err := coll.Maps[".bss"].Lookup(uint32(0), v); err != nil {
		t.Fatal(err)
	}
	seen, appIDLen := binary.LittleEndian.Uint64(v), binary.LittleEndian.Uint64(v[8:])
	self, _ := os.Executable()
	if seen != 6 || appIDLen != uint64(len(self)) {
		t.Errorf("the program saw %d binds and an application id of %d bytes; want 6 and %d (%s)", seen, appIDLen, len(self), self)
	}
}

func TestExec(t *testing.T) {
	coll := load(t, "examples/exec_audit/audit.o")
	key := make([]byte, 64)
	copy(key, "/usr/bin/true")
	if err := coll.Maps["denied"].Update(key, []byte{1}, maps.UpdateAny); err != nil {
		t.Fatal(err)
	}
	hooks := Hooks{Exec: []*anybpf.Program{coll.Programs["audit"]}}
	if got := supervised(t, hooks, "exec /usr/bin/true"); got != fmt.Sprintf("err %d", int(syscall.EPERM)) {
		t.Errorf("exec of a denied binary: %q", got)
	}
	if got := supervised(t, hooks, "exec /usr/bin/false"); !strings.HasPrefix(got, "err exit status 1") {
		t.Errorf("exec of an allowed binary: %q, want it to run (and fail with status 1)", got)
	}
}

// BenchmarkCallLatency reports the median and p99 latency of connect (to a loopback
// listener) and bind (to port 0) in a command with and without the supervisor and an
// allowing program: what supervision adds to each call.
func BenchmarkCallLatency(b *testing.B) {
	rt := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig())
	defer rt.Close()
	connect, err := rt.LoadCollection("../../examples/connect_redirect/redirect.o")
	if err != nil {
		b.Fatal(err)
	}
	bind, err := rt.LoadCollection("../../examples/bind_policy/policy.o")
	if err != nil {
		b.Fatal(err)
	}
	// The listener accepts nothing while a command connects (its backlog, somaxconn,
	// holds a run's connections): this process runs the supervisor, and a server here
	// would compete with it for the CPU. Between runs the connections are drained.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	drain := func() {
		for {
			l.(*net.TCPListener).SetDeadline(time.Now().Add(20 * time.Millisecond))
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}
	send, err := rt.LoadCollection("../../testdata/sendmsg.o")
	if err != nil {
		b.Fatal(err)
	}
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer udp.Close()
	hooks := Hooks{Connect4: []*anybpf.Program{connect.Programs["connect4"]}, Bind4: []*anybpf.Program{bind.Programs["bind4"]},
		Sendmsg4: []*anybpf.Program{send.Programs["sendmsg4"]}, Recvmsg4: []*anybpf.Program{send.Programs["recvmsg4"]}}
	events, err := rt.LoadCollection("../../testdata/sockops_events.o")
	if err != nil {
		b.Fatal(err)
	}
	sockOpsHooks := Hooks{Connect4: hooks.Connect4, SockOps: []*anybpf.Program{events.Programs["record"]}}
	const n = 2000 // fewer than the listener's backlog
	for b.Loop() {
		for _, call := range []string{"connect", "connect-nb", "bind", "sendto", "recvfrom"} {
			variants := []struct {
				name  string
				hooks *Hooks
			}{{"plain", nil}, {"supervised", &hooks}}
			if call == "connect-nb" {
				// The connect4 program and a sock_ops program recording the connection
				// established (the supervisor then performs the connect).
				variants = append(variants, struct {
					name  string
					hooks *Hooks
				}{"sockops", &sockOpsHooks})
			}
			for _, h := range variants {
				action := fmt.Sprintf("latency %d %s %s", n, call, l.Addr())
				if call == "sendto" {
					action = fmt.Sprintf("latency %d %s %s", n, call, udp.LocalAddr())
				}
				cmd := exec.Command(os.Args[0])
				cmd.Env = append(os.Environ(), clientEnv+"="+action)
				var out []byte
				if h.hooks == nil {
					out, err = cmd.Output()
				} else {
					var sb strings.Builder
					cmd.Stdout = &sb
					s, serr := Start(cmd, *h.hooks)
					if serr != nil {
						b.Skip("supervisor: ", serr)
					}
					err = s.Wait()
					out = []byte(sb.String())
				}
				drain()
				var med, p99 float64
				if _, serr := fmt.Sscanf(string(out), "ok %g %g", &med, &p99); serr != nil || err != nil {
					b.Fatalf("%s %s: %q %v", h.name, call, out, err)
				}
				b.ReportMetric(med, call+"-"+h.name+"-p50-µs")
				b.ReportMetric(p99, call+"-"+h.name+"-p99-µs")
			}
		}
	}
}

// sockOpsEvent is testdata/sockops_events.c's struct event.
type sockOpsEvent struct {
	Op, Family, LocalIP4, RemoteIP4 uint32
	LocalIP6, RemoteIP6             [4]uint32
	LocalPort, RemotePort           uint32
	OldState, NewState, State, _    uint32
	Cookie                          uint64
}

// sockOpsEvents reads the events testdata/sockops_events.o recorded.
func sockOpsEvents(t *testing.T, coll *anybpf.Collection) []sockOpsEvent {
	t.Helper()
	rb, ok := coll.Maps["events"].Underlying().(*maps.RingBuffer)
	if !ok {
		t.Fatal("events is not a ring buffer")
	}
	rd := maps.NewRingBufferReader(rb)
	defer rd.Close()
	var evs []sockOpsEvent
	for {
		rd.SetDeadline(time.Now().Add(50 * time.Millisecond))
		rec, err := rd.Read()
		if err != nil {
			return evs
		}
		var e sockOpsEvent
		if _, err := binary.Decode(rec.RawSample, binary.LittleEndian, &e); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
}

const (
	opActive  = 4
	opPassive = 5
	opState   = 10
)

// checkConnEvents checks that evs hold, for each of the connections from local ports
// locals to remote ports remotes on 127.0.0.1, one established event of op then one
// close (a state callback to BPF_TCP_CLOSE), and nothing else.
func checkConnEvents(t *testing.T, evs []sockOpsEvent, op uint32, locals, remotes []uint32) {
	t.Helper()
	if len(evs) != 2*len(locals) {
		t.Errorf("%d events, want %d: %+v", len(evs), 2*len(locals), evs)
	}
	lo := binary.NativeEndian.Uint32([]byte{127, 0, 0, 1})
	lo6 := [4]uint32{0, 0, 0, binary.NativeEndian.Uint32([]byte{0, 0, 0, 1})}
	byCookie := map[uint64]uint32{}
	for i := range locals {
		var seen []uint32
		var cookies []uint64
		for _, e := range evs {
			if e.LocalPort == locals[i] && e.RemotePort == remotes[i] {
				cookies = append(cookies, e.Cookie)
				switch e.Family {
				case syscall.AF_INET:
					if e.LocalIP4 != lo || e.RemoteIP4 != lo {
						t.Errorf("event %+v: want 127.0.0.1 on both ends", e)
					}
				case syscall.AF_INET6:
					if e.LocalIP6 != lo6 || e.RemoteIP6 != lo6 || e.LocalIP4 != 0 {
						t.Errorf("event %+v: want ::1 on both ends", e)
					}
				default:
					t.Errorf("event %+v: family %d", e, e.Family)
				}
				seen = append(seen, e.Op)
				if e.Op == opState && (e.NewState != 7 || e.State != 7) {
					t.Errorf("state event %+v: want the new state BPF_TCP_CLOSE (7)", e)
				}
				if e.Op == op && e.State != 1 {
					t.Errorf("established event %+v: want state BPF_TCP_ESTABLISHED (1)", e)
				}
			}
		}
		if len(cookies) != 2 || cookies[0] == 0 || cookies[0] != cookies[1] {
			t.Errorf("connection %d→%d: socket cookies %v, want one non-zero cookie for both events", locals[i], remotes[i], cookies)
		} else if other, dup := byCookie[cookies[0]]; dup {
			t.Errorf("connections %d and %d→%d have the same cookie", other, locals[i], remotes[i])
		} else {
			byCookie[cookies[0]] = locals[i]
		}
		if !slices.Equal(seen, []uint32{op, opState}) {
			t.Errorf("connection %d→%d: events %v, want [%d %d] (established, then closed)", locals[i], remotes[i], seen, op, opState)
		}
	}
}

func ports(t *testing.T, s string) []uint32 {
	t.Helper()
	var out []uint32
	for _, f := range strings.Split(s, ",") {
		p, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("ports %q: %v", s, err)
		}
		out = append(out, uint32(p))
	}
	return out
}

func TestSockOpsActive(t *testing.T) {
	for _, verb := range []string{"dial", "dial-blocking", "dial6"} {
		t.Run(verb, func(t *testing.T) {
			coll := load(t, "testdata/sockops_events.o")
			server := testutil.TCPServer(t, "X")
			if verb == "dial6" {
				l, err := net.Listen("tcp6", "[::1]:0")
				if err != nil {
					t.Skip("no IPv6 loopback: ", err)
				}
				t.Cleanup(func() { l.Close() })
				go func() {
					for {
						c, err := l.Accept()
						if err != nil {
							return
						}
						c.Write([]byte("X"))
						c.Close()
					}
				}()
				server = l.Addr().(*net.TCPAddr).AddrPort()
			}
			const n = 5
			got := supervised(t, Hooks{SockOps: []*anybpf.Program{coll.Programs["record"]}}, fmt.Sprintf("%s %d %s", verb, n, server))
			local, ok := strings.CutPrefix(got, "ok ")
			if !ok {
				t.Fatalf("client: %q", got)
			}
			locals := ports(t, local)
			remotes := slices.Repeat([]uint32{uint32(server.Port())}, n)
			checkConnEvents(t, sockOpsEvents(t, coll), opActive, locals, remotes)
		})
	}
}

// TestConcurrentCalls makes many connects at once under connect4 and sock_ops programs:
// every call is answered while others wait in the supervisor.
func TestConcurrentCalls(t *testing.T) {
	events := load(t, "testdata/sockops_events.o")
	redirect := load(t, "examples/connect_redirect/redirect.o")
	server := testutil.TCPServer(t, "X")
	const n = 40
	hooks := Hooks{Connect4: []*anybpf.Program{redirect.Programs["connect4"]}, SockOps: []*anybpf.Program{events.Programs["record"]}}
	got := supervised(t, hooks, fmt.Sprintf("dial-parallel %d %s", n, server))
	local, ok := strings.CutPrefix(got, "ok ")
	if !ok {
		t.Fatalf("client: %q", got)
	}
	checkConnEvents(t, sockOpsEvents(t, events), opActive, ports(t, local), slices.Repeat([]uint32{uint32(server.Port())}, n))
}

func TestSockOpsAcceptTimeout(t *testing.T) {
	coll := load(t, "testdata/sockops_events.o")
	start := time.Now()
	if got := supervised(t, Hooks{SockOps: []*anybpf.Program{coll.Programs["record"]}}, "accept-timeout"); got != fmt.Sprintf("err %d", int(syscall.EAGAIN)) {
		t.Errorf("blocking accept with SO_RCVTIMEO: %q, want EAGAIN", got)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestSockOpsPassive(t *testing.T) {
	for _, verb := range []string{"serve", "serve-blocking"} {
		t.Run(verb, func(t *testing.T) {
			coll := load(t, "testdata/sockops_events.o")
			const m = 4
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d", clientEnv, verb, m))
			out, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			cmd.Stdout, cmd.Stderr = w, os.Stderr
			s, err := Start(cmd, Hooks{SockOps: []*anybpf.Program{coll.Programs["record"]}})
			w.Close()
			if err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(out)
			line, _ := r.ReadString('\n')
			var port int
			if _, err := fmt.Sscanf(line, "port %d", &port); err != nil {
				s.Wait()
				t.Fatalf("server: %q", line)
			}
			var dialed []uint32
			for range m {
				c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
				if err != nil {
					t.Fatal(err)
				}
				b := make([]byte, 1)
				if _, err := io.ReadFull(c, b); err != nil || b[0] != 'S' {
					t.Fatalf("read %q, %v", b, err)
				}
				dialed = append(dialed, uint32(c.LocalAddr().(*net.TCPAddr).Port))
				c.Close()
			}
			rest, _ := io.ReadAll(r)
			if err := s.Wait(); err != nil {
				t.Fatalf("server: %v (%s)", err, rest)
			}
			peers, ok := strings.CutPrefix(strings.TrimSpace(string(rest)), "ok ")
			if !ok || !slices.Equal(ports(t, peers), dialed) {
				t.Fatalf("server saw %q, want the ports dialed %v", rest, dialed)
			}
			checkConnEvents(t, sockOpsEvents(t, coll), opPassive, slices.Repeat([]uint32{uint32(port)}, m), dialed)
			// The server's listen ran the programs once, with BPF_SOCK_OPS_TCP_LISTEN_CB.
			var listens uint64
			if err := coll.Maps["counts"].Lookup(uint32(11), &listens); err != nil || listens != 1 {
				t.Errorf("BPF_SOCK_OPS_TCP_LISTEN_CB seen %d times (%v), want 1", listens, err)
			}
		})
	}
}

// udpServer listens on a loopback UDP port and returns its address and a function that
// returns the next datagram's payload (and, when from is set, its source address), or
// "" after a short wait.
func udpServer(t *testing.T, network string) (netip.AddrPort, func() string) {
	t.Helper()
	ip := net.IPv4(127, 0, 0, 1)
	if network == "udp6" {
		ip = net.IPv6loopback
	}
	c, err := net.ListenUDP(network, &net.UDPAddr{IP: ip})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.LocalAddr().(*net.UDPAddr).AddrPort(), func() string {
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		b := make([]byte, 100)
		n, from, err := c.ReadFromUDPAddrPort(b)
		if err != nil {
			return ""
		}
		if string(b[:n]) == "from" {
			return from.Addr().String()
		}
		return string(b[:n])
	}
}

func TestSendmsg(t *testing.T) {
	coll := load(t, "testdata/sendmsg.o")
	allowed, recvAllowed := udpServer(t, "udp4")
	backend, recvBackend := udpServer(t, "udp4")
	denied, recvDenied := udpServer(t, "udp4")
	allowed6, recvAllowed6 := udpServer(t, "udp6")
	if err := coll.Maps["denied"].Update(denied.Port(), []byte{1}, maps.UpdateAny); err != nil {
		t.Fatal(err)
	}
	target := make([]byte, 8)
	a := backend.Addr().As4()
	copy(target, a[:])
	binary.LittleEndian.PutUint32(target[4:], uint32(backend.Port()))
	if err := coll.Maps["redirect"].Update(uint32(0), target, maps.UpdateAny); err != nil {
		t.Fatal(err)
	}
	hooks := Hooks{Sendmsg4: []*anybpf.Program{coll.Programs["sendmsg4"]}, Sendmsg6: []*anybpf.Program{coll.Programs["sendmsg6"]}}
	eperm := fmt.Sprintf("err %d", int(syscall.EPERM))
	for _, tc := range []struct {
		name, to, call, want string
		recv                 func() string // where the datagram must arrive
	}{
		{"allowed sendto", allowed.String(), "sendto", "ok", recvAllowed},
		{"allowed sendmsg", allowed.String(), "sendmsg", "ok", recvAllowed},
		{"denied sendto", denied.String(), "sendto", eperm, nil},
		{"denied sendmsg", denied.String(), "sendmsg", eperm, nil},
		{"denied sendmmsg", denied.String(), "sendmmsg", eperm, nil},
		{"redirected sendto", "127.0.0.1:9", "sendto", "ok", recvBackend},
		{"redirected sendmsg", "127.0.0.1:9", "sendmsg", "ok", recvBackend},
		{"redirected sendmmsg", "127.0.0.1:9", "sendmmsg", "ok", recvBackend},
		// The payload "from" makes the server answer with the datagram's source.
		{"source rewritten", "127.0.0.1:10", "sendto", "ok", recvBackend},
		{"IPv6 allowed", allowed6.String(), "sendto", "ok", recvAllowed6},
		{"IPv6 denied", netip.AddrPortFrom(netip.IPv6Loopback(), denied.Port()).String(), "sendto", eperm, nil},
		// As in Linux, a connected socket's sends are not judged (connect4 judges the
		// connect).
		{"connected, not judged", denied.String(), "connected", "ok", recvDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload, want := strings.ReplaceAll(tc.name, " ", "-"), ""
			if tc.name == "source rewritten" {
				payload, want = "from", "127.0.0.2"
			}
			if got := supervised(t, hooks, fmt.Sprintf("udp %s %s %s", tc.to, payload, tc.call)); got != tc.want {
				t.Fatalf("client: %q, want %q", got, tc.want)
			}
			if want == "" {
				want = payload
			}
			if tc.recv != nil {
				if got := tc.recv(); got != want {
					t.Errorf("received %q, want %q", got, want)
				}
			}
		})
	}
	for name, recv := range map[string]func() string{"allowed": recvAllowed, "backend": recvBackend, "denied": recvDenied, "allowed6": recvAllowed6} {
		if got := recv(); got != "" {
			t.Errorf("%s server also received %q", name, got)
		}
	}
	var judged uint64
	if err := coll.Maps[".bss"].Lookup(uint32(0), &judged); err != nil || judged != 11 {
		t.Errorf("judged = %d, %v; want 11 (every send with an address, once)", judged, err)
	}
	// Without hooks the denied port receives.
	if got := supervised(t, Hooks{}, "udp "+denied.String()+" plain sendto"); got != "ok" || recvDenied() != "plain" {
		t.Errorf("unhooked sendto: %q", got)
	}
}

func TestAdopt(t *testing.T) {
	coll := load(t, "examples/connect_redirect/redirect.o")
	server := testutil.TCPServer(t, "D")
	if err := coll.Maps["denied"].Update(server.Port(), []byte{1}, maps.UpdateAny); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "detached")
	launcher := exec.Command(os.Args[0])
	launcher.Env = append(os.Environ(), fmt.Sprintf("%s=launch connect-twice %s %s", clientEnv, server, file))
	stdin, err := launcher.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	launcher.Stdout, launcher.Stderr = w, os.Stderr
	if err := launcher.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	defer launcher.Wait()
	defer stdin.Close()
	r := bufio.NewReader(out)
	line, _ := r.ReadString('\n')
	var fd, pid int
	if _, err := fmt.Sscanf(line, "listener %d %d", &fd, &pid); err != nil {
		t.Fatalf("launcher: %q", line)
	}
	// What a daemon does: take the listener from the client's process.
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	listener, err := unix.PidfdGetfd(pidfd, fd, 0)
	unix.Close(pidfd)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Adopt(listener, Hooks{Connect4: []*anybpf.Program{coll.Programs["connect4"]}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	io.WriteString(stdin, "adopted\n") // the launcher drops its copy
	if got, _ := r.ReadString('\n'); got != fmt.Sprintf("err %d\n", int(syscall.EPERM)) {
		t.Fatalf("connect under the adopted hooks: %q, want EPERM", got)
	}
	s.SetHooks(Hooks{}) // detach: every call continues
	if len(s.Hooks().Connect4) != 0 {
		t.Fatal("hooks still attached")
	}
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.ReadString('\n'); got != "ok D\n" {
		t.Fatalf("connect after detaching: %q, want it to reach the server", got)
	}
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the supervisor did not stop when the supervised process exited")
	}
	if st := s.Stats(); st.Denied != 1 || st.Calls < 2 {
		t.Errorf("stats %+v, want 1 denied of at least 2 calls", st)
	}
	if _, err := Adopt(int(out.Fd()), Hooks{}); err == nil {
		t.Error("adopting a pipe succeeded")
	}
}

// interactive starts the test binary doing action under hooks; its output is read line by
// line.
func interactive(t *testing.T, hooks Hooks, action string) (*Supervisor, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), clientEnv+"="+action)
	out, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	cmd.Stdout, cmd.Stderr = w, os.Stderr
	s, err := Start(cmd, hooks)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd := s.cmd
		cmd.Process.Kill()
		s.Wait()
	})
	return s, bufio.NewReader(out)
}

// line reads a line within a few seconds.
func line(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	c := make(chan string, 1)
	go func() {
		l, _ := r.ReadString('\n')
		c <- strings.TrimSpace(l)
	}()
	select {
	case l := <-c:
		return l
	case <-time.After(5 * time.Second):
		t.Fatal("no output from the command")
		return ""
	}
}

func TestRecvmsg(t *testing.T) {
	coll := load(t, "testdata/sendmsg.o")
	hooks := Hooks{Recvmsg4: []*anybpf.Program{coll.Programs["recvmsg4"]}, Recvmsg6: []*anybpf.Program{coll.Programs["recvmsg6"]}}
	// Datagrams from the backend's port appear to come from the service address.
	backend, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		backend, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	}
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	other, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	bport := backend.LocalAddr().(*net.UDPAddr).Port
	v := make([]byte, 8)
	copy(v, []byte{198, 18, 0, 10})
	binary.LittleEndian.PutUint32(v[4:], 53)
	if err := coll.Maps["reverse"].Update(uint16(bport), v, maps.UpdateAny); err != nil {
		t.Fatal(err)
	}
	v4sender := func() *net.UDPConn {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: bport})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		name, net, mode string
		rewritten       bool
		want            string
	}{
		{"recvfrom", "udp4", "recvfrom", true, "ok hello 198.18.0.10:53"},
		{"recvmsg into two buffers", "udp4", "recvmsg", true, "ok hello 198.18.0.10:53"},
		{"recvmmsg", "udp4", "recvmmsg", true, "ok hello 198.18.0.10:53"},
		{"truncated", "udp4", "small", true, "ok hell 198.18.0.10:53 MSG_TRUNC"},
		{"peek", "udp4", "peek", true, "ok hello 198.18.0.10:53"},
		{"another source", "udp4", "recvfrom", false, ""},
		{"IPv6", "udp6", "recvfrom", true, fmt.Sprintf("ok hello [::1]:53")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, r := interactive(t, hooks, fmt.Sprintf("recv %s %s", tc.net, tc.mode))
			var port int
			if l := line(t, r); func() bool { _, err := fmt.Sscanf(l, "port %d", &port); return err != nil }() {
				t.Fatalf("client: %q", l)
			}
			var from *net.UDPConn
			switch {
			case tc.net == "udp6":
				from = backend
			case tc.rewritten:
				from = v4sender()
				defer from.Close()
			default:
				from = other
			}
			to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
			if tc.net == "udp6" {
				to.IP = net.IPv6loopback
			}
			if _, err := from.WriteToUDP([]byte("hello"), to); err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if want == "" {
				want = "ok hello " + from.LocalAddr().String()
			}
			got := line(t, r)
			if tc.mode == "peek" {
				if got != "peeked hello 198.18.0.10:53" {
					t.Errorf("peek: %q", got)
				}
				got = line(t, r)
			}
			if got != want {
				t.Errorf("%q, want %q", got, want)
			}
		})
	}
}

// TestAcceptSignal: a signal to a thread blocked in a supervised accept reaches its
// handler at once, and the accept goes on (SA_RESTART, as Go's handlers are installed).
func TestAcceptSignal(t *testing.T) {
	coll := load(t, "testdata/sockops_events.o")
	s, r := interactive(t, Hooks{SockOps: []*anybpf.Program{coll.Programs["record"]}}, "accept-signal")
	var tid, port int
	if l := line(t, r); func() bool { _, err := fmt.Sscanf(l, "tid %d port %d", &tid, &port); return err != nil }() {
		t.Fatalf("client: %q", l)
	}
	time.Sleep(50 * time.Millisecond) // let the accept reach the supervisor
	if err := unix.Tgkill(s.Pid(), tid, unix.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	if l := line(t, r); l != "signal" {
		t.Fatalf("after the signal: %q", l)
	}
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if l := line(t, r); l != "ok" {
		t.Fatalf("accept after the signal: %q", l)
	}
}
