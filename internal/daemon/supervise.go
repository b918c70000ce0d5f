package daemon

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"unicode"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/anybpf/anybpf"
	pb "github.com/anybpf/anybpf/api/anybpfv1"
	"github.com/anybpf/anybpf/internal/supervisor"
)

// supervisedPrefix starts the targets of supervised commands ("supervised:N").
const supervisedPrefix = "supervised:"

// supervisedTypes are the attach types of a supervised command's hooks.
var supervisedTypes = []string{"connect4", "connect6", "bind4", "bind6", "sendmsg4", "sendmsg6", "recvmsg4", "recvmsg6", "sockops", "bind", "process"}

// session is a supervised command whose hooks the daemon runs.
type session struct {
	target, command string
	pid             int32
	sup             *supervisor.Supervisor
	// hooks are the programs attached, by attach type, in attach order (under
	// sessions.mu).
	hooks map[string][]*anybpf.Program
}

// sessions are the supervised commands; they have their own lock because hook
// providers are called with the server's held.
type sessions struct {
	mu   sync.Mutex
	next int
	m    map[string]*session
}

// Supervise implements pb.AnybpfServer.
func (s *Server) Supervise(ctx context.Context, req *pb.SuperviseRequest) (*pb.SuperviseResponse, error) {
	p := peerFrom(ctx)
	if !p.Known || p.PID <= 0 {
		return nil, status.Error(codes.PermissionDenied, "supervise: the daemon cannot tell which process is asking (no peer credentials)")
	}
	if req.GetListenerFd() < 0 || len(req.GetCommand()) > 4096 {
		return nil, status.Error(codes.InvalidArgument, "supervise: bad listener descriptor or command")
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, status.Error(codes.Unavailable, "the daemon is shutting down")
	}
	// The descriptor is taken from the peer's own process, as SO_PEERCRED names it, not
	// from a pid the request claims.
	fd, err := fetchFD(int(p.PID), int(req.GetListenerFd()))
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "supervise: descriptor %d of process %d: %v", req.GetListenerFd(), p.PID, err)
	}
	sup, err := supervisor.Adopt(fd, supervisor.Hooks{})
	if err != nil {
		closeFD(fd)
		return nil, status.Errorf(codes.InvalidArgument, "supervise: %v", err)
	}
	ss := &s.sessions
	ss.mu.Lock()
	if ss.m == nil {
		ss.m = map[string]*session{}
	}
	ss.next++
	sess := &session{target: fmt.Sprintf("%s%d", supervisedPrefix, ss.next), command: oneLine(req.GetCommand(), 160), pid: req.GetPid(), sup: sup, hooks: map[string][]*anybpf.Program{}}
	ss.m[sess.target] = sess
	ss.mu.Unlock()
	s.log.Info("supervising", "target", sess.target, "pid", sess.pid, "command", sess.command, "uid", p.UID)
	go s.endSession(sess)
	return &pb.SuperviseResponse{Target: sess.target}, nil
}

// oneLine makes a command line fit a link listing: control characters become spaces,
// and past max runes it is cut with "...".
func oneLine(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if r := []rune(s); len(r) > max {
		s = string(r[:max]) + "..."
	}
	return s
}

// endSession waits until every process of a supervised command has exited (or the
// daemon stops supervising it), then drops the links attached to it.
func (s *Server) endSession(sess *session) {
	<-sess.sup.Done()
	s.sessions.mu.Lock()
	delete(s.sessions.m, sess.target)
	s.sessions.mu.Unlock()
	s.mu.Lock()
	for _, o := range s.objs {
		if o.kind == pb.ObjectKind_OBJECT_KIND_LINK && o.link.target == sess.target {
			s.dropLocked(o)
		}
	}
	s.mu.Unlock()
	sess.sup.Close()
	s.log.Info("supervised command done", "target", sess.target, "pid", sess.pid)
}

// closeSessions stops supervising every command (the daemon is stopping): their calls
// fail with ENOSYS from then on.
func (s *Server) closeSessions() {
	s.sessions.mu.Lock()
	var all []*session
	for _, sess := range s.sessions.m {
		all = append(all, sess)
	}
	s.sessions.mu.Unlock()
	for _, sess := range all {
		sess.sup.Close()
	}
}

// superviseProvider attaches programs to supervised commands; other targets of the
// attach types it shares go to next (the host's process events for "process").
type superviseProvider struct {
	s    *Server
	next map[string]HookProvider
}

// Attach implements HookProvider.
func (p superviseProvider) Attach(prog *anybpf.Program, attachType, target string, flags uint64) (Attachment, error) {
	if !strings.HasPrefix(target, supervisedPrefix) {
		if n := p.next[attachType]; n != nil {
			return n.Attach(prog, attachType, target, flags)
		}
		return nil, fmt.Errorf("%s target %q: want a supervised command's target (supervised:N, from Supervise)", attachType, target)
	}
	ss := &p.s.sessions
	ss.mu.Lock()
	defer ss.mu.Unlock()
	sess := ss.m[target]
	if sess == nil {
		return nil, fmt.Errorf("%s: no supervised command %s (it has exited, or never was)", attachType, target)
	}
	sess.hooks[attachType] = append(sess.hooks[attachType], prog)
	sess.apply()
	return &supervisedAttachment{ss: ss, sess: sess, attachType: attachType, prog: prog}, nil
}

// apply gives the supervisor the session's programs (sessions.mu held).
func (sess *session) apply() {
	h := sess.hooks
	sess.sup.SetHooks(supervisor.Hooks{
		Connect4: h["connect4"], Connect6: h["connect6"],
		Bind4: h["bind4"], Bind6: h["bind6"],
		Sendmsg4: h["sendmsg4"], Sendmsg6: h["sendmsg6"],
		Recvmsg4: h["recvmsg4"], Recvmsg6: h["recvmsg6"],
		SockOps: h["sockops"], Bind: h["bind"], Exec: h["process"],
	})
}

// supervisedAttachment is one program attached to a supervised command.
type supervisedAttachment struct {
	ss         *sessions
	sess       *session
	attachType string
	prog       *anybpf.Program
	once       sync.Once
}

// Close implements Attachment: the program no longer judges the command's calls.
func (a *supervisedAttachment) Close() error {
	a.once.Do(func() {
		a.ss.mu.Lock()
		defer a.ss.mu.Unlock()
		progs := a.sess.hooks[a.attachType]
		for i, p := range progs {
			if p == a.prog {
				a.sess.hooks[a.attachType] = append(progs[:i:i], progs[i+1:]...)
				break
			}
		}
		a.sess.apply()
	})
	return nil
}

// supervisedTarget describes a supervised command's target for link listings.
func (s *Server) supervisedTarget(target string) string {
	s.sessions.mu.Lock()
	defer s.sessions.mu.Unlock()
	if sess := s.sessions.m[target]; sess != nil {
		return fmt.Sprintf("%s (pid %d: %s)", target, sess.pid, sess.command)
	}
	return target
}
