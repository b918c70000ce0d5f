//go:build !linux

package bench

import "time"

// threadTime returns the wall clock in ns: thread CPU time is read on Linux only.
func threadTime() int64 { return time.Now().UnixNano() }
