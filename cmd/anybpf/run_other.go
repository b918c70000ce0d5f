//go:build !unix

package main

// closeListener does nothing: there are no supervised commands on this platform.
func closeListener(int) {}
