// Package daemon is anybpf's execution context service: one process per host owns a
// runtime (anybpf.Runtime) with every program, map and link, and serves the API of
// package api/anybpfv1 over a local socket. It names objects with 32-bit ids from one
// counter, keeps a pin namespace (/sys/fs/bpf/... and BPF:\... paths) that survives
// restarts through its state directory, checks each peer's credentials before an
// operation that loads code, attaches, pins or writes, validates every request and
// limits what one user may hold.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/anybpf/anybpf"
	pb "github.com/anybpf/anybpf/api/anybpfv1"
)

// Defaults of Config's limits.
const (
	DefaultMaxRequestBytes   = 64 << 20
	DefaultMaxObjectsPerUser = 4096
	DefaultMaxMapBytes       = 1 << 30
	DefaultMaxBytesPerUser   = 4 << 30
	DefaultMemoryLimit       = 8 << 30
	DefaultMaxPageEntries    = 4096
	DefaultMaxRepeat         = 1 << 20
)

// Config configures a Server. Zero limits take the defaults above.
type Config struct {
	// StateDir holds the pins and the objects pinned programs come from; "" keeps pins
	// in memory only.
	StateDir string
	// Group is the group (name or numeric id) whose members may do what root may; ""
	// for root only.
	Group string
	// Engine is the runtime's engine (auto, interp, jit).
	Engine string
	// MaxRequestBytes limits the size of one request message.
	MaxRequestBytes int
	// MaxObjectsPerUser limits the programs, maps and links one uid may have created and
	// that are still alive.
	MaxObjectsPerUser int
	// MaxMapBytes limits the memory of one map (its footprint when full).
	MaxMapBytes uint64
	// MaxBytesPerUser limits the map memory one uid's maps may hold.
	MaxBytesPerUser uint64
	// MemoryLimit is the runtime's limit on the memory of all maps
	// (RuntimeConfig.WithMemoryLimit).
	MemoryLimit uint64
	// Logger receives the daemon's log, refusals included; nil logs to stderr.
	Logger *slog.Logger
	// Providers are the hook providers by attach type, registered before the pins are
	// restored so that pinned links can be attached again (RegisterProvider adds more
	// later).
	Providers map[string]HookProvider
}

func (c *Config) setDefaults() {
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.MaxObjectsPerUser <= 0 {
		c.MaxObjectsPerUser = DefaultMaxObjectsPerUser
	}
	if c.MaxMapBytes == 0 {
		c.MaxMapBytes = DefaultMaxMapBytes
	}
	if c.MaxBytesPerUser == 0 {
		c.MaxBytesPerUser = DefaultMaxBytesPerUser
	}
	if c.MemoryLimit == 0 {
		c.MemoryLimit = DefaultMemoryLimit
	}
	if c.Engine == "" {
		c.Engine = "auto"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
}

// Server is the daemon: it implements pb.AnybpfServer on a runtime it owns.
type Server struct {
	pb.UnimplementedAnybpfServer

	cfg     Config
	gid     int // the group's id, -1 when there is none
	rt      *anybpf.Runtime
	engine  string
	log     *slog.Logger
	trace   *traceHub
	metrics *metrics

	mu       sync.Mutex
	nextID   uint32
	objs     map[uint32]*object
	byRTMap  map[uint32]*object // maps by their runtime id
	pins     map[string]*object // by canonical path
	conns    map[uint64]map[uint32]bool
	users    map[uint32]*usage
	provider map[string]HookProvider
	sessions sessions // supervised commands (Supervise)
	cursors  *cursorTable
	closed   bool
	// pending are pins of the state directory that could not be restored (a hook
	// provider missing, say); they are kept for the next start.
	pending []pinRecord

	connIDs atomic.Uint64
	grpc    *grpc.Server
}

// usage is what one uid holds.
type usage struct {
	objects int
	bytes   uint64
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("daemon closed")

// New returns a daemon with a runtime of its own, after restoring the pins of
// cfg.StateDir (pins it cannot restore are logged and dropped).
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	gid := -1
	if cfg.Group != "" {
		g, err := lookupGroup(cfg.Group)
		if err != nil {
			return nil, err
		}
		gid = g
	}
	eng, err := anybpf.EngineByName(cfg.Engine)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		gid:      gid,
		engine:   eng.Name(),
		log:      cfg.Logger,
		trace:    newTraceHub(),
		objs:     map[uint32]*object{},
		byRTMap:  map[uint32]*object{},
		pins:     map[string]*object{},
		conns:    map[uint64]map[uint32]bool{},
		users:    map[uint32]*usage{},
		provider: map[string]HookProvider{},
		cursors:  newCursorTable(1024),
	}
	for t, p := range cfg.Providers {
		s.provider[t] = p
	}
	// Supervised commands' hooks; targets that are not supervised commands go to the
	// provider the type had (the host's process events for "process").
	sp := superviseProvider{s: s, next: map[string]HookProvider{}}
	for _, t := range supervisedTypes {
		if p := s.provider[t]; p != nil {
			sp.next[t] = p
		}
		s.provider[t] = sp
	}
	s.metrics = newMetrics(s)
	rcfg := anybpf.NewRuntimeConfig().WithEngine(cfg.Engine).WithTraceLog(s.trace).WithMemoryLimit(cfg.MemoryLimit)
	s.rt = anybpf.NewRuntime(context.Background(), rcfg)
	if cfg.StateDir != "" {
		if err := os.MkdirAll(filepath.Join(cfg.StateDir, "objects"), 0o700); err != nil {
			return nil, fmt.Errorf("state dir: %w", err)
		}
		if err := s.restore(); err != nil {
			s.rt.Close()
			return nil, err
		}
	}
	return s, nil
}

// Runtime returns the runtime the daemon owns, for hook providers.
func (s *Server) Runtime() *anybpf.Runtime { return s.rt }

// GRPCServer returns a gRPC server with the daemon's service, credentials check,
// limits and metrics; Serve uses it.
func (s *Server) GRPCServer() *grpc.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.grpc == nil {
		s.grpc = grpc.NewServer(
			grpc.Creds(peerCredentials{s}),
			grpc.MaxRecvMsgSize(s.cfg.MaxRequestBytes),
			grpc.MaxConcurrentStreams(256),
			grpc.ChainUnaryInterceptor(s.unaryInterceptor),
			grpc.ChainStreamInterceptor(s.streamInterceptor),
		)
		pb.RegisterAnybpfServer(s.grpc, s)
	}
	return s.grpc
}

// Serve serves the API on l until Close; it returns ErrServerClosed then.
func (s *Server) Serve(l net.Listener) error {
	err := s.GRPCServer().Serve(l)
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed || errors.Is(err, grpc.ErrServerStopped) {
		return ErrServerClosed
	}
	return err
}

// Close stops serving (streams are ended, requests under way finish), saves the pins
// and releases the runtime.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	g := s.grpc
	s.mu.Unlock()
	s.closeSessions()
	s.trace.Close()
	if g != nil {
		stopped := make(chan struct{})
		go func() { g.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			g.Stop()
		}
	}
	s.mu.Lock()
	err := s.savePinsLocked()
	// Programs stop with the runtime: detach them from their hooks first, then save what
	// the pinned maps hold.
	for _, o := range s.objs {
		if o.kind == pb.ObjectKind_OBJECT_KIND_LINK {
			if cerr := o.link.att.Close(); cerr != nil {
				s.log.Warn("detach", "link", o.id, "err", cerr)
			}
		}
	}
	if serr := s.snapshotPinsLocked(); serr != nil {
		err = errors.Join(err, fmt.Errorf("saving map contents: %w", serr))
	}
	s.mu.Unlock()
	s.rt.Close()
	return err
}
