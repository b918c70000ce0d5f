package anybpf

import (
	"errors"
	"fmt"
	"io"

	"github.com/anybpf/anybpf/internal/elfload"
	"github.com/anybpf/anybpf/maps"
	"github.com/anybpf/anybpf/progtype"
	"github.com/anybpf/anybpf/verifier"
)

// Collection is what an object file holds, loaded: its programs and maps by name. It
// owns them until Close, or until one is taken out with DetachMap or DetachProgram.
type Collection struct {
	Programs map[string]*Program
	Maps     map[string]*Map
}

// Close closes every program and map still in the collection. Maps that programs or
// maps-of-maps elsewhere still use stay alive until those let go of them.
func (c *Collection) Close() {
	for _, p := range c.Programs {
		p.Close()
	}
	for _, m := range c.Maps {
		m.Close()
	}
}

// DetachMap removes the named map from the collection and returns it, so that Close
// leaves it open; the caller closes it. It returns nil if there is no such map.
func (c *Collection) DetachMap(name string) *Map {
	m := c.Maps[name]
	delete(c.Maps, name)
	return m
}

// DetachProgram removes the named program from the collection and returns it, so that
// Close leaves it loaded; the caller closes it. It returns nil if there is no such
// program.
func (c *Collection) DetachProgram(name string) *Program {
	p := c.Programs[name]
	delete(c.Programs, name)
	return p
}

// LoadCollection loads every program and map of the ELF object at path. If it fails,
// nothing it created stays in the runtime.
func (rt *Runtime) LoadCollection(path string) (*Collection, error) {
	if rt.closed.Load() {
		return nil, fmt.Errorf("load %s: runtime %w", path, ErrClosed)
	}
	obj, err := elfload.LoadFile(path)
	if err != nil {
		return nil, err
	}
	return rt.loadObject(obj, path, CollectionOptions{})
}

// LoadCollectionFromReader is LoadCollection for an object held in memory or another
// reader; name stands for the object in errors.
func (rt *Runtime) LoadCollectionFromReader(rd io.ReaderAt, name string) (*Collection, error) {
	return rt.LoadCollectionWithOptions(rd, name, CollectionOptions{})
}

// CollectionOptions tune LoadCollectionWithOptions.
type CollectionOptions struct {
	// MapFile, when set, is asked for each map of the object that can be file-backed
	// (maps.FileBacked: array, per-CPU array, hash, per-CPU hash, LRU hash, LPM trie): a
	// path makes the map file-backed (Runtime.OpenMapFile): created there, or reopened
	// with the contents a previous process left, in which case the object's initial
	// data is not stored into it (as libbpf reuses a pinned map). A file holding a map
	// of another shape fails the load with maps.ErrBadMapFile. "" keeps the map in
	// memory.
	MapFile func(name string, spec maps.Spec) string
	// ProgramType, when not progtype.Unspec, is the type every program of the object is
	// loaded as, with AttachType, instead of what its section says (libbpf's
	// bpf_program__set_type, bpftool's `prog load ... type TYPE`).
	ProgramType progtype.Type
	AttachType  progtype.AttachType
}

// LoadCollectionWithOptions is LoadCollectionFromReader with options.
func (rt *Runtime) LoadCollectionWithOptions(rd io.ReaderAt, name string, opts CollectionOptions) (*Collection, error) {
	if rt.closed.Load() {
		return nil, fmt.Errorf("load %s: runtime %w", name, ErrClosed)
	}
	obj, err := elfload.Load(rd)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return rt.loadObject(obj, name, opts)
}

func (rt *Runtime) loadObject(obj *elfload.Object, path string, opts CollectionOptions) (_ *Collection, err error) {
	eng, err := rt.engine()
	if err != nil {
		return nil, err
	}
	coll := &Collection{Programs: map[string]*Program{}, Maps: map[string]*Map{}}
	defer func() {
		if err != nil {
			coll.Close()
		}
	}()
	for _, spec := range obj.Maps {
		file := ""
		if opts.MapFile != nil && maps.FileBacked(spec.Type) {
			file = opts.MapFile(spec.Name, mapSpecOf(spec))
		}
		m, err := rt.newMap(mapSpecOf(spec), spec.ReadOnly, file)
		if errors.Is(err, maps.ErrNotSupported) {
			// The programs that use it cannot run; the rest of the object can.
			coll.Maps[spec.Name] = &Map{name: spec.Name, err: err}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		coll.Maps[spec.Name] = m
		if spec.Data != nil && !m.reopened {
			if err := m.m.Update([]byte{0, 0, 0, 0}, spec.Data, maps.UpdateAny); err != nil {
				return nil, fmt.Errorf("%s: map %s: initial data: %w", path, spec.Name, err)
			}
		}
	}
	for _, ps := range obj.Programs {
		if opts.ProgramType != progtype.Unspec {
			typed := *ps
			typed.Type, typed.AttachType = opts.ProgramType, opts.AttachType
			ps = &typed
		}
		var verified *verifier.Result
		if !rt.cfg.unverified {
			res, err := rt.verifyProgram(obj, ps)
			switch {
			case err != nil && ps.Type == progtype.Unspec:
				// A function without a program type (a library function in .text, say)
				// that the verifier cannot prove as a program on its own: it loads, but
				// cannot run by itself.
				coll.Programs[ps.Name] = &Program{Name: ps.Name, Section: ps.Section, Type: ps.Type, rt: rt, err: err}
				rt.registerProgram(coll.Programs[ps.Name])
				continue
			case err != nil:
				return nil, fmt.Errorf("%s: program %s: %w", path, ps.Name, err)
			}
			verified = res
		}
		p, err := rt.loadProgramAs(eng, ps, coll, verified != nil)
		if err == nil && verified != nil {
			p.verifiedInsns = verified.Processed
		}
		if errors.Is(err, ErrNotSupported) {
			// Keep the program so that users see it, and say why it cannot run.
			p = &Program{Name: ps.Name, Section: ps.Section, Type: ps.Type, rt: rt, err: err}
		} else if err != nil {
			return nil, fmt.Errorf("%s: program %s: %w", path, ps.Name, err)
		}
		rt.registerProgram(p)
		coll.Programs[ps.Name] = p
	}
	// Program arrays and maps-of-maps declared with initial values (BTF "values").
	for _, spec := range obj.Maps {
		m := coll.Maps[spec.Name]
		if m == nil || m.err != nil {
			continue
		}
		for _, v := range spec.Contents {
			var value any
			switch spec.Type {
			case maps.ProgArray:
				if p := coll.Programs[v.Symbol]; p != nil {
					value = p
				}
			case maps.ArrayOfMaps, maps.HashOfMaps:
				if inner := coll.Maps[v.Symbol]; inner != nil {
					value = inner
				}
			default:
				return nil, fmt.Errorf("%s: map %s: a %s has no initial values by name", path, spec.Name, spec.Type)
			}
			if value == nil {
				return nil, fmt.Errorf("%s: map %s: slot %d names %q, which the object does not define", path, spec.Name, v.Key, v.Symbol)
			}
			if err := m.Update(v.Key, value, maps.UpdateAny); err != nil {
				return nil, fmt.Errorf("%s: map %s: slot %d: %w", path, spec.Name, v.Key, err)
			}
		}
	}
	return coll, nil
}

// mapSpecOf turns the loader's description of a map into the one maps.New takes.
func mapSpecOf(s *elfload.MapSpec) maps.Spec {
	spec := maps.Spec{Name: s.Name, Type: s.Type, KeySize: s.KeySize, ValueSize: s.ValueSize, MaxEntries: s.MaxEntries, Flags: s.Flags,
		SpinLock: s.SpinLock, SpinLockOffset: s.SpinLockOffset}
	if s.InnerMap != nil {
		inner := mapSpecOf(s.InnerMap)
		spec.InnerMap = &inner
	}
	return spec
}
