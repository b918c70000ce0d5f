// Package procevents reports process creation and exit for the whole host, from the
// Linux process connector (NETLINK_CONNECTOR, CN_IDX_PROC). It needs CAP_NET_ADMIN; on
// other platforms Listen returns ErrNotSupported.
package procevents

import (
	"errors"
	"time"
)

// Kind is what happened to a process.
type Kind uint8

// Kinds of event.
const (
	// Fork: a process (thread group) was created by fork or clone. Threads are not
	// reported.
	Fork Kind = iota + 1
	// Exec: a process started running a new image.
	Exec
	// Exit: a process (its thread group leader) exited.
	Exit
)

func (k Kind) String() string {
	switch k {
	case Fork:
		return "fork"
	case Exec:
		return "exec"
	case Exit:
		return "exit"
	}
	return "unknown"
}

// Event is one process event.
type Event struct {
	Kind Kind
	// PID is the process (thread group) id.
	PID uint32
	// ParentPID is the parent process of a Fork, and of an Exit on kernels that report
	// it (Linux 5.19 and later); 0 otherwise.
	ParentPID uint32
	// ParentTID is the thread that forked, for a Fork.
	ParentTID uint32
	// ExitCode is the exit status of an Exit as a shell reports it: the code passed to
	// exit, or 128 plus the number of the signal that killed the process.
	ExitCode uint32
	// Signal is the signal that killed the process, or 0.
	Signal uint32
	// Time is when the kernel produced the event, on the CLOCK_MONOTONIC clock
	// (nanoseconds since boot, not counting suspend).
	Time time.Duration
}

// ErrNotSupported is returned where the process connector does not exist.
var ErrNotSupported = errors.New("procevents: process events are not supported on this platform")

// ErrLost is returned by Listener.Read, once, when the kernel dropped events because the
// reader fell behind; reading goes on after it.
var ErrLost = errors.New("procevents: events were lost (the reader fell behind)")
