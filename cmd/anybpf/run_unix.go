//go:build unix

package main

import "syscall"

// closeListener closes this process's copy of a supervised command's listener.
func closeListener(fd int) { syscall.Close(fd) }
