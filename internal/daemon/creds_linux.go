package daemon

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// peerOf reads SO_PEERCRED of a Unix socket connection.
func peerOf(conn net.Conn) (Peer, error) {
	var cred *unix.Ucred
	err := withFD(conn, func(fd uintptr) (err error) {
		cred, err = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err != nil {
			return fmt.Errorf("SO_PEERCRED: %w", err)
		}
		return nil
	})
	if err != nil {
		return Peer{}, err
	}
	return Peer{UID: cred.Uid, GID: cred.Gid, PID: cred.Pid, Known: true}, nil
}
