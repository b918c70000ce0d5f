package anybpf

import (
	"github.com/anybpf/anybpf/maps"
)

// MapHandle is what a map offers wherever it lives: *Map in this process, *RemoteMap in
// the daemon (Connect). Code written against it works with either.
type MapHandle interface {
	ID() uint32
	Spec() maps.Spec
	Lookup(key, valueOut any) error
	Update(key, value any, flags uint64) error
	Delete(key any) error
	NextKey(key any, nextOut []byte) error
	Dump() ([]Entry, error)
	Close() error
}

// ProgramHandle is what a program offers wherever it lives: *Program in this process,
// *RemoteProgram in the daemon.
type ProgramHandle interface {
	ID() uint32
	Run(opts *RunOptions) (uint32, error)
	Close() error
}

// Handles are the programs and maps of a loaded object, by name, behind the API that
// in-process and daemon objects share.
type Handles struct {
	Programs map[string]ProgramHandle
	Maps     map[string]MapHandle
}

// Close closes every program and map.
func (h *Handles) Close() {
	for _, p := range h.Programs {
		p.Close()
	}
	for _, m := range h.Maps {
		m.Close()
	}
}

// Backend is where programs and maps live: the in-process *Runtime, or the daemon
// through *Client (Connect). The two load and create the same way and hand out handles
// with the same methods.
type Backend interface {
	// LoadHandles loads the ELF object at path.
	LoadHandles(path string) (*Handles, error)
	// CreateMap creates a map that belongs to no object.
	CreateMap(spec maps.Spec) (MapHandle, error)
}

var (
	_ Backend       = (*Runtime)(nil)
	_ Backend       = (*Client)(nil)
	_ MapHandle     = (*Map)(nil)
	_ MapHandle     = (*RemoteMap)(nil)
	_ ProgramHandle = (*Program)(nil)
	_ ProgramHandle = (*RemoteProgram)(nil)
)

// Handles returns the collection's programs and maps as handles; they stay the
// collection's (closing the Handles closes them).
func (c *Collection) Handles() *Handles {
	return handlesOf(c.Programs, c.Maps)
}

// Handles returns the collection's programs and maps as handles.
func (c *RemoteCollection) Handles() *Handles {
	return handlesOf(c.Programs, c.Maps)
}

func handlesOf[P ProgramHandle, M MapHandle](progs map[string]P, ms map[string]M) *Handles {
	h := &Handles{Programs: make(map[string]ProgramHandle, len(progs)), Maps: make(map[string]MapHandle, len(ms))}
	for n, p := range progs {
		h.Programs[n] = p
	}
	for n, m := range ms {
		h.Maps[n] = m
	}
	return h
}

// LoadHandles implements Backend.
func (rt *Runtime) LoadHandles(path string) (*Handles, error) {
	c, err := rt.LoadCollection(path)
	if err != nil {
		return nil, err
	}
	return c.Handles(), nil
}

// CreateMap implements Backend: NewMap as a handle.
func (rt *Runtime) CreateMap(spec maps.Spec) (MapHandle, error) {
	m, err := rt.NewMap(spec)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// LoadHandles implements Backend.
func (c *Client) LoadHandles(path string) (*Handles, error) {
	coll, err := c.LoadCollection(path)
	if err != nil {
		return nil, err
	}
	return coll.Handles(), nil
}

// CreateMap implements Backend: NewMap as a handle.
func (c *Client) CreateMap(spec maps.Spec) (MapHandle, error) {
	m, err := c.NewMap(spec)
	if err != nil {
		return nil, err
	}
	return m, nil
}
