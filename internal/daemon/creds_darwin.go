package daemon

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// peerOf reads LOCAL_PEERCRED (uid and groups) and LOCAL_PEERPID of a Unix socket
// connection, macOS's SO_PEERCRED.
func peerOf(conn net.Conn) (Peer, error) {
	var cred *unix.Xucred
	var pid int
	err := withFD(conn, func(fd uintptr) (err error) {
		if cred, err = unix.GetsockoptXucred(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERCRED); err != nil {
			return fmt.Errorf("LOCAL_PEERCRED: %w", err)
		}
		if pid, err = unix.GetsockoptInt(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERPID); err != nil {
			return fmt.Errorf("LOCAL_PEERPID: %w", err)
		}
		return nil
	})
	if err != nil {
		return Peer{}, err
	}
	p := Peer{UID: cred.Uid, PID: int32(pid), Known: true}
	n := min(int(cred.Ngroups), len(cred.Groups))
	if n > 0 {
		p.GID = cred.Groups[0] // the effective group comes first
		p.Groups = append([]uint32(nil), cred.Groups[:n]...)
	}
	return p, nil
}
