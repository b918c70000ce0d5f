package daemon

import (
	"fmt"
	"net"
	"unsafe"

	"golang.org/x/sys/windows"
)

// sioAFUnixGetPeerPID is SIO_AF_UNIX_GETPEERPID: _WSAIOR(IOC_VENDOR, 256), the process id
// of an AF_UNIX socket's peer.
const sioAFUnixGetPeerPID = 0x58000100

// peerOf finds the peer process of an AF_UNIX connection and reads its access token: a
// member of BUILTIN\Administrators whose token is elevated is privileged (uid 0, as root
// is on Linux); anyone else is known but unprivileged.
func peerOf(conn net.Conn) (Peer, error) {
	var pid uint32
	err := withFD(conn, func(fd uintptr) error {
		var n uint32
		if err := windows.WSAIoctl(windows.Handle(fd), sioAFUnixGetPeerPID, nil, 0, (*byte)(unsafe.Pointer(&pid)), uint32(unsafe.Sizeof(pid)), &n, nil, 0); err != nil {
			return fmt.Errorf("SIO_AF_UNIX_GETPEERPID: %w", err)
		}
		return nil
	})
	if err != nil {
		return Peer{}, err
	}
	admin, err := processIsAdmin(pid)
	if err != nil {
		return Peer{}, fmt.Errorf("peer process %d: %w", pid, err)
	}
	p := Peer{UID: ^uint32(0), GID: ^uint32(0), PID: int32(pid), Known: true}
	if admin {
		p.UID, p.GID = 0, 0
	}
	return p, nil
}

// processIsAdmin reports whether process pid runs with an enabled Administrators group
// (an elevated token).
func processIsAdmin(pid uint32) (bool, error) {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return false, err
	}
	defer windows.CloseHandle(h)
	var tok windows.Token
	if err := windows.OpenProcessToken(h, windows.TOKEN_QUERY|windows.TOKEN_DUPLICATE, &tok); err != nil {
		return false, err
	}
	defer tok.Close()
	// CheckTokenMembership wants an impersonation token.
	var imp windows.Token
	if err := windows.DuplicateTokenEx(tok, windows.TOKEN_QUERY, nil, windows.SecurityIdentification, windows.TokenImpersonation, &imp); err != nil {
		return false, err
	}
	defer imp.Close()
	admins, err := windows.CreateWellKnownSid(windows.WinBuiltinAdministratorsSid)
	if err != nil {
		return false, err
	}
	return imp.IsMember(admins)
}
