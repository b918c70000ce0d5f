//go:build unix

package link

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/anybpf/anybpf"
	"github.com/anybpf/anybpf/internal/supervisor"
)

// ErrRedirectNotSupported is returned by a ListenControl function when a bind program
// rewrites the address, and by a DialControl function when a connect program redirects
// a UDP socket: a Control function runs before Go's own bind or connect, which would
// undo the rewrite.
var ErrRedirectNotSupported = errors.New("link: this address rewrite is not supported in a Go Control function")

// DialControl returns a function for net.Dialer.Control that runs cgroup/connect4 and
// cgroup/connect6 programs on each connection the dialer makes, as the kernel's cgroup
// hooks do: a program returning 0 refuses it (the dial fails with EPERM); a program that
// rewrites user_ip4/user_ip6/user_port redirects a TCP connection there.
func DialControl(connect4, connect6 []*anybpf.Program) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		to, typ, proto, progs, err := controlTarget(network, address, connect4, connect6)
		if err != nil || len(progs) == 0 {
			return err
		}
		allow, final, err := supervisor.Judge(progs, to, typ, proto)
		if err != nil {
			return fmt.Errorf("connect hook: %w", err)
		}
		if !allow {
			return os.NewSyscallError("connect", syscall.EPERM)
		}
		if final == to {
			return nil
		}
		if typ != unix.SOCK_STREAM {
			return ErrRedirectNotSupported
		}
		// Start the connection to the new address; Go's own connect then finds it in
		// progress (or made) and waits for it.
		var cerr error
		if err := c.Control(func(fd uintptr) { cerr = unix.Connect(int(fd), sockaddr(final)) }); err != nil {
			return err
		}
		if cerr != nil && cerr != unix.EINPROGRESS {
			return os.NewSyscallError("connect", cerr)
		}
		return nil
	}
}

// ListenControl returns a function for net.ListenConfig.Control that runs cgroup/bind4
// and cgroup/bind6 programs on each bind: a program returning 0 refuses it (EPERM).
func ListenControl(bind4, bind6 []*anybpf.Program) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		to, typ, proto, progs, err := controlTarget(network, address, bind4, bind6)
		if err != nil || len(progs) == 0 {
			return err
		}
		allow, final, err := supervisor.Judge(progs, to, typ, proto)
		switch {
		case err != nil:
			return fmt.Errorf("bind hook: %w", err)
		case !allow:
			return os.NewSyscallError("bind", syscall.EPERM)
		case final != to:
			return ErrRedirectNotSupported
		}
		return nil
	}
}

// controlTarget parses a Control function's arguments and picks the programs.
func controlTarget(network, address string, progs4, progs6 []*anybpf.Program) (to netip.AddrPort, typ, proto int, progs []*anybpf.Program, err error) {
	switch {
	case strings.HasPrefix(network, "tcp"):
		typ, proto = unix.SOCK_STREAM, unix.IPPROTO_TCP
	case strings.HasPrefix(network, "udp"):
		typ, proto = unix.SOCK_DGRAM, unix.IPPROTO_UDP
	default:
		return to, 0, 0, nil, nil // not an IP socket
	}
	to, err = netip.ParseAddrPort(address)
	if err != nil {
		return to, 0, 0, nil, fmt.Errorf("socket hook: address %q: %w", address, err)
	}
	to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
	if network == "tcp6" || network == "udp6" || to.Addr().Is6() {
		return to, typ, proto, progs6, nil
	}
	return to, typ, proto, progs4, nil
}

func sockaddr(a netip.AddrPort) unix.Sockaddr {
	if a.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(a.Port()), Addr: a.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(a.Port()), Addr: a.Addr().As16()}
}
