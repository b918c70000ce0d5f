package daemon

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/anybpf/anybpf"
	hook "github.com/anybpf/anybpf/link"
)

// DefaultProviders are the hook providers of anybpf's own hooks:
//
//   - "xdp": the XDP datapath (link.AttachXDP). The target is the interface, optionally
//     followed by "peer IFACE2" or "tap NAME", "workers N" and "priority N", e.g.
//     "eth1 peer eth2". Interfaces are those of the daemon's network namespace.
//   - "process": the host's process events (link.AttachProcess); the target is "host"
//     (or empty).
func DefaultProviders() map[string]HookProvider {
	return map[string]HookProvider{"xdp": xdpProvider{}, "process": processProvider{}}
}

type xdpProvider struct{}

// Attach implements HookProvider.
func (xdpProvider) Attach(prog *anybpf.Program, _, target string, _ uint64) (Attachment, error) {
	opts, err := parseXDPTarget(target)
	if err != nil {
		return nil, err
	}
	return hook.AttachXDP(prog, opts)
}

// parseXDPTarget reads "IFACE [peer IFACE2 | tap NAME] [workers N] [priority N]".
func parseXDPTarget(target string) (hook.XDPOptions, error) {
	f := strings.Fields(target)
	if len(f) == 0 || len(f)%2 == 0 {
		return hook.XDPOptions{}, fmt.Errorf("xdp target %q: want IFACE [peer IFACE2 | tap NAME] [workers N] [priority N]", target)
	}
	opts := hook.XDPOptions{Interface: f[0]}
	for i := 1; i < len(f); i += 2 {
		key, val := f[i], f[i+1]
		switch key {
		case "peer":
			opts.Peer = val
		case "tap":
			opts.TAP = val
		case "workers", "priority":
			n, err := strconv.Atoi(val)
			if err != nil {
				return opts, fmt.Errorf("xdp target %q: %s %q is not a number", target, key, val)
			}
			if key == "workers" {
				opts.Workers = n
			} else {
				opts.Priority = n
			}
		default:
			return opts, fmt.Errorf("xdp target %q: unknown keyword %q", target, key)
		}
	}
	return opts, nil
}

type processProvider struct{}

// Attach implements HookProvider.
func (processProvider) Attach(prog *anybpf.Program, _, target string, _ uint64) (Attachment, error) {
	if target != "" && target != "host" {
		return nil, fmt.Errorf("process target %q: process events are the host's; want \"host\"", target)
	}
	return hook.AttachProcess(prog)
}
