// Package supervisor runs a command under a seccomp user-notification filter so that
// eBPF programs decide its socket calls and program starts: cgroup/connect4/6 and
// cgroup/bind4/6 programs (struct bpf_sock_addr) allow, refuse (EPERM) or rewrite the
// address of connect and bind; PROCESS programs (struct process_md) allow or refuse
// (EPERM) each execve. The filter is inherited, so the command's threads and children are
// covered too. Linux only; elsewhere Start returns ErrNotSupported.
package supervisor

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/anybpf/anybpf"
)

// Hooks are the programs a supervised command's calls run, in order; a call is allowed
// only if every program allows it, and each program sees the address the previous ones
// left.
type Hooks struct {
	Connect4, Connect6 []*anybpf.Program
	Bind4, Bind6       []*anybpf.Program
	// Exec are PROCESS programs: a non-zero return value refuses the execve.
	Exec []*anybpf.Program
}

// Stats counts what a supervisor did.
type Stats struct {
	// Calls is the number of intercepted system calls.
	Calls uint64
	// Denied is how many were refused because a program said so.
	Denied uint64
	// Redirected is how many connects or binds went to an address a program chose.
	Redirected uint64
	// Errors is how many calls the supervisor could not judge (the caller's memory
	// could not be read, a program failed); they were refused with EPERM.
	Errors uint64
}

// ErrNotSupported is returned where seccomp user notification is not available.
var ErrNotSupported = errors.New("supervisor: seccomp user notification is not supported on this platform")

// childEnv marks the re-executed binary that installs the filter and then executes the
// command (see MaybeChild).
const childEnv = "ANYBPF_SUPERVISED_CHILD"

// Judge runs cgroup sock_addr programs (connect4/6, bind4/6) on a call with address to,
// on a socket of the given type and protocol, as the kernel's cgroup hooks do: each
// program sees the address the previous one left; the call is allowed only if all
// return 1. It returns the verdict and the address to use.
func Judge(progs []*anybpf.Program, to netip.AddrPort, sockType, protocol int) (allow bool, final netip.AddrPort, err error) {
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
	for _, p := range progs {
		opts := &anybpf.RunOptions{Context: ctx}
		ret, err := p.Run(opts)
		if err != nil {
			return false, to, err
		}
		if ret&1 == 0 {
			return false, to, nil
		}
		ctx = opts.ContextOut
	}
	port := binary.BigEndian.Uint16(ctx[24:26])
	if family == 2 {
		return true, netip.AddrPortFrom(netip.AddrFrom4([4]byte(ctx[4:8])), port), nil
	}
	return true, netip.AddrPortFrom(netip.AddrFrom16([16]byte(ctx[8:24])).WithZone(to.Addr().Zone()), port), nil
}
