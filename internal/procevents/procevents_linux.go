package procevents

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// The process connector's numbers (linux/connector.h, linux/cn_proc.h).
const (
	cnIdxProc         = 1
	cnValProc         = 1
	procCnMcastListen = 1
	procCnMcastIgnore = 2

	procEventFork = 0x00000001
	procEventExec = 0x00000002
	procEventExit = 0x80000000

	nlmsgHdrLen = 16
	cnMsgLen    = 20
	// procEventHeader is what, cpu and timestamp_ns before the event's data.
	procEventHeader = 16
)

// Listener receives the host's process events. One goroutine may Read while another
// calls Close.
type Listener struct {
	f   *os.File
	buf []byte
}

// Listen subscribes to the host's process events.
func Listen() (*Listener, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_CONNECTOR)
	if err != nil {
		return nil, fmt.Errorf("process events: netlink connector socket: %w", err)
	}
	// A large receive buffer keeps bursts of process churn from being dropped; forcing
	// it past rmem_max needs CAP_NET_ADMIN, which subscribing needs anyway.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("process events: bind to the process connector: %w", err)
	}
	if err := unix.Sendto(fd, control(procCnMcastListen), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("process events: subscribe: %w", err)
	}
	return &Listener{f: os.NewFile(uintptr(fd), "process-connector"), buf: make([]byte, 64<<10)}, nil
}

// control is the message that subscribes to (or leaves) the process connector.
func control(op uint32) []byte {
	msg := make([]byte, nlmsgHdrLen+cnMsgLen+4)
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:], unix.NLMSG_DONE)
	binary.NativeEndian.PutUint32(msg[12:], uint32(os.Getpid()))
	cn := msg[nlmsgHdrLen:]
	binary.NativeEndian.PutUint32(cn[0:], cnIdxProc)
	binary.NativeEndian.PutUint32(cn[4:], cnValProc)
	binary.NativeEndian.PutUint16(cn[16:], 4)
	binary.NativeEndian.PutUint32(cn[cnMsgLen:], op)
	return msg
}

// Read blocks until events arrive and returns them (forks of threads and exits of
// threads other than a process's leader are left out, so it may return none). It
// returns ErrLost once after the kernel dropped events, and os.ErrClosed after Close.
func (l *Listener) Read() ([]Event, error) {
	rc, err := l.f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var n int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr = unix.Recvfrom(int(fd), l.buf, 0)
		return rerr != unix.EAGAIN
	})
	if err != nil {
		// The poller fails only when the file was closed.
		return nil, fmt.Errorf("process events: %w (%v)", os.ErrClosed, err)
	}
	if errors.Is(rerr, unix.ENOBUFS) {
		return nil, ErrLost
	}
	if rerr != nil {
		return nil, fmt.Errorf("process events: receive: %w", rerr)
	}
	return parse(l.buf[:n]), nil
}

// Close unsubscribes and stops a Read in progress.
func (l *Listener) Close() error {
	if rc, err := l.f.SyscallConn(); err == nil {
		_ = rc.Write(func(fd uintptr) bool {
			_ = unix.Sendto(int(fd), control(procCnMcastIgnore), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
			return true
		})
	}
	return l.f.Close()
}

// parse decodes the netlink messages in b; malformed messages end the batch.
func parse(b []byte) []Event {
	var events []Event
	for len(b) >= nlmsgHdrLen {
		size := int(binary.NativeEndian.Uint32(b))
		if size < nlmsgHdrLen || size > len(b) {
			break
		}
		if ev, ok := parseEvent(b[nlmsgHdrLen:size]); ok {
			events = append(events, ev)
		}
		b = b[min((size+3)&^3, len(b)):]
	}
	return events
}

// parseEvent decodes one cn_msg carrying a proc_event.
func parseEvent(cn []byte) (Event, bool) {
	if len(cn) < cnMsgLen+procEventHeader {
		return Event{}, false
	}
	if binary.NativeEndian.Uint32(cn[0:]) != cnIdxProc || binary.NativeEndian.Uint32(cn[4:]) != cnValProc {
		return Event{}, false
	}
	dataLen := int(binary.NativeEndian.Uint16(cn[16:]))
	pe := cn[cnMsgLen:]
	if dataLen < len(pe) {
		pe = pe[:dataLen]
	}
	if len(pe) < procEventHeader {
		return Event{}, false
	}
	what := binary.NativeEndian.Uint32(pe[0:])
	ts := time.Duration(binary.NativeEndian.Uint64(pe[8:]))
	d := pe[procEventHeader:]
	u32 := func(i int) uint32 { return binary.NativeEndian.Uint32(d[4*i:]) }
	switch what {
	case procEventFork:
		if len(d) < 16 || u32(2) != u32(3) { // a thread, not a process
			return Event{}, false
		}
		return Event{Kind: Fork, PID: u32(3), ParentPID: u32(1), ParentTID: u32(0), Time: ts}, true
	case procEventExec:
		if len(d) < 8 {
			return Event{}, false
		}
		return Event{Kind: Exec, PID: u32(1), Time: ts}, true
	case procEventExit:
		if len(d) < 16 || u32(0) != u32(1) { // a thread other than the leader
			return Event{}, false
		}
		ev := Event{Kind: Exit, PID: u32(1), Time: ts}
		status := u32(2)
		if sig := status & 0x7f; sig != 0 {
			ev.Signal, ev.ExitCode = sig, 128+sig
		} else {
			ev.ExitCode = status >> 8 & 0xff
		}
		if len(d) >= 24 {
			ev.ParentPID = u32(5)
		}
		return ev, true
	}
	return Event{}, false
}
