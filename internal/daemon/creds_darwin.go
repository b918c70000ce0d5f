package daemon

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// peerOf reads LOCAL_PEERCRED (uid and groups) and LOCAL_PEERPID of a Unix socket
// connection, macOS's SO_PEERCRED.
func peerOf(conn net.Conn) (Peer, error) {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return Peer{}, fmt.Errorf("%T is not a Unix socket connection", conn)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return Peer{}, err
	}
	var cred *unix.Xucred
	var pid int
	var serr error
	if err := raw.Control(func(fd uintptr) {
		if cred, serr = unix.GetsockoptXucred(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERCRED); serr == nil {
			pid, serr = unix.GetsockoptInt(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERPID)
		}
	}); err != nil {
		return Peer{}, err
	}
	if serr != nil {
		return Peer{}, fmt.Errorf("LOCAL_PEERCRED: %w", serr)
	}
	p := Peer{UID: cred.Uid, PID: int32(pid), Known: true}
	n := min(int(cred.Ngroups), len(cred.Groups))
	if n > 0 {
		p.GID = cred.Groups[0] // the effective group comes first
		p.Groups = append([]uint32(nil), cred.Groups[:n]...)
	}
	return p, nil
}
