// Package anybpf runs eBPF programs outside the Linux kernel. A Runtime loads ELF objects
// compiled for Linux into Collections of Programs and Maps, shaped like cilium/ebpf's:
//
//	rt := anybpf.NewRuntime(ctx, anybpf.NewRuntimeConfig())
//	coll, err := rt.LoadCollection("prog.o")
//	ret, err := coll.Programs["xdp_prog"].Run(&anybpf.RunOptions{Data: pkt})
//
// This is an early runtime: it runs XDP programs and programs without a context type, with
// array, hash, per-CPU, LRU, LPM trie, queue, stack and ring buffer maps and the map,
// time, random, CPU, trace_printk, ring buffer and XDP adjust helpers. Programs are not
// verified yet, so they run in checked mode, where a bad memory access is an error.
package anybpf

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/engine/interp"
	"github.com/anybpf/anybpf/maps"
)

// Errors users can test with errors.Is.
var (
	// ErrNotSupported is returned for features anybpf does not provide (yet).
	ErrNotSupported = maps.ErrNotSupported
	// ErrKeyNotExist is returned by Map lookups of missing keys.
	ErrKeyNotExist = maps.ErrKeyNotExist
)

// RuntimeConfig configures a Runtime. The zero value is not valid; start from
// NewRuntimeConfig.
type RuntimeConfig struct {
	engine    string
	traceLog  io.Writer
	budget    uint64
	epochSize int
}

// NewRuntimeConfig returns the default configuration: engine "auto", trace_printk output
// discarded.
func NewRuntimeConfig() RuntimeConfig {
	return RuntimeConfig{engine: "auto", traceLog: io.Discard, budget: 1 << 32}
}

// WithEngine selects the execution engine: "auto" or "interp" ("jit" is not built yet).
func (c RuntimeConfig) WithEngine(name string) RuntimeConfig {
	c.engine = name
	return c
}

// WithTraceLog sends bpf_trace_printk output to w, one line per call.
func (c RuntimeConfig) WithTraceLog(w io.Writer) RuntimeConfig {
	c.traceLog = w
	return c
}

// WithInstructionBudget limits the instructions one program run may execute.
func (c RuntimeConfig) WithInstructionBudget(n uint64) RuntimeConfig {
	c.budget = n
	return c
}

// Runtime owns maps and programs and runs them.
type Runtime struct {
	cfg    RuntimeConfig
	eng    engine.Engine
	epochs *maps.Epochs

	mu       sync.Mutex
	maps     atomic.Pointer[[]*Map] // by handle index; replaced, never changed, so helpers read it without a lock
	programs []*Program             // by id - 1

	traceMu sync.Mutex
}

// NewRuntime returns a runtime. ctx is reserved for cancellation of long operations.
func NewRuntime(ctx context.Context, cfg RuntimeConfig) *Runtime {
	_ = ctx
	if cfg.traceLog == nil {
		cfg.traceLog = io.Discard
	}
	return &Runtime{cfg: cfg, epochs: maps.NewEpochs(0)}
}

func (rt *Runtime) engine() (engine.Engine, error) {
	switch rt.cfg.engine {
	case "auto", "interp", "":
		return interp.New(), nil
	case "jit":
		return nil, fmt.Errorf("%w: engine jit is not built yet", ErrNotSupported)
	}
	return nil, fmt.Errorf("unknown engine %q (want auto, interp or jit)", rt.cfg.engine)
}

// Map handles are what a program's 64-bit map load yields: an address no program can
// dereference (the verifier will make sure it never tries), which helpers turn back into
// the map.
const mapHandleBase = 0xffff_a000_0000_0000

// Function handles are what a program's load of a callback's address yields: the
// callback's entry slot in the program, tagged.
const funcHandleBase = 0xffff_b000_0000_0000

func (rt *Runtime) register(m *Map) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var old []*Map
	if p := rt.maps.Load(); p != nil {
		old = *p
	}
	m.handle = mapHandleBase | uint64(len(old))
	next := append(old[:len(old):len(old)], m)
	rt.maps.Store(&next)
}

func (rt *Runtime) allMaps() []*Map {
	if p := rt.maps.Load(); p != nil {
		return *p
	}
	return nil
}

func (rt *Runtime) mapByHandle(h uint64) (*Map, bool) {
	if h&^0xffff_ffff != mapHandleBase {
		return nil, false
	}
	all := rt.allMaps()
	i := h & 0xffff_ffff
	if i >= uint64(len(all)) {
		return nil, false
	}
	return all[i], true
}

// register gives a program its id (from 1).
func (rt *Runtime) registerProgram(p *Program) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.programs = append(rt.programs, p)
	p.id = uint32(len(rt.programs))
}

func (rt *Runtime) programByID(id uint32) *Program {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if id == 0 || id > uint32(len(rt.programs)) {
		return nil
	}
	return rt.programs[id-1]
}

// NumCPU is the number of "CPUs" of the runtime: per-CPU maps hold this many values and
// bpf_get_smp_processor_id returns less.
func (rt *Runtime) NumCPU() int { return rt.epochs.NumCPU() }
