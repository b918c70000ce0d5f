//go:build !linux

package daemon

import "github.com/anybpf/anybpf/internal/supervisor"

// fetchFD is not available on this platform.
func fetchFD(pid, fd int) (int, error) { return -1, supervisor.ErrNotSupported }

func closeFD(int) {}
