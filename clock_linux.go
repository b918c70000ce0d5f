package anybpf

import (
	"time"

	"golang.org/x/sys/unix"
)

// init reads the system clocks at clockBase.
func init() {
	var mono, boot unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono) == nil && unix.ClockGettime(unix.CLOCK_BOOTTIME, &boot) == nil {
		since := uint64(time.Since(clockBase))
		monotonicAtBase = uint64(mono.Nano()) - since
		bootAtBase = uint64(boot.Nano()) - since
	}
}
