package bench

import (
	"time"

	"golang.org/x/sys/unix"
)

// threadTime returns the CPU time the calling thread has used, in ns (the goroutine must
// be locked to its thread).
func threadTime() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return time.Now().UnixNano()
	}
	return ts.Nano()
}
