package procevents

import (
	"bytes"
	"os"
	"strconv"
)

// ParentOf reads a process's parent from /proc/PID/stat; 0 when the process is gone (or
// there is no /proc).
func ParentOf(pid uint32) uint32 {
	b, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/stat")
	if err != nil {
		return 0
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses, so start
	// after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.ParseUint(string(f[1]), 10, 32)
	return uint32(ppid)
}
