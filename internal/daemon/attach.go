package daemon

import (
	"context"
	"fmt"
	"sort"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/anybpf/anybpf"
	pb "github.com/anybpf/anybpf/api/anybpfv1"
)

// HookProvider attaches programs to the events of a kind of hook (XDP on an interface,
// socket address calls of a cgroup, process starts, ...). Providers register with
// Server.RegisterProvider for the attach types they serve; Attach requests go to the
// provider of their attach type, and the links they make hold their program.
type HookProvider interface {
	// Attach attaches prog to target (what target means is the provider's: an
	// interface name, a cgroup path, ...) and returns what detaches it.
	Attach(prog *anybpf.Program, attachType, target string, flags uint64) (Attachment, error)
}

// Attachment is a program attached by a HookProvider.
type Attachment interface {
	// Close detaches the program.
	Close() error
}

// RegisterProvider makes p the provider of the attach types (names such as "xdp" or
// "cgroup_inet4_bind"). It fails if a type has a provider already.
func (s *Server) RegisterProvider(p HookProvider, attachTypes ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range attachTypes {
		if s.provider[t] != nil {
			return fmt.Errorf("attach type %s has a hook provider already", t)
		}
	}
	for _, t := range attachTypes {
		s.provider[t] = p
	}
	return nil
}

// attachLocked attaches a program through its provider and enters the link, which holds
// the program.
func (s *Server) attachLocked(prog *object, attachType, target string, flags uint64) (*object, error) {
	p := s.provider[attachType]
	if p == nil {
		var known []string
		for t := range s.provider {
			known = append(known, t)
		}
		sort.Strings(known)
		msg := "none is registered yet (the hooks come later; test-run needs none)"
		if len(known) > 0 {
			msg = fmt.Sprintf("there are providers for %v", known)
		}
		return nil, status.Errorf(codes.FailedPrecondition, "attach program %d: no hook provider for attach type %s: %s", prog.id, attachType, msg)
	}
	att, err := p.Attach(prog.prog, attachType, target, flags)
	if err != nil {
		return nil, statusOf(err, "attach program %d to %s %s", prog.id, attachType, target)
	}
	o := &object{kind: pb.ObjectKind_OBJECT_KIND_LINK, uid: prog.uid, link: &link{progID: prog.id, attachType: attachType, target: target, flags: flags, att: att}}
	prog.users++
	s.addLocked(o)
	return o, nil
}

// Attach implements pb.AnybpfServer.
func (s *Server) Attach(ctx context.Context, req *pb.AttachRequest) (*pb.LinkInfo, error) {
	peer := peerFrom(ctx)
	if len(req.GetAttachType()) > 64 || len(req.GetTarget()) > 4096 {
		return nil, status.Error(codes.InvalidArgument, "attach: attach type or target too long")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	prog, err := s.lookupLocked(req.GetProgId(), pb.ObjectKind_OBJECT_KIND_PROGRAM)
	if err != nil {
		return nil, err
	}
	if err := s.checkQuotaLocked(peer.UID, 1, 0); err != nil {
		return nil, err
	}
	o, err := s.attachLocked(prog, req.GetAttachType(), req.GetTarget(), req.GetFlags())
	if err != nil {
		return nil, err
	}
	o.uid = peer.UID
	s.holdLocked(peer.conn, o)
	return s.linkInfoLocked(o), nil
}

// Detach implements pb.AnybpfServer: the link goes, pinned or not.
func (s *Server) Detach(ctx context.Context, req *pb.GetObjectRequest) (*pb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.lookupLocked(req.GetId(), pb.ObjectKind_OBJECT_KIND_LINK)
	if err != nil {
		return nil, err
	}
	if err := s.dropLocked(o); err != nil {
		return nil, status.Errorf(codes.Internal, "detach %d: %v", o.id, err)
	}
	return &pb.Empty{}, nil
}

// ListLinks implements pb.AnybpfServer.
func (s *Server) ListLinks(ctx context.Context, req *pb.ListRequest) (*pb.ListLinksResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := &pb.ListLinksResponse{}
	for _, o := range s.sortedLocked(pb.ObjectKind_OBJECT_KIND_LINK) {
		resp.Links = append(resp.Links, s.linkInfoLocked(o))
	}
	return resp, nil
}

// GetLink implements pb.AnybpfServer.
func (s *Server) GetLink(ctx context.Context, req *pb.GetObjectRequest) (*pb.LinkInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.lookupLocked(req.GetId(), pb.ObjectKind_OBJECT_KIND_LINK)
	if err != nil {
		return nil, err
	}
	return s.linkInfoLocked(o), nil
}
