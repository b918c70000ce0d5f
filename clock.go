package anybpf

import "time"

// The clocks of bpf_ktime_get_ns and bpf_ktime_get_boot_ns. On Linux they are the
// system's CLOCK_MONOTONIC and CLOCK_BOOTTIME, as in the kernel, so that programs can
// compare them with the times hooks report (a process event's creation_time, say); they
// are read as Go's monotonic clock plus offsets taken once, which costs no system call.
// Elsewhere they count from one second before the runtime started.
var (
	clockBase       = time.Now()
	monotonicAtBase = uint64(time.Second)
	bootAtBase      = uint64(time.Second)
)

func monotonicNs() uint64 { return monotonicAtBase + uint64(time.Since(clockBase)) }

func bootNs() uint64 { return bootAtBase + uint64(time.Since(clockBase)) }
