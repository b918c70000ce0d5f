package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Peer is who is at the other end of a connection, from the socket's credentials
// (SO_PEERCRED on Linux).
type Peer struct {
	credentials.CommonAuthInfo
	UID, GID uint32
	// Groups are the peer's groups where its credentials carry them (macOS); on Linux
	// they are read from /proc when needed.
	Groups []uint32
	PID    int32
	// Known is false where the platform gives no peer credentials; such peers are
	// treated as unprivileged.
	Known bool
	// conn numbers the connection, for what it holds.
	conn uint64
}

// withFD runs fn on the descriptor of a Unix socket connection, for reading its peer's
// credentials.
func withFD(conn net.Conn, fn func(fd uintptr) error) error {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("%T is not a Unix socket connection", conn)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := raw.Control(func(fd uintptr) { ferr = fn(fd) }); err != nil {
		return err
	}
	return ferr
}

// AuthType implements credentials.AuthInfo.
func (Peer) AuthType() string { return "peercred" }

// peerCredentials are the daemon's transport credentials: no encryption (the socket is
// local), the peer's credentials read at accept, and the connection tracked so that what
// it holds is released when it closes.
type peerCredentials struct{ s *Server }

func (c peerCredentials) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	p, err := peerOf(conn)
	if err != nil {
		return nil, nil, fmt.Errorf("peer credentials: %w", err)
	}
	p.SecurityLevel = credentials.NoSecurity
	p.conn = c.s.connIDs.Add(1)
	tc := &trackedConn{Conn: conn, onClose: func() { c.s.connClosed(p.conn) }}
	return tc, p, nil
}

func (peerCredentials) ClientHandshake(context.Context, string, net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("peer credentials are for the daemon's side only")
}

func (peerCredentials) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "peercred"}
}

func (c peerCredentials) Clone() credentials.TransportCredentials { return c }

func (peerCredentials) OverrideServerName(string) error { return nil }

// trackedConn calls onClose once when the connection is closed.
type trackedConn struct {
	net.Conn
	once    sync.Once
	onClose func()
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.onClose)
	return err
}

// peerFrom returns the peer of a request.
func peerFrom(ctx context.Context) Peer {
	if p, ok := peer.FromContext(ctx); ok {
		if info, ok := p.AuthInfo.(Peer); ok {
			return info
		}
	}
	return Peer{}
}

// privileged reports whether the peer may load, attach, pin and write: root, or a member
// of the daemon's group.
func (s *Server) privileged(p Peer) bool {
	if !p.Known {
		return false
	}
	if p.UID == 0 {
		return true
	}
	if s.gid < 0 {
		return false
	}
	if int(p.GID) == s.gid {
		return true
	}
	for _, g := range p.Groups {
		if int(g) == s.gid {
			return true
		}
	}
	for _, g := range supplementaryGroups(p.PID) {
		if g == s.gid {
			return true
		}
	}
	return false
}

// supplementaryGroups reads a process's groups from /proc (nil where there is none).
func supplementaryGroups(pid int32) []int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Groups:"); ok {
			var out []int
			for _, f := range strings.Fields(rest) {
				if g, err := strconv.Atoi(f); err == nil {
					out = append(out, g)
				}
			}
			return out
		}
	}
	return nil
}

// lookupGroup returns the id of a group given by name or number.
func lookupGroup(name string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil && n >= 0 {
		return n, nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return 0, fmt.Errorf("group %q: %w", name, err)
	}
	return strconv.Atoi(g.Gid)
}

// privilegedMethods are the methods that load code, attach, pin or write; the others
// only read.
var privilegedMethods = map[string]bool{
	"LoadObject": true, "Unload": true, "TestRun": true, "CreateMap": true,
	"MapUpdate": true, "MapDelete": true, "MapLookupAndDelete": true, "MapUpdateBatch": true, "MapDeleteBatch": true,
	"MapFreeze": true, "Pin": true, "Unpin": true, "Attach": true, "Supervise": true, "Detach": true,
	"SetStats": true,
}

// methodName is the last part of a gRPC full method name.
func methodName(full string) string {
	if i := strings.LastIndexByte(full, '/'); i >= 0 {
		return full[i+1:]
	}
	return full
}

// authorize refuses a privileged method to an unprivileged peer, and logs the refusal.
func (s *Server) authorize(ctx context.Context, method string, req any) error {
	write := privilegedMethods[method]
	if method == "MapLookupBatch" {
		if r, ok := req.(interface{ GetDelete() bool }); ok && r.GetDelete() {
			write = true
		}
	}
	if !write {
		return nil
	}
	p := peerFrom(ctx)
	if s.privileged(p) {
		return nil
	}
	who := fmt.Sprintf("uid %d", p.UID)
	if !p.Known {
		who = "a peer of unknown identity"
	}
	group := "root"
	if s.cfg.Group != "" {
		group = fmt.Sprintf("root or membership of group %s", s.cfg.Group)
	}
	s.log.Warn("refused", "method", method, "uid", p.UID, "gid", p.GID, "pid", p.PID)
	return status.Errorf(codes.PermissionDenied, "permission denied: %s needs %s; %s has neither", method, group, who)
}

func (s *Server) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	err = s.guard(ctx, info.FullMethod, req, func() error {
		resp, err = handler(ctx, req)
		return err
	})
	return resp, err
}

func (s *Server) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return s.guard(ss.Context(), info.FullMethod, nil, func() error { return handler(srv, ss) })
}

// guard runs a request's handler if the peer may make it: it counts the request and its
// latency, and turns a panic into an Internal error (the daemon keeps serving).
func (s *Server) guard(ctx context.Context, fullMethod string, req any, handle func() error) (err error) {
	method := methodName(fullMethod)
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic in handler", "method", method, "panic", r)
			err = status.Errorf(codes.Internal, "%s: internal error", method)
		}
		s.metrics.observe(method, status.Code(err), time.Since(start))
	}()
	if err := s.authorize(ctx, method, req); err != nil {
		return err
	}
	return handle()
}
