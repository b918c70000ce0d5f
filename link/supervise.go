package link

import (
	"os/exec"

	"github.com/anybpf/anybpf/internal/supervisor"
)

// Hooks are the programs a supervised command's calls run: cgroup/connect4|6,
// cgroup/bind4|6 and cgroup/sendmsg4|6 programs on its connects, binds and UDP sends,
// sock_ops programs on its TCP connections' establishment and close, PROCESS programs on
// its execs.
type Hooks = supervisor.Hooks

// Supervised is a command running under Supervise (or a listener served by
// AdoptSupervised). Its SetHooks replaces the programs; Hooks{} detaches them all.
type Supervised = supervisor.Supervisor

// Supervise starts cmd under a seccomp user-notification filter (Linux) so that hooks'
// programs decide its connects, binds and UDP sends (allow, refuse with EPERM, or
// redirect to the address a program writes), see its TCP connections (sock_ops) and
// decide its execs (a non-zero PROCESS verdict refuses with EPERM), and those of its
// threads and children. Supervise re-executes the running binary to install the filter:
// a program that calls it must call SupervisedChild first thing in main.
func Supervise(cmd *exec.Cmd, hooks Hooks) (*Supervised, error) {
	return supervisor.Start(cmd, hooks)
}

// AdoptSupervised serves the seccomp listener file descriptor of a command another
// process started under anybpf's filter (supervisor.Launch there, pidfd_getfd here),
// running hooks on its calls. It takes the descriptor over.
func AdoptSupervised(listener int, hooks Hooks) (*Supervised, error) {
	return supervisor.Adopt(listener, hooks)
}

// SupervisedChild must be the first call in main of programs that use Supervise: in the
// process Supervise starts, it installs the filter and executes the command, and does
// not return; elsewhere it returns at once.
func SupervisedChild() { supervisor.MaybeChild() }
