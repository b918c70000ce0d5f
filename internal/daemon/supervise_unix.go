//go:build linux

package daemon

import "golang.org/x/sys/unix"

// fetchFD copies descriptor fd of process pid into the daemon (pidfd_getfd).
func fetchFD(pid, fd int) (int, error) {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1, err
	}
	defer unix.Close(pidfd)
	return unix.PidfdGetfd(pidfd, fd, 0)
}

func closeFD(fd int) { unix.Close(fd) }
