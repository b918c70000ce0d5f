package daemon

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/anybpf/anybpf/api/anybpfv1"
	"github.com/anybpf/anybpf/maps"
)

// claimReader marks a map as read by a stream; one at a time.
func (s *Server) claimReader(id uint32, want maps.Type) (*object, func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.lookupLocked(id, pb.ObjectKind_OBJECT_KIND_MAP)
	if err != nil {
		return nil, nil, err
	}
	if t := o.m.Spec().Type; t != want {
		return nil, nil, status.Errorf(codes.InvalidArgument, "read map %d: it is a %s map, not a %s", id, t, want)
	}
	if o.reading {
		return nil, nil, status.Errorf(codes.AlreadyExists, "read map %d: another client is reading it", id)
	}
	o.reading = true
	o.users++ // the stream keeps the map
	return o, func() {
		s.mu.Lock()
		o.reading = false
		o.users--
		s.maybeDropLocked(o)
		s.mu.Unlock()
	}, nil
}

// ReadRingBuffer implements pb.AnybpfServer.
func (s *Server) ReadRingBuffer(req *pb.ReadRecordsRequest, stream pb.Anybpf_ReadRingBufferServer) error {
	o, release, err := s.claimReader(req.GetId(), maps.RingBuf)
	if err != nil {
		return err
	}
	defer release()
	rb, ok := o.m.Underlying().(*maps.RingBuffer)
	if !ok {
		return status.Errorf(codes.Internal, "read map %d: not a ring buffer", o.id)
	}
	rd := maps.NewRingBufferReader(rb)
	stop := context.AfterFunc(stream.Context(), func() { rd.Close() })
	defer stop()
	var rec maps.Record
	for {
		if err := rd.ReadInto(&rec); err != nil {
			if errors.Is(err, maps.ErrClosed) {
				return stream.Context().Err()
			}
			return statusOf(err, "read map %d", o.id)
		}
		if err := stream.Send(&pb.Record{Sample: rec.RawSample}); err != nil {
			return err
		}
	}
}

// ReadPerfEvents implements pb.AnybpfServer.
func (s *Server) ReadPerfEvents(req *pb.ReadRecordsRequest, stream pb.Anybpf_ReadPerfEventsServer) error {
	o, release, err := s.claimReader(req.GetId(), maps.PerfEventArray)
	if err != nil {
		return err
	}
	defer release()
	pe, ok := o.m.Underlying().(*maps.PerfEvents)
	if !ok {
		return status.Errorf(codes.Internal, "read map %d: not a perf event array", o.id)
	}
	size := int(req.GetPerCpuBuffer())
	if size == 0 {
		size = 64 << 10
	}
	if size > 16<<20 {
		return status.Errorf(codes.InvalidArgument, "read map %d: per-CPU buffer of %d bytes; at most 16 MiB", o.id, size)
	}
	rd, err := maps.NewPerfReader(pe, s.rt.NumCPU(), size)
	if err != nil {
		return statusOf(err, "read map %d", o.id)
	}
	defer rd.Close()
	stop := context.AfterFunc(stream.Context(), func() { rd.Close() })
	defer stop()
	for {
		rec, err := rd.Read()
		if err != nil {
			if errors.Is(err, maps.ErrClosed) {
				return stream.Context().Err()
			}
			return statusOf(err, "read map %d", o.id)
		}
		if err := stream.Send(&pb.Record{Sample: rec.RawSample, Cpu: int32(rec.CPU), LostSamples: rec.LostSamples}); err != nil {
			return err
		}
	}
}

// TraceLog implements pb.AnybpfServer.
func (s *Server) TraceLog(req *pb.TraceLogRequest, stream pb.Anybpf_TraceLogServer) error {
	ch, cancel := s.trace.subscribe()
	defer cancel()
	for {
		select {
		case <-stream.Context().Done():
			return stream.Context().Err()
		case line, ok := <-ch:
			if !ok {
				return status.Error(codes.Unavailable, "the daemon is shutting down")
			}
			if err := stream.Send(&pb.TraceLine{Line: line}); err != nil {
				return err
			}
		}
	}
}

// traceHub is the runtime's trace log: it hands each line to every subscriber, dropping
// lines for subscribers that do not keep up (as the kernel's trace pipe drops).
type traceHub struct {
	mu     sync.Mutex
	subs   map[chan string]bool
	closed bool
}

func newTraceHub() *traceHub { return &traceHub{subs: map[chan string]bool{}} }

// Write implements io.Writer: p is one or more lines.
func (h *traceHub) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.subs) == 0 {
		return len(p), nil
	}
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		l := string(line)
		for ch := range h.subs {
			select {
			case ch <- l:
			default:
			}
		}
	}
	return len(p), nil
}

func (h *traceHub) subscribe() (<-chan string, func()) {
	ch := make(chan string, 1024)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(ch)
		return ch, func() {}
	}
	h.subs[ch] = true
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.subs[ch] {
			delete(h.subs, ch)
			close(ch)
		}
	}
}

// Close ends every subscription.
func (h *traceHub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for ch := range h.subs {
		delete(h.subs, ch)
		close(ch)
	}
}

// cursorTable keeps the cursors of batch lookups between requests: clients get an opaque
// token. It holds at most max cursors, forgetting the oldest.
type cursorTable struct {
	mu    sync.Mutex
	max   int
	byTok map[string]*cursorEntry
	order []string
}

type cursorEntry struct {
	mapID uint32
	cur   *maps.BatchCursor
}

func newCursorTable(max int) *cursorTable {
	return &cursorTable{max: max, byTok: map[string]*cursorEntry{}}
}

// get returns the cursor of a token (a new one for an empty token) and its token.
func (t *cursorTable) get(mapID uint32, token []byte) (*maps.BatchCursor, []byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(token) == 0 {
		b := make([]byte, 16)
		rand.Read(b)
		tok := hex.EncodeToString(b)
		e := &cursorEntry{mapID: mapID, cur: &maps.BatchCursor{}}
		t.byTok[tok] = e
		t.order = append(t.order, tok)
		for len(t.order) > t.max {
			delete(t.byTok, t.order[0])
			t.order = t.order[1:]
		}
		return e.cur, []byte(tok), nil
	}
	e := t.byTok[string(token)]
	if e == nil || e.mapID != mapID {
		return nil, nil, status.Errorf(codes.InvalidArgument, "batch lookup in map %d: unknown or expired cursor", mapID)
	}
	return e.cur, token, nil
}

func (t *cursorTable) drop(token []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.byTok, string(token))
}

// dropMap forgets the cursors of a map that is gone.
func (t *cursorTable) dropMap(mapID uint32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for tok, e := range t.byTok {
		if e.mapID == mapID {
			delete(t.byTok, tok)
		}
	}
}
