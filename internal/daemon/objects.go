package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/anybpf/anybpf"
	pb "github.com/anybpf/anybpf/api/anybpfv1"
	"github.com/anybpf/anybpf/maps"
)

// object is a program, map or link of the daemon.
type object struct {
	id      uint32
	kind    pb.ObjectKind
	uid     uint32
	created time.Time

	prog *anybpf.Program
	m    *anybpf.Map
	link *link

	// src is the ELF object a program or map came from, and name its name there; nil
	// for maps created with CreateMap.
	src  *source
	name string
	// spec is the spec of a map created with CreateMap.
	spec *maps.Spec

	holders map[uint64]bool // connections that loaded or created it
	pins    map[string]bool
	users   int      // programs that use a map; links of a program
	mapIDs  []uint32 // a program's maps (daemon ids)
	frozen  bool
	memlock uint64
	reading bool // a map has a record reader
	// file is the file a map's values live in (array maps, when the daemon has a state
	// directory), so that a pinned map's contents survive a kill; removed with the map.
	file string
}

// source is an ELF object loaded into the daemon.
type source struct {
	sha  string // hex SHA-256 of data
	data []byte
	name string
	// progType, when set, is the program type every program is loaded as (LoadObject's
	// program_type), instead of what the sections say.
	progType string
}

func newSource(data []byte, name, progType string) *source {
	sum := sha256.Sum256(data)
	return &source{sha: hex.EncodeToString(sum[:]), data: data, name: name, progType: progType}
}

// loadKey names one load of an object: the same bytes loaded as another program type are
// other programs.
func loadKey(sha, progType string) string {
	if progType == "" {
		return sha
	}
	return sha + " as " + progType
}

// link is a program attached through a hook provider.
type link struct {
	progID     uint32
	attachType string
	target     string
	flags      uint64
	att        Attachment
}

// alive reports whether anything keeps the object.
func (o *object) alive() bool {
	return len(o.holders) > 0 || len(o.pins) > 0 || o.users > 0
}

func (o *object) sortedPins() []string {
	out := make([]string, 0, len(o.pins))
	for p := range o.pins {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// addLocked gives o the next id, enters it in the table and charges it to its uid.
func (s *Server) addLocked(o *object) {
	s.nextID++
	for s.objs[s.nextID] != nil || s.nextID == 0 {
		s.nextID++
	}
	o.id = s.nextID
	if o.created.IsZero() {
		o.created = time.Now()
	}
	if o.holders == nil {
		o.holders = map[uint64]bool{}
	}
	if o.pins == nil {
		o.pins = map[string]bool{}
	}
	s.objs[o.id] = o
	if o.m != nil {
		s.byRTMap[o.m.ID()] = o
	}
	u := s.usageLocked(o.uid)
	u.objects++
	u.bytes += o.memlock
}

func (s *Server) usageLocked(uid uint32) *usage {
	u := s.users[uid]
	if u == nil {
		u = &usage{}
		s.users[uid] = u
	}
	return u
}

// checkQuotaLocked refuses objects and bytes more than uid may add.
func (s *Server) checkQuotaLocked(uid uint32, objects int, bytes uint64) error {
	if uid == 0 {
		return nil
	}
	u := s.usageLocked(uid)
	if u.objects+objects > s.cfg.MaxObjectsPerUser {
		return status.Errorf(codes.ResourceExhausted, "uid %d has %d objects; %d more would pass the limit of %d", uid, u.objects, objects, s.cfg.MaxObjectsPerUser)
	}
	if u.bytes+bytes > s.cfg.MaxBytesPerUser || bytes > s.cfg.MaxBytesPerUser {
		return status.Errorf(codes.ResourceExhausted, "uid %d has maps of %d bytes; %d more would pass the limit of %d", uid, u.bytes, bytes, s.cfg.MaxBytesPerUser)
	}
	return nil
}

// holdLocked records that connection conn holds o.
func (s *Server) holdLocked(conn uint64, o *object) {
	if conn == 0 {
		return
	}
	o.holders[conn] = true
	held := s.conns[conn]
	if held == nil {
		held = map[uint32]bool{}
		s.conns[conn] = held
	}
	held[o.id] = true
}

// connClosed lets go of everything connection conn held.
func (s *Server) connClosed(conn uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.conns[conn] {
		if o := s.objs[id]; o != nil {
			delete(o.holders, conn)
			s.maybeDropLocked(o)
		}
	}
	delete(s.conns, conn)
}

// maybeDropLocked unloads o once nothing keeps it: a program is closed and lets go of its
// maps, a map is closed (the runtime keeps it while programs still use it), a link is
// detached and lets go of its program.
func (s *Server) maybeDropLocked(o *object) {
	if o.alive() || s.objs[o.id] != o {
		return
	}
	delete(s.objs, o.id)
	for c := range o.holders {
		delete(s.conns[c], o.id)
	}
	u := s.usageLocked(o.uid)
	u.objects--
	u.bytes -= o.memlock
	if u.objects == 0 {
		delete(s.users, o.uid)
	}
	s.cursors.dropMap(o.id)
	switch o.kind {
	case pb.ObjectKind_OBJECT_KIND_PROGRAM:
		o.prog.Close()
		for _, mid := range o.mapIDs {
			if m := s.objs[mid]; m != nil {
				m.users--
				s.maybeDropLocked(m)
			}
		}
	case pb.ObjectKind_OBJECT_KIND_MAP:
		delete(s.byRTMap, o.m.ID())
		o.m.Close()
		if o.file != "" {
			os.Remove(o.file) // the mapping, if still in use, keeps the data until unmapped
		}
	case pb.ObjectKind_OBJECT_KIND_LINK:
		if err := o.link.att.Close(); err != nil {
			s.log.Warn("detach", "link", o.id, "err", err)
		}
		if p := s.objs[o.link.progID]; p != nil {
			p.users--
			s.maybeDropLocked(p)
		}
	}
}

// lookupLocked returns the object with the id and kind, or NotFound.
func (s *Server) lookupLocked(id uint32, kind pb.ObjectKind) (*object, error) {
	if id == 0 {
		return nil, status.Errorf(codes.InvalidArgument, "%s id 0: ids start at 1", kindName(kind))
	}
	o := s.objs[id]
	if o == nil {
		return nil, status.Errorf(codes.NotFound, "no %s with id %d", kindName(kind), id)
	}
	if kind != pb.ObjectKind_OBJECT_KIND_UNSPECIFIED && o.kind != kind {
		return nil, status.Errorf(codes.NotFound, "id %d is a %s, not a %s", id, kindName(o.kind), kindName(kind))
	}
	return o, nil
}

func kindName(k pb.ObjectKind) string {
	switch k {
	case pb.ObjectKind_OBJECT_KIND_PROGRAM:
		return "program"
	case pb.ObjectKind_OBJECT_KIND_MAP:
		return "map"
	case pb.ObjectKind_OBJECT_KIND_LINK:
		return "link"
	}
	return "object"
}

// addCollectionLocked enters the programs and maps of a loaded collection, charged to
// uid and held by conn, and returns them sorted by name. Maps whose type anybpf cannot
// provide are left out (the programs that use them cannot run).
func (s *Server) addCollectionLocked(coll *anybpf.Collection, src *source, uid uint32, conn uint64) (progs, ms []*object) {
	names := make([]string, 0, len(coll.Maps))
	for n := range coll.Maps {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		m := coll.Maps[n]
		if m.ID() == 0 {
			continue
		}
		o := &object{kind: pb.ObjectKind_OBJECT_KIND_MAP, uid: uid, m: m, src: src, name: n, memlock: m.Spec().Footprint(s.rt.NumCPU())}
		s.addLocked(o)
		s.holdLocked(conn, o)
		ms = append(ms, o)
	}
	names = names[:0]
	for n := range coll.Programs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := coll.Programs[n]
		o := &object{kind: pb.ObjectKind_OBJECT_KIND_PROGRAM, uid: uid, prog: p, src: src, name: n}
		for _, rid := range p.MapIDs() {
			if m := s.byRTMap[rid]; m != nil {
				m.users++
				o.mapIDs = append(o.mapIDs, m.id)
			}
		}
		s.addLocked(o)
		s.holdLocked(conn, o)
		progs = append(progs, o)
	}
	return progs, ms
}

// footprint is the memory a collection's maps are charged.
func (s *Server) footprint(coll *anybpf.Collection) (total uint64, err error) {
	for n, m := range coll.Maps {
		if m.ID() == 0 {
			continue
		}
		f := m.Spec().Footprint(s.rt.NumCPU())
		if f > s.cfg.MaxMapBytes {
			return 0, status.Errorf(codes.ResourceExhausted, "map %s needs %d bytes, more than the limit of %d per map", n, f, s.cfg.MaxMapBytes)
		}
		total += f
	}
	return total, nil
}

func (s *Server) programInfoLocked(o *object) *pb.ProgramInfo {
	p := o.prog
	st := p.Stats()
	info := &pb.ProgramInfo{
		Id:            o.id,
		Type:          progTypeName(p),
		Name:          o.name,
		Tag:           p.Tag(),
		LoadedAt:      o.created.UnixNano(),
		Uid:           o.uid,
		BytesXlated:   uint64(len(p.Instructions()) * 8),
		MapIds:        append([]uint32(nil), o.mapIDs...),
		RunCnt:        st.RunCount,
		RunTimeNs:     uint64(st.RunTime),
		VerifiedInsns: uint64(p.VerifiedInstructions()),
		Engine:        s.engine,
		Section:       p.Section,
		Pinned:        o.sortedPins(),
	}
	if err := p.Err(); err != nil {
		info.Error = err.Error()
	}
	return info
}

func progTypeName(p *anybpf.Program) string {
	if p.Type == 0 {
		return "unspec"
	}
	return p.Type.String()
}

func (s *Server) mapInfoLocked(o *object) *pb.MapInfo {
	spec := o.m.Spec()
	return &pb.MapInfo{
		Id:            o.id,
		Type:          spec.Type.String(),
		Name:          o.name,
		KeySize:       spec.KeySize,
		ValueSize:     spec.ValueSize,
		MaxEntries:    spec.MaxEntries,
		Flags:         spec.Flags,
		Memlock:       o.memlock,
		Frozen:        o.frozen,
		ValueSizeUser: uint32(s.userValueSize(spec)),
		Pinned:        o.sortedPins(),
		Uid:           o.uid,
		CreatedAt:     o.created.UnixNano(),
	}
}

func (s *Server) linkInfoLocked(o *object) *pb.LinkInfo {
	target := o.link.target
	if strings.HasPrefix(target, supervisedPrefix) {
		target = s.supervisedTarget(target)
	}
	return &pb.LinkInfo{Id: o.id, ProgId: o.link.progID, AttachType: o.link.attachType, Target: target, Pinned: o.sortedPins()}
}

// userValueSize is the size of a value as clients read and write it.
func (s *Server) userValueSize(spec maps.Spec) int {
	switch spec.Type {
	case maps.PerCPUArray, maps.PerCPUHash, maps.LRUPerCPUHash:
		return int((spec.ValueSize+7)&^7) * s.rt.NumCPU()
	}
	return int(spec.ValueSize)
}

// mapTypeByName returns the map type with the name (as maps.Type.String gives it).
func mapTypeByName(name string) (maps.Type, error) {
	for t := maps.Type(0); t <= maps.UserRingBuf; t++ {
		if t.String() == name {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown map type %q", name)
}
