// Package link attaches anybpf programs to hooks on real events: an XDP datapath on
// network interfaces, socket hooks for supervised processes and Go sockets, and process
// events. An attachment is a Link; closing it detaches the program, as closing a bpf_link
// file descriptor does in Linux.
package link

import "errors"

// Link is one attachment of a program to a hook.
type Link interface {
	// Info describes the attachment.
	Info() Info
	// Close detaches the program. Closing twice is not an error.
	Close() error
}

// Info describes a Link in the terms bpftool's `link show` uses.
type Info struct {
	// AttachType names the hook, with libbpf's section names: "xdp", "cgroup/connect4",
	// "cgroup/bind4", "sockops", "process", ...
	AttachType string
	// Program is the name of the attached program.
	Program string
	// Target names what the program is attached to: an interface name, a supervised
	// command's pid, or "host" for system-wide hooks.
	Target string
}

// ErrNotSupported is returned for hooks this platform or build cannot provide.
var ErrNotSupported = errors.New("link: not supported")
