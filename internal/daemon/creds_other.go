//go:build !linux && !darwin && !windows

package daemon

import "net"

// peerOf gives no credentials where the platform has no SO_PEERCRED (yet): such peers
// may only read.
func peerOf(net.Conn) (Peer, error) { return Peer{UID: ^uint32(0), GID: ^uint32(0)}, nil }
