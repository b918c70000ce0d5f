package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/anybpf/anybpf/api/anybpfv1"
	"github.com/anybpf/anybpf/maps"
)

// pinRoot is where the pin namespace starts, as bpffs is mounted on Linux.
const pinRoot = "/sys/fs/bpf"

// Limits of pin paths.
const (
	maxPinPath  = 1024
	maxPinDepth = 32
)

// canonicalPin turns a pin path into its canonical form, /sys/fs/bpf/a/b: it accepts
// that form and ebpf-for-windows's BPF:\a\b (and BPF:/a/b). Components may not be empty,
// "." or "..", nor hold control characters.
func canonicalPin(p string) (string, error) {
	orig := p
	bad := func(why string) error {
		return status.Errorf(codes.InvalidArgument, "pin path %q: %s", orig, why)
	}
	if len(p) > maxPinPath {
		return "", bad(fmt.Sprintf("longer than %d bytes", maxPinPath))
	}
	var rest string
	switch {
	case len(p) >= 4 && strings.EqualFold(p[:4], "BPF:"):
		rest = strings.ReplaceAll(p[4:], `\`, "/")
	case strings.HasPrefix(p, pinRoot+"/"):
		rest = p[len(pinRoot):]
	default:
		return "", bad(`want /sys/fs/bpf/NAME or BPF:\NAME`)
	}
	rest = strings.Trim(rest, "/")
	if rest == "" {
		return "", bad("names no object, only the root")
	}
	parts := strings.Split(rest, "/")
	if len(parts) > maxPinDepth {
		return "", bad(fmt.Sprintf("deeper than %d", maxPinDepth))
	}
	for _, c := range parts {
		if c == "" || c == "." || c == ".." {
			return "", bad(fmt.Sprintf("component %q", c))
		}
		for _, r := range c {
			if r < 0x20 || r == 0x7f || r == '\\' {
				return "", bad(fmt.Sprintf("component %q holds %q", c, r))
			}
		}
	}
	return pinRoot + "/" + strings.Join(parts, "/"), nil
}

// pinLocked pins o at a canonical path and saves the pins.
func (s *Server) pinLocked(o *object, p string) error {
	if s.pins[p] != nil {
		return status.Errorf(codes.AlreadyExists, "pin %s: the path is taken (by id %d)", p, s.pins[p].id)
	}
	// A path cannot be both an object and a directory of others.
	for q := range s.pins {
		if strings.HasPrefix(q, p+"/") || strings.HasPrefix(p, q+"/") {
			return status.Errorf(codes.AlreadyExists, "pin %s: conflicts with pin %s", p, q)
		}
	}
	if o.kind == pb.ObjectKind_OBJECT_KIND_PROGRAM && o.src == nil {
		return status.Errorf(codes.FailedPrecondition, "pin %s: program %d has no object to restore it from", p, o.id)
	}
	if o.kind == pb.ObjectKind_OBJECT_KIND_LINK && strings.HasPrefix(o.link.target, supervisedPrefix) {
		return status.Errorf(codes.FailedPrecondition, "pin %s: link %d is a supervised command's hook, which ends with the command and cannot be restored", p, o.id)
	}
	s.pins[p] = o
	o.pins[p] = true
	if err := s.savePinsLocked(); err != nil {
		delete(s.pins, p)
		delete(o.pins, p)
		return status.Errorf(codes.Internal, "pin %s: %v", p, err)
	}
	return nil
}

// Pin implements pb.AnybpfServer.
func (s *Server) Pin(ctx context.Context, req *pb.PinRequest) (*pb.Empty, error) {
	p, err := canonicalPin(req.GetPath())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.lookupLocked(req.GetId(), pb.ObjectKind_OBJECT_KIND_UNSPECIFIED)
	if err != nil {
		return nil, err
	}
	if err := s.pinLocked(o, p); err != nil {
		return nil, err
	}
	return &pb.Empty{}, nil
}

// Unpin implements pb.AnybpfServer.
func (s *Server) Unpin(ctx context.Context, req *pb.PinPath) (*pb.Empty, error) {
	p, err := canonicalPin(req.GetPath())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.pins[p]
	if o == nil {
		for i, r := range s.pending {
			if r.Path == p {
				s.pending = append(s.pending[:i:i], s.pending[i+1:]...)
				return &pb.Empty{}, s.savePinsLocked()
			}
		}
		return nil, status.Errorf(codes.NotFound, "unpin %s: nothing is pinned there", p)
	}
	delete(s.pins, p)
	delete(o.pins, p)
	s.maybeDropLocked(o)
	if err := s.savePinsLocked(); err != nil {
		return nil, status.Errorf(codes.Internal, "unpin %s: %v", p, err)
	}
	return &pb.Empty{}, nil
}

// GetPinned implements pb.AnybpfServer.
func (s *Server) GetPinned(ctx context.Context, req *pb.PinPath) (*pb.PinnedObject, error) {
	p, err := canonicalPin(req.GetPath())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.pins[p]
	if o == nil {
		return nil, status.Errorf(codes.NotFound, "%s: nothing is pinned there", p)
	}
	return &pb.PinnedObject{Path: p, Kind: o.kind, Id: o.id}, nil
}

// ListPins implements pb.AnybpfServer.
func (s *Server) ListPins(ctx context.Context, req *pb.ListPinsRequest) (*pb.ListPinsResponse, error) {
	prefix := ""
	if req.GetPrefix() != "" {
		p, err := canonicalPin(req.GetPrefix())
		if err != nil {
			return nil, err
		}
		prefix = p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := &pb.ListPinsResponse{}
	for p, o := range s.pins {
		if prefix == "" || p == prefix || strings.HasPrefix(p, prefix+"/") {
			resp.Pins = append(resp.Pins, &pb.PinnedObject{Path: p, Kind: o.kind, Id: o.id})
		}
	}
	sort.Slice(resp.Pins, func(i, j int) bool { return resp.Pins[i].Path < resp.Pins[j].Path })
	return resp, nil
}

// The state directory holds pins.json, the list of pins, and objects/SHA256.o, the ELF
// objects pinned programs and maps come from.
const pinsFile = "pins.json"

// pinRecord is one pin as the state directory keeps it.
type pinRecord struct {
	Path string `json:"path"`
	Kind string `json:"kind"` // program, map or link
	// Object is the SHA-256 of the ELF object a program or map comes from, Name its name
	// there.
	Object string `json:"object,omitempty"`
	Name   string `json:"name,omitempty"`
	// ProgramType is the type the object's programs were loaded as, when not their
	// sections' (LoadObject's program_type).
	ProgramType string `json:"program_type,omitempty"`
	// Map is the spec of a map created with CreateMap.
	Map    *mapRecord `json:"map,omitempty"`
	Frozen bool       `json:"frozen,omitempty"`
	// File is the name of a map's file in the state directory's mapfiles, for maps
	// whose values live in one.
	File string `json:"file,omitempty"`
	// Link is an attachment: its program by object and name, and where it is attached.
	Link *linkRecord `json:"link,omitempty"`
}

type mapRecord struct {
	Type       string `json:"type"`
	Name       string `json:"name"`
	KeySize    uint32 `json:"key_size"`
	ValueSize  uint32 `json:"value_size"`
	MaxEntries uint32 `json:"max_entries"`
	Flags      uint32 `json:"flags"`
	UID        uint32 `json:"uid"`
}

type linkRecord struct {
	Object      string `json:"object"`
	ProgramType string `json:"program_type,omitempty"`
	Program     string `json:"program"`
	AttachType  string `json:"attach_type"`
	Target      string `json:"target"`
	Flags       uint64 `json:"flags"`
}

type stateFile struct {
	Version int         `json:"version"`
	Pins    []pinRecord `json:"pins"`
}

// savePinsLocked writes the pins to the state directory (atomically: a new file renamed
// over the old) and the objects they need; it removes objects no pin needs.
func (s *Server) savePinsLocked() error {
	if s.cfg.StateDir == "" {
		return nil
	}
	st := stateFile{Version: 1, Pins: []pinRecord{}}
	need := map[string]*source{}
	for p, o := range s.pins {
		r := pinRecord{Path: p, Kind: kindName(o.kind), Frozen: o.frozen, File: filepath.Base(o.file)}
		if o.file == "" {
			r.File = ""
		}
		switch {
		case o.kind == pb.ObjectKind_OBJECT_KIND_LINK:
			prog := s.objs[o.link.progID]
			if prog == nil || prog.src == nil {
				continue
			}
			need[prog.src.sha] = prog.src
			r.Link = &linkRecord{Object: prog.src.sha, ProgramType: prog.src.progType, Program: prog.name, AttachType: o.link.attachType, Target: o.link.target, Flags: o.link.flags}
		case o.src != nil:
			need[o.src.sha] = o.src
			r.Object, r.Name, r.ProgramType = o.src.sha, o.name, o.src.progType
		case o.spec != nil:
			r.Map = &mapRecord{Type: o.spec.Type.String(), Name: o.spec.Name, KeySize: o.spec.KeySize, ValueSize: o.spec.ValueSize, MaxEntries: o.spec.MaxEntries, Flags: o.spec.Flags, UID: o.uid}
		default:
			continue
		}
		st.Pins = append(st.Pins, r)
	}
	for _, r := range s.pending {
		if s.pins[r.Path] != nil {
			continue // the path was taken since
		}
		st.Pins = append(st.Pins, r)
		for _, sha := range []string{r.Object, linkObject(r)} {
			if sha != "" && need[sha] == nil {
				need[sha] = &source{sha: sha} // kept on disk, not rewritten
			}
		}
	}
	sort.Slice(st.Pins, func(i, j int) bool { return st.Pins[i].Path < st.Pins[j].Path })
	objDir := filepath.Join(s.cfg.StateDir, "objects")
	for sha, src := range need {
		f := filepath.Join(objDir, sha+".o")
		if _, err := os.Stat(f); err == nil || src.data == nil {
			continue
		}
		if err := writeFileSync(f, src.data); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileSync(filepath.Join(s.cfg.StateDir, pinsFile), b); err != nil {
		return err
	}
	if ents, err := os.ReadDir(objDir); err == nil {
		for _, e := range ents {
			if sha, ok := strings.CutSuffix(e.Name(), ".o"); !ok || need[sha] == nil {
				os.Remove(filepath.Join(objDir, e.Name()))
			}
		}
	}
	return nil
}

func linkObject(r pinRecord) string {
	if r.Link != nil {
		return r.Link.Object
	}
	return ""
}

// writeFileSync writes a file so that a crash leaves either the old or the new contents:
// a temporary file, synced, renamed over the old one, and the directory synced.
func writeFileSync(name string, data []byte) error {
	tmp := name + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	if d, err := os.Open(filepath.Dir(name)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// restore re-creates the pins of the state directory: it loads each object pinned
// programs and maps come from once (so that a pinned program and a pinned map of one
// object share the map again), creates pinned standalone maps, and re-attaches pinned
// links. What it cannot restore is logged and left out.
func (s *Server) restore() error {
	b, err := os.ReadFile(filepath.Join(s.cfg.StateDir, pinsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("state dir: %s: %w", pinsFile, err)
	}
	type loaded struct{ progs, maps map[string]*object }
	objs := map[string]*loaded{}
	// The files of pinned maps, by object and map name, to reopen with their contents.
	files := map[string]map[string]string{}
	for _, r := range st.Pins {
		if r.Kind == "map" && r.Object != "" && r.File != "" {
			k := loadKey(r.Object, r.ProgramType)
			if files[k] == nil {
				files[k] = map[string]string{}
			}
			files[k][r.Name] = s.mapFilePath(r.File)
		}
	}
	load := func(sha, progType string) *loaded {
		key := loadKey(sha, progType)
		if l, ok := objs[key]; ok {
			return l
		}
		objs[key] = nil
		if len(sha) != 64 || strings.ContainsAny(sha, "./\\") {
			s.log.Error("restore: bad object name in pins", "object", sha)
			return nil
		}
		data, err := os.ReadFile(filepath.Join(s.cfg.StateDir, "objects", sha+".o"))
		if err != nil {
			s.log.Error("restore: object", "object", sha, "err", err)
			return nil
		}
		progs, ms, err := s.loadSource(newSource(data, sha+".o", progType), 0, 0, files[key])
		if err != nil {
			s.log.Error("restore: load object", "object", sha, "err", err)
			return nil
		}
		l := &loaded{progs: map[string]*object{}, maps: map[string]*object{}}
		for _, o := range progs {
			l.progs[o.name] = o
		}
		for _, o := range ms {
			l.maps[o.name] = o
		}
		objs[key] = l
		return l
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	restored := 0
	for _, r := range st.Pins {
		p, err := canonicalPin(r.Path)
		if err != nil || s.pins[p] != nil {
			s.log.Error("restore: bad or duplicate pin path", "path", r.Path)
			continue
		}
		var o *object
		switch {
		case r.Kind == "link" && r.Link != nil:
			s.mu.Unlock()
			l := load(r.Link.Object, r.Link.ProgramType)
			s.mu.Lock()
			if l == nil || l.progs[r.Link.Program] == nil {
				break
			}
			o, err = s.attachLocked(l.progs[r.Link.Program], r.Link.AttachType, r.Link.Target, r.Link.Flags)
			if err != nil {
				s.log.Error("restore: re-attach", "path", p, "err", err)
				o = nil
			}
		case r.Object != "":
			s.mu.Unlock()
			l := load(r.Object, r.ProgramType)
			s.mu.Lock()
			if l == nil {
				break
			}
			if r.Kind == "program" {
				o = l.progs[r.Name]
			} else {
				o = l.maps[r.Name]
			}
		case r.Map != nil:
			typ, err := mapTypeByName(r.Map.Type)
			if err != nil {
				s.log.Error("restore: map", "path", p, "err", err)
				break
			}
			spec := maps.Spec{Name: r.Map.Name, Type: typ, KeySize: r.Map.KeySize, ValueSize: r.Map.ValueSize, MaxEntries: r.Map.MaxEntries, Flags: r.Map.Flags}
			file := ""
			if r.File != "" {
				file = s.mapFilePath(r.File)
			}
			m, file, err := s.newMap(spec, file)
			if err != nil {
				s.log.Error("restore: create map", "path", p, "err", err)
				break
			}
			o = &object{kind: pb.ObjectKind_OBJECT_KIND_MAP, uid: r.Map.UID, m: m, name: spec.Name, spec: &spec, memlock: spec.Footprint(s.rt.NumCPU()), file: file}
			s.addLocked(o)
		}
		if o == nil {
			s.log.Error("restore: pin left out; kept for the next start", "path", p, "kind", r.Kind)
			r.Path = p
			s.pending = append(s.pending, r)
			continue
		}
		o.frozen = o.frozen || r.Frozen
		s.pins[p] = o
		o.pins[p] = true
		restored++
	}
	// What was loaded only to restore others (the unpinned programs and maps of a pinned
	// program's object) goes unless the pinned ones use it.
	for _, l := range objs {
		if l == nil {
			continue
		}
		for _, o := range l.progs {
			s.maybeDropLocked(o)
		}
		for _, o := range l.maps {
			s.maybeDropLocked(o)
		}
	}
	s.restoreSnapshotsLocked()
	s.removeStrayMapFilesLocked()
	s.log.Info("restored pins", "pins", restored, "of", len(st.Pins))
	return nil
}

// mapFilePath is the path of the map file name in the state directory (only its base
// name counts, so that a state file cannot point elsewhere).
func (s *Server) mapFilePath(name string) string {
	return filepath.Join(s.cfg.StateDir, mapFilesDir, filepath.Base(name))
}

// removeStrayMapFilesLocked removes the map files no map uses: those of maps that were
// not pinned when the daemon was killed. Files of pins kept for the next start stay.
func (s *Server) removeStrayMapFilesLocked() {
	keep := map[string]bool{}
	for _, o := range s.objs {
		if o.file != "" {
			keep[filepath.Base(o.file)] = true
		}
	}
	for _, r := range s.pending {
		if r.File != "" {
			keep[filepath.Base(r.File)] = true
		}
	}
	ents, err := os.ReadDir(filepath.Join(s.cfg.StateDir, mapFilesDir))
	if err != nil {
		return
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".map") && !keep[e.Name()] {
			os.Remove(filepath.Join(s.cfg.StateDir, mapFilesDir, e.Name()))
		}
	}
}
