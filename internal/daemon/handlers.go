package daemon

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/anybpf/anybpf"
	pb "github.com/anybpf/anybpf/api/anybpfv1"
	"github.com/anybpf/anybpf/maps"
	"github.com/anybpf/anybpf/progtype"
)

// statusOf turns a runtime error into a gRPC status with the right code.
func statusOf(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Internal
	switch {
	case errors.Is(err, maps.ErrKeyNotExist):
		code = codes.NotFound
	case errors.Is(err, maps.ErrKeyExist):
		code = codes.AlreadyExists
	case errors.Is(err, maps.ErrFull), errors.Is(err, anybpf.ErrMemoryLimit), errors.Is(err, maps.ErrNoSpace):
		code = codes.ResourceExhausted
	case errors.Is(err, maps.ErrNotSupported):
		code = codes.Unimplemented
	case errors.Is(err, anybpf.ErrClosed):
		code = codes.NotFound
	case errors.Is(err, maps.ErrInvalid), errors.Is(err, anybpf.ErrInvalidInput), errors.Is(err, anybpf.ErrUnverifiable):
		code = codes.InvalidArgument
	default:
		// Loader and verifier errors are about the input.
		code = codes.InvalidArgument
	}
	return status.Errorf(code, "%s: %v", fmt.Sprintf(format, args...), err)
}

// LoadObject implements pb.AnybpfServer.
func (s *Server) LoadObject(ctx context.Context, req *pb.LoadObjectRequest) (*pb.LoadObjectResponse, error) {
	p := peerFrom(ctx)
	var data []byte
	name := req.GetName()
	switch src := req.GetSource().(type) {
	case *pb.LoadObjectRequest_Object:
		data = src.Object
		if name == "" {
			name = "object"
		}
	case *pb.LoadObjectRequest_Path:
		if p.UID != 0 || !p.Known {
			return nil, status.Errorf(codes.PermissionDenied, "load %s: only root may have the daemon read a path; send the object's bytes", src.Path)
		}
		b, err := os.ReadFile(src.Path)
		if err != nil {
			return nil, status.Errorf(codes.NotFound, "load: %v", err)
		}
		if len(b) > s.cfg.MaxRequestBytes {
			return nil, status.Errorf(codes.InvalidArgument, "load %s: %d bytes, more than the limit of %d", src.Path, len(b), s.cfg.MaxRequestBytes)
		}
		data = b
		if name == "" {
			name = src.Path
		}
	default:
		return nil, status.Error(codes.InvalidArgument, "load: give the object's bytes or a path")
	}
	if len(data) == 0 {
		return nil, status.Errorf(codes.InvalidArgument, "load %s: empty object", name)
	}
	if t := req.GetProgramType(); t != "" {
		if _, _, err := progtype.ParseType(t); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "load %s: %v", name, err)
		}
	}
	progs, ms, err := s.loadSource(newSource(data, name, req.GetProgramType()), p.UID, p.conn, nil)
	if err != nil {
		return nil, err
	}
	resp := &pb.LoadObjectResponse{}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range progs {
		resp.Programs = append(resp.Programs, s.programInfoLocked(o))
	}
	for _, o := range ms {
		resp.Maps = append(resp.Maps, s.mapInfoLocked(o))
	}
	return resp, nil
}

// loadSource loads an ELF object into the runtime and enters its programs and maps.
// files names the map files to reopen by map name (restoring pins); the object's other
// array maps get new files.
func (s *Server) loadSource(src *source, uid uint32, conn uint64, files map[string]string) (progs, ms []*object, err error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, nil, status.Error(codes.Unavailable, "the daemon is shutting down")
	}
	start := time.Now()
	used := map[string]string{}
	opts := anybpf.CollectionOptions{MapFile: func(name string, spec maps.Spec) string {
		if f := files[name]; f != "" {
			used[name] = f
			return f
		}
		f := s.newMapFile(spec)
		if f != "" {
			used[name] = f
		}
		return f
	}}
	if src.progType != "" {
		if opts.ProgramType, opts.AttachType, err = progtype.ParseType(src.progType); err != nil {
			return nil, nil, status.Errorf(codes.InvalidArgument, "load %s: %v", src.name, err)
		}
	}
	coll, err := s.rt.LoadCollectionWithOptions(bytes.NewReader(src.data), src.name, opts)
	s.metrics.loadDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		for name, f := range used {
			if files[name] == "" {
				os.Remove(f)
			}
		}
		s.metrics.loads.WithLabelValues("error").Inc()
		return nil, nil, statusOf(err, "load %s", src.name)
	}
	mem, err := s.footprint(coll)
	if err != nil {
		coll.Close()
		return nil, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkQuotaLocked(uid, len(coll.Programs)+len(coll.Maps), mem); err != nil {
		coll.Close()
		return nil, nil, err
	}
	s.metrics.loads.WithLabelValues("ok").Inc()
	progs, ms = s.addCollectionLocked(coll, src, uid, conn)
	for _, o := range ms {
		o.file = used[o.name]
	}
	return progs, ms, nil
}

// Unload implements pb.AnybpfServer: the object loses every hold and pin; it goes away
// unless programs or links still use it.
func (s *Server) Unload(ctx context.Context, req *pb.UnloadRequest) (*pb.UnloadResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.lookupLocked(req.GetId(), pb.ObjectKind_OBJECT_KIND_UNSPECIFIED)
	if err != nil {
		return nil, err
	}
	if req.GetRelease() {
		conn := peerFrom(ctx).conn
		delete(o.holders, conn)
		delete(s.conns[conn], o.id)
		s.maybeDropLocked(o)
		return &pb.UnloadResponse{}, nil
	}
	if err := s.dropLocked(o); err != nil {
		return nil, status.Errorf(codes.Internal, "unload %d: %v", o.id, err)
	}
	return &pb.UnloadResponse{}, nil
}

// dropLocked takes every hold and pin off o, which goes unless others still use it, and
// saves the pins if it had any.
func (s *Server) dropLocked(o *object) error {
	for c := range o.holders {
		delete(s.conns[c], o.id)
	}
	clear(o.holders)
	hadPins := len(o.pins) > 0
	for path := range o.pins {
		delete(s.pins, path)
	}
	clear(o.pins)
	s.maybeDropLocked(o)
	if hadPins {
		if err := s.savePinsLocked(); err != nil {
			return fmt.Errorf("saving pins: %w", err)
		}
	}
	return nil
}

// GetProgram implements pb.AnybpfServer.
func (s *Server) GetProgram(ctx context.Context, req *pb.GetObjectRequest) (*pb.ProgramInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.lookupLocked(req.GetId(), pb.ObjectKind_OBJECT_KIND_PROGRAM)
	if err != nil {
		return nil, err
	}
	return s.programInfoLocked(o), nil
}

// ListPrograms implements pb.AnybpfServer.
func (s *Server) ListPrograms(ctx context.Context, req *pb.ListRequest) (*pb.ListProgramsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := &pb.ListProgramsResponse{}
	for _, o := range s.sortedLocked(pb.ObjectKind_OBJECT_KIND_PROGRAM) {
		resp.Programs = append(resp.Programs, s.programInfoLocked(o))
	}
	return resp, nil
}

// sortedLocked returns the objects of a kind by id.
func (s *Server) sortedLocked(kind pb.ObjectKind) []*object {
	var out []*object
	for id := uint32(1); id <= s.nextID && len(out) < len(s.objs); id++ {
		if o := s.objs[id]; o != nil && o.kind == kind {
			out = append(out, o)
		}
	}
	return out
}

func (s *Server) program(id uint32) (*object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lookupLocked(id, pb.ObjectKind_OBJECT_KIND_PROGRAM)
}

func (s *Server) mapObject(id uint32) (*object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lookupLocked(id, pb.ObjectKind_OBJECT_KIND_MAP)
}

// DumpProgram implements pb.AnybpfServer.
func (s *Server) DumpProgram(ctx context.Context, req *pb.DumpProgramRequest) (*pb.DumpProgramResponse, error) {
	o, err := s.program(req.GetId())
	if err != nil {
		return nil, err
	}
	if !req.GetJited() {
		return &pb.DumpProgramResponse{Lines: o.prog.Xlated()}, nil
	}
	lines, err := o.prog.JITed()
	if err != nil {
		return nil, statusOf(err, "dump jited %d", o.id)
	}
	return &pb.DumpProgramResponse{Lines: lines}, nil
}

// TestRun implements pb.AnybpfServer.
func (s *Server) TestRun(ctx context.Context, req *pb.TestRunRequest) (*pb.TestRunResponse, error) {
	o, err := s.program(req.GetId())
	if err != nil {
		return nil, err
	}
	if req.GetRepeat() > DefaultMaxRepeat {
		return nil, status.Errorf(codes.InvalidArgument, "run %d: repeat %d is more than the limit of %d", o.id, req.GetRepeat(), DefaultMaxRepeat)
	}
	opts := &anybpf.RunOptions{Data: req.GetDataIn(), Context: req.GetCtxIn(), Repeat: req.GetRepeat()}
	if len(opts.Context) == 0 {
		opts.Context = nil
	}
	ret, err := o.prog.Run(opts)
	if err != nil {
		return nil, statusOf(err, "run program %d", o.id)
	}
	return &pb.TestRunResponse{Retval: ret, DurationNs: uint64(opts.Duration), DataOut: opts.DataOut, CtxOut: opts.ContextOut}, nil
}

// SetStats implements pb.AnybpfServer.
func (s *Server) SetStats(ctx context.Context, req *pb.SetStatsRequest) (*pb.SetStatsResponse, error) {
	return &pb.SetStatsResponse{WasEnabled: s.rt.SetStats(req.GetEnabled())}, nil
}

// GetMap implements pb.AnybpfServer.
func (s *Server) GetMap(ctx context.Context, req *pb.GetObjectRequest) (*pb.MapInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.lookupLocked(req.GetId(), pb.ObjectKind_OBJECT_KIND_MAP)
	if err != nil {
		return nil, err
	}
	return s.mapInfoLocked(o), nil
}

// ListMaps implements pb.AnybpfServer.
func (s *Server) ListMaps(ctx context.Context, req *pb.ListRequest) (*pb.ListMapsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := &pb.ListMapsResponse{}
	for _, o := range s.sortedLocked(pb.ObjectKind_OBJECT_KIND_MAP) {
		resp.Maps = append(resp.Maps, s.mapInfoLocked(o))
	}
	return resp, nil
}

// CreateMap implements pb.AnybpfServer.
func (s *Server) CreateMap(ctx context.Context, req *pb.CreateMapRequest) (*pb.MapInfo, error) {
	p := peerFrom(ctx)
	typ, err := mapTypeByName(req.GetType())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "create map: %v", err)
	}
	if len(req.GetName()) > 64 {
		return nil, status.Errorf(codes.InvalidArgument, "create map: name of %d bytes; at most 64", len(req.GetName()))
	}
	spec := maps.Spec{Name: req.GetName(), Type: typ, KeySize: req.GetKeySize(), ValueSize: req.GetValueSize(), MaxEntries: req.GetMaxEntries(), Flags: req.GetFlags()}
	if spec.Type == maps.ArrayOfMaps || spec.Type == maps.HashOfMaps || spec.Type == maps.ProgArray {
		return nil, status.Errorf(codes.Unimplemented, "create map: %s maps are created by loading an object, not by CreateMap (yet)", spec.Type)
	}
	mem := spec.Footprint(s.rt.NumCPU())
	if mem > s.cfg.MaxMapBytes {
		return nil, status.Errorf(codes.ResourceExhausted, "create map %s: needs %d bytes, more than the limit of %d per map", spec.Name, mem, s.cfg.MaxMapBytes)
	}
	var path string
	if req.GetPin() != "" {
		if path, err = canonicalPin(req.GetPin()); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	if err := s.checkQuotaLocked(p.UID, 1, mem); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if path != "" && s.pins[path] != nil {
		s.mu.Unlock()
		return nil, status.Errorf(codes.AlreadyExists, "create map: %s is pinned already", path)
	}
	s.mu.Unlock()
	m, file, err := s.newMap(spec, "")
	if err != nil {
		return nil, statusOf(err, "create map %s", spec.Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &object{kind: pb.ObjectKind_OBJECT_KIND_MAP, uid: p.UID, m: m, name: spec.Name, spec: &spec, memlock: mem, file: file}
	s.addLocked(o)
	if path != "" {
		if err := s.pinLocked(o, path); err != nil {
			s.maybeDropLocked(o)
			return nil, err
		}
	} else {
		s.holdLocked(p.conn, o)
	}
	return s.mapInfoLocked(o), nil
}

// newMap creates a map for CreateMap, or reopens the file of a pinned one (file): maps
// of the types maps.FileBacked names (arrays, hash maps, LRU hash maps, LPM tries) live
// in files of the state directory (newMapFile), so that what is written to them
// survives a kill; it returns the map and its file.
func (s *Server) newMap(spec maps.Spec, file string) (*anybpf.Map, string, error) {
	if file == "" {
		file = s.newMapFile(spec)
	}
	if file == "" {
		m, err := s.rt.NewMap(spec)
		return m, "", err
	}
	m, err := s.rt.OpenMapFile(spec, file)
	if err != nil {
		return nil, "", err
	}
	return m, file, nil
}

// mapFilesDir holds the files of file-backed maps in the state directory.
const mapFilesDir = "mapfiles"

// newMapFile returns a new file name for a map of spec, or "" when the map stays in
// memory (no state directory, or a type maps.OpenFile does not take).
func (s *Server) newMapFile(spec maps.Spec) string {
	if s.cfg.StateDir == "" || !maps.FileBacked(spec.Type) {
		return ""
	}
	dir := filepath.Join(s.cfg.StateDir, mapFilesDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		s.log.Error("map files", "err", err)
		return ""
	}
	var b [12]byte
	rand.Read(b[:])
	return filepath.Join(dir, hex.EncodeToString(b[:])+".map")
}

// checkKey validates a key's size.
func checkKey(o *object, key []byte, what string) error {
	spec := o.m.Spec()
	if len(key) != int(spec.KeySize) {
		return status.Errorf(codes.InvalidArgument, "%s map %d: key of %d bytes, the map's keys are %d", what, o.id, len(key), spec.KeySize)
	}
	return nil
}

// MapLookup implements pb.AnybpfServer.
func (s *Server) MapLookup(ctx context.Context, req *pb.MapKeyRequest) (*pb.MapValueResponse, error) {
	o, err := s.mapObject(req.GetId())
	if err != nil {
		return nil, err
	}
	if err := checkKey(o, req.GetKey(), "lookup in"); err != nil {
		return nil, err
	}
	val := make([]byte, s.userValueSize(o.m.Spec()))
	if err := o.m.Lookup(req.GetKey(), val); err != nil {
		return nil, statusOf(err, "lookup in map %d", o.id)
	}
	return &pb.MapValueResponse{Value: val}, nil
}

// MapLookupAndDelete implements pb.AnybpfServer.
func (s *Server) MapLookupAndDelete(ctx context.Context, req *pb.MapKeyRequest) (*pb.MapValueResponse, error) {
	o, err := s.writable(req.GetId(), "lookup and delete in")
	if err != nil {
		return nil, err
	}
	if err := checkKey(o, req.GetKey(), "lookup and delete in"); err != nil {
		return nil, err
	}
	val := make([]byte, s.userValueSize(o.m.Spec()))
	if err := o.m.LookupAndDelete(nil, val); err != nil {
		return nil, statusOf(err, "lookup and delete in map %d", o.id)
	}
	return &pb.MapValueResponse{Value: val}, nil
}

// writable returns the map unless it is frozen.
func (s *Server) writable(id uint32, what string) (*object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.lookupLocked(id, pb.ObjectKind_OBJECT_KIND_MAP)
	if err != nil {
		return nil, err
	}
	if o.frozen {
		return nil, status.Errorf(codes.FailedPrecondition, "%s map %d: the map is frozen", what, id)
	}
	return o, nil
}

// MapUpdate implements pb.AnybpfServer.
func (s *Server) MapUpdate(ctx context.Context, req *pb.MapUpdateRequest) (*pb.Empty, error) {
	o, err := s.writable(req.GetId(), "update")
	if err != nil {
		return nil, err
	}
	if err := checkKey(o, req.GetKey(), "update"); err != nil {
		return nil, err
	}
	if want := s.userValueSize(o.m.Spec()); len(req.GetValue()) != want {
		return nil, status.Errorf(codes.InvalidArgument, "update map %d: value of %d bytes, the map's values are %d", o.id, len(req.GetValue()), want)
	}
	if f := req.GetFlags(); f > pb.UpdateFlag_UPDATE_EXIST || f < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "update map %d: unknown flags %d", o.id, f)
	}
	if err := o.m.Update(req.GetKey(), req.GetValue(), uint64(req.GetFlags())); err != nil {
		return nil, statusOf(err, "update map %d", o.id)
	}
	return &pb.Empty{}, nil
}

// MapDelete implements pb.AnybpfServer.
func (s *Server) MapDelete(ctx context.Context, req *pb.MapKeyRequest) (*pb.Empty, error) {
	o, err := s.writable(req.GetId(), "delete from")
	if err != nil {
		return nil, err
	}
	if err := checkKey(o, req.GetKey(), "delete from"); err != nil {
		return nil, err
	}
	if err := o.m.Delete(req.GetKey()); err != nil {
		return nil, statusOf(err, "delete from map %d", o.id)
	}
	return &pb.Empty{}, nil
}

// MapGetNextKey implements pb.AnybpfServer.
func (s *Server) MapGetNextKey(ctx context.Context, req *pb.MapNextKeyRequest) (*pb.MapNextKeyResponse, error) {
	o, err := s.mapObject(req.GetId())
	if err != nil {
		return nil, err
	}
	var key any
	if req.Key != nil {
		if err := checkKey(o, req.Key, "get next key of"); err != nil {
			return nil, err
		}
		key = req.Key
	}
	next := make([]byte, o.m.Spec().KeySize)
	if err := o.m.NextKey(key, next); err != nil {
		return nil, statusOf(err, "get next key of map %d", o.id)
	}
	return &pb.MapNextKeyResponse{NextKey: next}, nil
}

// MapDump implements pb.AnybpfServer.
func (s *Server) MapDump(ctx context.Context, req *pb.MapDumpRequest) (*pb.MapDumpResponse, error) {
	o, err := s.mapObject(req.GetId())
	if err != nil {
		return nil, err
	}
	limit := int(req.GetMaxEntries())
	if limit <= 0 || limit > DefaultMaxPageEntries {
		limit = DefaultMaxPageEntries
	}
	spec := o.m.Spec()
	resp := &pb.MapDumpResponse{}
	switch spec.Type {
	case maps.Queue, maps.Stack:
		entries, err := o.m.Dump()
		if err != nil {
			return nil, statusOf(err, "dump map %d", o.id)
		}
		for _, e := range entries {
			resp.Entries = append(resp.Entries, &pb.MapEntry{Key: e.Key, Value: e.Value})
		}
		return resp, nil
	case maps.RingBuf, maps.PerfEventArray:
		return nil, status.Errorf(codes.InvalidArgument, "dump map %d: %s maps are read with ReadRingBuffer or ReadPerfEvents (map event_pipe)", o.id, spec.Type)
	}
	var key any
	if req.After != nil {
		if err := checkKey(o, req.After, "dump"); err != nil {
			return nil, err
		}
		key = req.After
	}
	vs := s.userValueSize(spec)
	// Keys whose values cannot be read (empty slots) are skipped; the steps are bounded
	// all the same.
	for steps := 0; len(resp.Entries) < limit; steps++ {
		if steps > limit+int(spec.MaxEntries) {
			return nil, status.Errorf(codes.Internal, "dump map %d: the map's keys do not end", o.id)
		}
		next := make([]byte, spec.KeySize)
		if err := o.m.NextKey(key, next); err != nil {
			if errors.Is(err, maps.ErrKeyNotExist) {
				return resp, nil
			}
			return nil, statusOf(err, "dump map %d", o.id)
		}
		key = next
		val := make([]byte, vs)
		if err := o.m.Lookup(next, val); err != nil {
			continue // deleted meanwhile, or an empty slot
		}
		resp.Entries = append(resp.Entries, &pb.MapEntry{Key: next, Value: val})
	}
	resp.More = true
	return resp, nil
}

// MapFreeze implements pb.AnybpfServer.
func (s *Server) MapFreeze(ctx context.Context, req *pb.GetObjectRequest) (*pb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.lookupLocked(req.GetId(), pb.ObjectKind_OBJECT_KIND_MAP)
	if err != nil {
		return nil, err
	}
	if o.frozen {
		return nil, status.Errorf(codes.FailedPrecondition, "freeze map %d: frozen already", o.id)
	}
	o.frozen = true
	if len(o.pins) > 0 {
		if err := s.savePinsLocked(); err != nil {
			return nil, status.Errorf(codes.Internal, "freeze map %d: saving pins: %v", o.id, err)
		}
	}
	return &pb.Empty{}, nil
}

// batchSizes validates a batch's keys and values and returns the element count.
func (s *Server) batchSizes(o *object, keys, values []byte, needValues bool) (int, error) {
	spec := o.m.Spec()
	if spec.KeySize == 0 {
		return 0, status.Errorf(codes.InvalidArgument, "batch on map %d: %s maps have no keys", o.id, spec.Type)
	}
	if len(keys)%int(spec.KeySize) != 0 {
		return 0, status.Errorf(codes.InvalidArgument, "batch on map %d: %d key bytes are not a whole number of %d-byte keys", o.id, len(keys), spec.KeySize)
	}
	n := len(keys) / int(spec.KeySize)
	if vs := s.userValueSize(spec); needValues && len(values) != n*vs {
		return 0, status.Errorf(codes.InvalidArgument, "batch on map %d: %d keys need %d value bytes (%d each), got %d", o.id, n, n*vs, vs, len(values))
	}
	return n, nil
}

// MapLookupBatch implements pb.AnybpfServer.
func (s *Server) MapLookupBatch(ctx context.Context, req *pb.MapBatchRequest) (*pb.MapBatchResponse, error) {
	var o *object
	var err error
	if req.GetDelete() {
		o, err = s.writable(req.GetId(), "batch lookup and delete in")
	} else {
		o, err = s.mapObject(req.GetId())
	}
	if err != nil {
		return nil, err
	}
	count := int(req.GetCount())
	if count <= 0 || count > DefaultMaxPageEntries*16 {
		return nil, status.Errorf(codes.InvalidArgument, "batch lookup in map %d: count %d; want 1 to %d", o.id, count, DefaultMaxPageEntries*16)
	}
	spec := o.m.Spec()
	if spec.KeySize == 0 {
		return nil, status.Errorf(codes.InvalidArgument, "batch lookup in map %d: %s maps have no keys", o.id, spec.Type)
	}
	vs := s.userValueSize(spec)
	if uint64(count)*uint64(int(spec.KeySize)+vs) > uint64(s.cfg.MaxRequestBytes) {
		return nil, status.Errorf(codes.InvalidArgument, "batch lookup in map %d: %d elements would make a reply of more than %d bytes", o.id, count, s.cfg.MaxRequestBytes)
	}
	cur, token, err := s.cursors.get(o.id, req.GetCursor())
	if err != nil {
		return nil, err
	}
	keys := make([]byte, count*int(spec.KeySize))
	vals := make([]byte, count*vs)
	var n int
	if req.GetDelete() {
		n, err = o.m.BatchLookupAndDelete(cur, keys, vals, maps.BatchOptions{})
	} else {
		n, err = o.m.BatchLookup(cur, keys, vals, maps.BatchOptions{})
	}
	resp := &pb.MapBatchResponse{Count: uint32(n), Keys: keys[:n*int(spec.KeySize)], Values: vals[:n*vs]}
	switch {
	case errors.Is(err, maps.ErrKeyNotExist):
		resp.Done = true
		s.cursors.drop(token)
	case err != nil:
		s.cursors.drop(token)
		return nil, statusOf(err, "batch lookup in map %d", o.id)
	default:
		resp.Cursor = token
	}
	return resp, nil
}

// MapUpdateBatch implements pb.AnybpfServer.
func (s *Server) MapUpdateBatch(ctx context.Context, req *pb.MapBatchRequest) (*pb.MapBatchResponse, error) {
	o, err := s.writable(req.GetId(), "batch update")
	if err != nil {
		return nil, err
	}
	if _, err := s.batchSizes(o, req.GetKeys(), req.GetValues(), true); err != nil {
		return nil, err
	}
	if req.GetFlags() != pb.UpdateFlag_UPDATE_ANY {
		// Like BPF_MAP_UPDATE_BATCH, whose element flags may only be BPF_F_LOCK.
		return nil, status.Errorf(codes.InvalidArgument, "batch update map %d: flags must be any", o.id)
	}
	n, err := o.m.BatchUpdate(req.GetKeys(), req.GetValues(), maps.BatchOptions{})
	if err != nil {
		return nil, statusOf(err, "batch update map %d (%d elements stored)", o.id, n)
	}
	return &pb.MapBatchResponse{Count: uint32(n)}, nil
}

// MapDeleteBatch implements pb.AnybpfServer.
func (s *Server) MapDeleteBatch(ctx context.Context, req *pb.MapBatchRequest) (*pb.MapBatchResponse, error) {
	o, err := s.writable(req.GetId(), "batch delete from")
	if err != nil {
		return nil, err
	}
	if _, err := s.batchSizes(o, req.GetKeys(), nil, false); err != nil {
		return nil, err
	}
	n, err := o.m.BatchDelete(req.GetKeys(), maps.BatchOptions{})
	if err != nil {
		return nil, statusOf(err, "batch delete from map %d (%d elements deleted)", o.id, n)
	}
	return &pb.MapBatchResponse{Count: uint32(n)}, nil
}

// MapLookupStream implements pb.AnybpfServer: each request is a MapLookup, answered in
// order on the stream, so that a client can keep many lookups in flight.
func (s *Server) MapLookupStream(stream pb.Anybpf_MapLookupStreamServer) error {
	ctx := stream.Context()
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		res := &pb.MapLookupResult{}
		v, err := s.MapLookup(ctx, req)
		if err != nil {
			st := status.Convert(err)
			res.Code, res.Message = uint32(st.Code()), st.Message()
		} else {
			res.Value = v.Value
		}
		if err := stream.Send(res); err != nil {
			return err
		}
	}
}
