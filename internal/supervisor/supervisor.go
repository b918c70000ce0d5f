// Package supervisor runs a command under a seccomp user-notification filter so that
// eBPF programs decide its socket calls and program starts: cgroup/connect4/6,
// cgroup/bind4/6 and cgroup/sendmsg4/6 programs (struct bpf_sock_addr) allow, refuse
// (EPERM) or rewrite the address of connect, bind and a UDP sendto/sendmsg; recvmsg4/6
// programs rewrite the source address a UDP receive reports; sockops
// programs (struct bpf_sock_ops) see its TCP connections established (by connect or
// accept) and closed; PROCESS programs (struct process_md) allow or refuse (EPERM) each
// execve. The filter is inherited, so the command's threads and children are covered
// too. Adopt serves the listener of a filter another process installed (a daemon's view
// of a supervised command). Linux only; elsewhere Start and Adopt return ErrNotSupported.
package supervisor

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/anybpf/anybpf"
	"github.com/anybpf/anybpf/progtype"
)

// Hooks are the programs a supervised command's calls run, in order; a call is allowed
// only if every program allows it, and each program sees the address the previous ones
// left.
type Hooks struct {
	Connect4, Connect6 []*anybpf.Program
	Bind4, Bind6       []*anybpf.Program
	// Sendmsg4 and Sendmsg6 judge sendto and sendmsg calls with a destination address on
	// UDP sockets, as Linux's cgroup/sendmsg4|6 hooks (connected sends are not judged).
	Sendmsg4, Sendmsg6 []*anybpf.Program
	// Recvmsg4 and Recvmsg6 see the source address of each datagram a UDP socket
	// receives with recvfrom, recvmsg or recvmmsg and an address buffer, and may
	// rewrite what the caller gets (user_ip4/user_ip6/user_port), as Linux's
	// cgroup/recvmsg4|6 hooks; their return value is ignored (Linux requires 1).
	Recvmsg4, Recvmsg6 []*anybpf.Program
	// SockOps are sock_ops programs run on the command's TCP connections:
	// BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB when a connect succeeds,
	// BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB when an accept returns a connection,
	// BPF_SOCK_OPS_TCP_LISTEN_CB when a socket starts listening, and
	// BPF_SOCK_OPS_STATE_CB with the new state BPF_TCP_CLOSE when the connection's
	// socket is destroyed, for connections on which a program set
	// BPF_SOCK_OPS_STATE_CB_FLAG (bpf_sock_ops_cb_flags_set), as Linux does.
	SockOps []*anybpf.Program
	// Bind are ebpf-for-windows BIND programs (struct bind_md, include/anybpf/bind.h)
	// on each bind of an IPv4 or IPv6 socket, after Bind4/Bind6: BIND_DENY refuses it
	// (EPERM), BIND_REDIRECT binds to the socket_address the program wrote, BIND_PERMIT
	// allows and BIND_PERMIT_HARD allows without asking the programs after it. The
	// application id is the command's executable path (UTF-8).
	Bind []*anybpf.Program
	// Exec are PROCESS programs: a non-zero return value refuses the execve.
	Exec []*anybpf.Program
}

// Intercept is a set of the system calls a supervised command's filter sends to the
// supervisor. A call that is not intercepted runs unjudged whatever hooks are set later.
type Intercept uint32

// The calls a filter can intercept.
const (
	InterceptConnect Intercept = 1 << iota // connect
	InterceptBind                          // bind
	InterceptSend                          // sendto with an address, sendmsg, sendmmsg
	InterceptAccept                        // accept, accept4, listen
	InterceptExec                          // execve, execveat
	InterceptRecv                          // recvfrom with an address, recvmsg, recvmmsg
	// InterceptAll is every call some hook judges: what a command needs whose hooks may
	// be attached after it started. (InterceptRecv costs every recvmsg of the command a
	// round trip to the supervisor, whatever its socket.)
	InterceptAll = InterceptConnect | InterceptBind | InterceptSend | InterceptAccept | InterceptExec | InterceptRecv
)

// Intercepts returns the calls h's programs need to see.
func (h Hooks) Intercepts() Intercept {
	var i Intercept
	if len(h.Connect4)+len(h.Connect6)+len(h.SockOps) > 0 {
		i |= InterceptConnect
	}
	if len(h.Bind4)+len(h.Bind6)+len(h.Bind) > 0 {
		i |= InterceptBind
	}
	if len(h.Sendmsg4)+len(h.Sendmsg6) > 0 {
		i |= InterceptSend
	}
	if len(h.SockOps) > 0 {
		i |= InterceptAccept
	}
	if len(h.Recvmsg4)+len(h.Recvmsg6) > 0 {
		i |= InterceptRecv
	}
	if len(h.Exec) > 0 {
		i |= InterceptExec
	}
	return i
}

// Options configure Start.
type Options struct {
	// Intercept adds calls to those the hooks need (Hooks.Intercepts), for hooks that
	// SetHooks will attach later.
	Intercept Intercept
}

// Stats counts what a supervisor did.
type Stats struct {
	// Calls is the number of intercepted system calls.
	Calls uint64
	// Denied is how many were refused because a program said so.
	Denied uint64
	// Redirected is how many connects, binds or sends went to an address a program
	// chose.
	Redirected uint64
	// SockOpsEvents is how many connection events the sock_ops programs ran on.
	SockOpsEvents uint64
	// Errors is how many calls the supervisor could not judge (the caller's memory
	// could not be read, a program failed); they were refused with EPERM.
	Errors uint64
}

// ErrNotSupported is returned where seccomp user notification is not available.
var ErrNotSupported = errors.New("supervisor: seccomp user notification is not supported on this platform")

// ErrClosed is returned by the methods of a Supervisor that was closed.
var ErrClosed = errors.New("supervisor: closed")

// childEnv marks the re-executed binary that installs the filter and then executes the
// command (see MaybeChild).
const childEnv = "ANYBPF_SUPERVISED_CHILD"

// Judge runs cgroup sock_addr programs (connect4/6, bind4/6) on a call with address to,
// on a socket of the given type and protocol, as the kernel's cgroup hooks do: each
// program sees the address the previous one left; the call is allowed only if all
// return 1. It returns the verdict and the address to use.
func Judge(progs []*anybpf.Program, to netip.AddrPort, sockType, protocol int) (allow bool, final netip.AddrPort, err error) {
	allow, final, _, err = judgeMsg(progs, to, netip.Addr{}, sockType, protocol, 0)
	return allow, final, err
}

// judgeMsg is Judge with the source address of a sendmsg (msg_src_ip4/msg_src_ip6; the
// zero Addr when the caller did not choose one) and the socket's cookie (what
// bpf_get_socket_cookie returns; 0 for one of the run's own). It also returns the source
// address the programs left (the zero Addr when they left it unspecified).
func judgeMsg(progs []*anybpf.Program, to netip.AddrPort, src netip.Addr, sockType, protocol int, cookie uint64) (allow bool, final netip.AddrPort, finalSrc netip.Addr, err error) {
	ctx := make([]byte, 72) // struct bpf_sock_addr
	put := binary.LittleEndian.PutUint32
	family := uint32(2) // AF_INET
	if to.Addr().Is4() {
		a := to.Addr().As4()
		copy(ctx[4:8], a[:])
	} else {
		family = 10 // AF_INET6
		a := to.Addr().As16()
		copy(ctx[8:24], a[:])
	}
	put(ctx[0:], family)
	binary.BigEndian.PutUint16(ctx[24:], to.Port())
	put(ctx[28:], family)
	put(ctx[32:], uint32(sockType))
	put(ctx[36:], uint32(protocol))
	if src.Is4() {
		a := src.As4()
		copy(ctx[40:44], a[:])
	} else if src.Is6() {
		a := src.As16()
		copy(ctx[44:60], a[:])
	}
	for _, p := range progs {
		opts := &anybpf.RunOptions{Context: ctx, SocketCookie: cookie}
		ret, err := p.Run(opts)
		if err != nil {
			return false, to, src, err
		}
		if ret&1 == 0 {
			return false, to, src, nil
		}
		ctx = opts.ContextOut
	}
	port := binary.BigEndian.Uint16(ctx[24:26])
	if family == 2 {
		finalSrc = netip.AddrFrom4([4]byte(ctx[40:44]))
		if finalSrc.IsUnspecified() {
			finalSrc = netip.Addr{}
		}
		return true, netip.AddrPortFrom(netip.AddrFrom4([4]byte(ctx[4:8])), port), finalSrc, nil
	}
	finalSrc = netip.AddrFrom16([16]byte(ctx[44:60]))
	if finalSrc.IsUnspecified() {
		finalSrc = netip.Addr{}
	}
	return true, netip.AddrPortFrom(netip.AddrFrom16([16]byte(ctx[8:24])).WithZone(to.Addr().Zone()), port), finalSrc, nil
}

// The verdicts of BIND programs (enum bind_action).
const (
	bindPermitSoft = 0
	bindDeny       = 1
	bindRedirect   = 2
	bindPermitHard = 3
)

// JudgeBind runs ebpf-for-windows BIND programs on a bind of process pid (image its
// executable's path) to address to, given as the caller's sockaddr raw, on a socket of
// protocol proto: each program sees the address the previous ones left; BIND_DENY
// refuses, BIND_PERMIT_HARD allows at once, BIND_REDIRECT takes the address the program
// wrote (its port, and its IPv4 address or the first half of its IPv6 one). A value
// that is no bind_action refuses.
func JudgeBind(progs []*anybpf.Program, pid uint32, image []byte, to netip.AddrPort, raw []byte, proto int) (allow bool, final netip.AddrPort, err error) {
	md := progtype.BindMD{ProcessID: uint64(pid), SocketAddressLength: uint8(min(len(raw), 255)), Protocol: uint8(proto)}
	copy(md.SocketAddress[:], raw)
	binary.BigEndian.PutUint16(md.SocketAddress[2:], to.Port())
	if to.Addr().Is4() {
		a := to.Addr().As4()
		copy(md.SocketAddress[4:8], a[:])
	} else {
		a := to.Addr().As16()
		copy(md.SocketAddress[8:16], a[:8])
	}
	final = to
	for _, p := range progs {
		opts := &anybpf.RunOptions{Context: md.Encode(), Data: image}
		ret, err := p.Run(opts)
		if err != nil {
			return false, to, err
		}
		switch ret {
		case bindPermitSoft:
		case bindPermitHard:
			return true, final, nil
		case bindRedirect:
			if md, err = progtype.DecodeBindMD(opts.ContextOut); err != nil {
				return false, to, err
			}
			port := binary.BigEndian.Uint16(md.SocketAddress[2:])
			if final.Addr().Is4() {
				final = netip.AddrPortFrom(netip.AddrFrom4([4]byte(md.SocketAddress[4:8])), port)
			} else {
				a := final.Addr().As16()
				copy(a[:8], md.SocketAddress[8:16])
				final = netip.AddrPortFrom(netip.AddrFrom16(a).WithZone(final.Addr().Zone()), port)
			}
		default: // BIND_DENY, or no verdict at all
			return false, to, nil
		}
	}
	return true, final, nil
}
