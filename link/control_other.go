//go:build !unix

package link

import (
	"errors"
	"syscall"

	"github.com/anybpf/anybpf"
)

// ErrRedirectNotSupported is returned when a rewrite cannot be done from a Control
// function.
var ErrRedirectNotSupported = errors.New("link: this address rewrite is not supported in a Go Control function")

// DialControl returns a Control function that fails with ErrNotSupported on this
// platform.
func DialControl(connect4, connect6 []*anybpf.Program) func(network, address string, c syscall.RawConn) error {
	return func(string, string, syscall.RawConn) error { return ErrNotSupported }
}

// ListenControl returns a Control function that fails with ErrNotSupported on this
// platform.
func ListenControl(bind4, bind6 []*anybpf.Program) func(network, address string, c syscall.RawConn) error {
	return func(string, string, syscall.RawConn) error { return ErrNotSupported }
}
