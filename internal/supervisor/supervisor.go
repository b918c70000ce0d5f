// Package supervisor runs a command under a seccomp user-notification filter so that
// eBPF programs decide its socket calls and program starts: cgroup/connect4/6 and
// cgroup/bind4/6 programs (struct bpf_sock_addr) allow, refuse (EPERM) or rewrite the
// address of connect and bind; PROCESS programs (struct process_md) allow or refuse
// (EPERM) each execve. The filter is inherited, so the command's threads and children are
// covered too. Linux only; elsewhere Start returns ErrNotSupported.
package supervisor

import (
	"errors"

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
