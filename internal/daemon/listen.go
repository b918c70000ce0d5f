package daemon

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
)

// Listen returns the daemon's listener: the one systemd passed (socket activation,
// LISTEN_FDS) if there is one, else a new Unix socket at path, mode 0660 and owned by
// group gid when gid >= 0. A stale socket file at path (nobody listening) is replaced;
// a live one is an error. The socket's directory is created (0755) if missing.
func Listen(path string, gid int) (net.Listener, error) {
	if l, err := inheritedListener(); l != nil || err != nil {
		return l, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("socket directory: %w", err)
	}
	if _, err := os.Stat(path); err == nil {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: another daemon is listening there", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket: %w", err)
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, err
	}
	if gid >= 0 {
		if err := os.Chown(path, -1, gid); err != nil {
			l.Close()
			return nil, fmt.Errorf("socket group: %w", err)
		}
	}
	return l, nil
}

// inheritedListener returns the first socket systemd passed, per sd_listen_fds(3):
// LISTEN_PID is this process, LISTEN_FDS counts the descriptors from 3.
func inheritedListener() (net.Listener, error) {
	pid, err := strconv.Atoi(os.Getenv("LISTEN_PID"))
	if err != nil || pid != os.Getpid() {
		return nil, nil
	}
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || n < 1 {
		return nil, errors.New("LISTEN_PID is set but LISTEN_FDS names no socket")
	}
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_FDNAMES")
	f := os.NewFile(3, "LISTEN_FD_3")
	defer f.Close()
	l, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("inherited socket: %w", err)
	}
	return l, nil
}

// errNoGroupsOnWindows is GroupID's error on Windows, where groups are SIDs.
var errNoGroupsOnWindows = errors.New("--group is not supported on Windows: elevated members of Administrators may load, attach, pin and write; others may read")

// GroupID returns the id of the group given by name or number, for Listen.
func GroupID(name string) (int, error) {
	if name == "" {
		return -1, nil
	}
	if runtime.GOOS == "windows" {
		return 0, errNoGroupsOnWindows
	}
	return lookupGroup(name)
}
