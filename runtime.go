// Package anybpf runs eBPF programs outside the Linux kernel. A Runtime loads ELF objects
// compiled for Linux into Collections of Programs and Maps, shaped like cilium/ebpf's:
//
//	rt := anybpf.NewRuntime(ctx, anybpf.NewRuntimeConfig())
//	coll, err := rt.LoadCollection("prog.o")
//	ret, err := coll.Programs["xdp_prog"].Run(&anybpf.RunOptions{Data: pkt})
//
// Every program is verified when it is loaded (package verifier); a program the verifier
// cannot prove safe is not loaded. Verified programs run unchecked; programs loaded
// without the verifier (WithUnverifiedPrograms), or every program with
// WithCheckedExecution, run in the engine's checked mode, where a bad memory access is
// an error. Test-run
// (Program.Run) follows BPF_PROG_TEST_RUN for XDP, socket filter, tc and cgroup skb
// programs, and runs socket, sock_ops, bind and process programs on a given context.
package anybpf

import (
	"context"
	"errors"
	"fmt"
	"io"
	goruntime "runtime"
	"sync"
	"sync/atomic"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/engine/interp"
	"github.com/anybpf/anybpf/engine/jit"
	"github.com/anybpf/anybpf/maps"
)

// Errors users can test with errors.Is.
var (
	// ErrNotSupported is returned for features anybpf does not provide (yet).
	ErrNotSupported = maps.ErrNotSupported
	// ErrKeyNotExist is returned by Map lookups of missing keys.
	ErrKeyNotExist = maps.ErrKeyNotExist
	// ErrInvalidInput is returned for test-run input the kernel's BPF_PROG_TEST_RUN
	// would refuse with EINVAL.
	ErrInvalidInput = errors.New("invalid test-run input")
	// ErrClosed is returned for programs, maps and runtimes used after Close.
	ErrClosed = errors.New("closed")
	// ErrMemoryLimit is returned when creating a map would take the runtime over the
	// memory limit of its configuration.
	ErrMemoryLimit = errors.New("memory limit reached")
)

// RuntimeConfig configures a Runtime. The zero value is not valid; start from
// NewRuntimeConfig.
type RuntimeConfig struct {
	engine     string
	traceLog   io.Writer
	budget     uint64
	unverified bool
	memLimit   uint64
	budgetSet  bool // WithInstructionBudget was called
	checked    bool // WithCheckedExecution
}

// NewRuntimeConfig returns the default configuration: engine "auto", trace_printk output
// discarded.
func NewRuntimeConfig() RuntimeConfig {
	return RuntimeConfig{engine: "auto", traceLog: io.Discard, budget: 1 << 32}
}

// WithEngine selects the execution engine: "auto", "interp" or "jit" (see EngineByName).
func (c RuntimeConfig) WithEngine(name string) RuntimeConfig {
	c.engine = name
	return c
}

// WithTraceLog sends bpf_trace_printk output to w, one line per call.
func (c RuntimeConfig) WithTraceLog(w io.Writer) RuntimeConfig {
	c.traceLog = w
	return c
}

// WithInstructionBudget limits the instructions one program run may execute. Without
// it, programs loaded unverified (WithUnverifiedPrograms) have a budget of 2^32
// instructions and verified programs, which the verifier has proven bounded, none.
func (c RuntimeConfig) WithInstructionBudget(n uint64) RuntimeConfig {
	c.budget = n
	c.budgetSet = true
	return c
}

// WithCheckedExecution compiles every program in the engines' checked mode, where each
// load and store is checked against the memory the run may use, as a second line of
// defence behind the verifier. By default only programs loaded unverified
// (WithUnverifiedPrograms) run checked; verified programs run unchecked, which is
// faster (with the JIT, several times faster on memory-heavy code).
func (c RuntimeConfig) WithCheckedExecution() RuntimeConfig {
	c.checked = true
	return c
}

// WithMemoryLimit caps the memory the runtime's maps may hold, in bytes (0: no limit).
// Each map is charged what it holds when full (maps.Spec.Footprint) when it is created,
// so a program can never take the runtime over the limit; creating a map that does not
// fit fails with ErrMemoryLimit.
func (c RuntimeConfig) WithMemoryLimit(bytes uint64) RuntimeConfig {
	c.memLimit = bytes
	return c
}

// Runtime owns maps and programs and runs them.
type Runtime struct {
	cfg    RuntimeConfig
	epochs *maps.Epochs
	// tails is the JIT's table of programs tail calls reach within native code.
	tails *jit.TailTable

	mu       sync.Mutex
	maps     atomic.Pointer[[]*Map] // by id - 1, nil once freed; replaced, never changed, so helpers read it without a lock
	programs []*Program             // by id - 1, nil once closed
	memUsed  uint64
	closed   atomic.Bool
	cookies  atomic.Uint64 // the last socket cookie given out
	stats    atomic.Bool   // run statistics on (stats.go)

	traceMu sync.Mutex
}

// NewRuntime returns a runtime. ctx is reserved for cancellation of long operations.
func NewRuntime(ctx context.Context, cfg RuntimeConfig) *Runtime {
	_ = ctx
	if cfg.traceLog == nil {
		cfg.traceLog = io.Discard
	}
	rt := &Runtime{cfg: cfg, epochs: maps.NewEpochs(0)}
	rt.tails = jit.NewTailTable(rt.epochs.Defer)
	return rt
}

func (rt *Runtime) engine() (engine.Engine, error) { return EngineByName(rt.cfg.engine) }

// EngineByName returns an execution engine: "interp", the interpreter; "jit", the
// native-code compiler (linux/amd64; elsewhere it fails with ErrNotSupported); "auto"
// or "", the JIT where it exists and the interpreter elsewhere.
func EngineByName(name string) (engine.Engine, error) {
	switch name {
	case "auto", "":
		if jit.Supported {
			return jit.New(), nil
		}
		return interp.New(), nil
	case "interp":
		return interp.New(), nil
	case "jit":
		if !jit.Supported {
			return nil, fmt.Errorf("%w: engine jit on %s/%s", ErrNotSupported, goruntime.GOOS, goruntime.GOARCH)
		}
		return jit.New(), nil
	}
	return nil, fmt.Errorf("unknown engine %q (want auto, interp or jit)", name)
}

// Map handles are what a program's 64-bit map load yields: an address no program can
// dereference (the verifier will make sure it never tries), which helpers turn back into
// the map.
const mapHandleBase = 0xffff_a000_0000_0000

// Function handles are what a program's load of a callback's address yields: the
// callback's entry slot in the program, tagged.
const funcHandleBase = 0xffff_b000_0000_0000

// register publishes a map: gives it its id (from 1) and the handle programs use.
// Ids are never reused, so a stale handle or id never names another map.
func (rt *Runtime) register(m *Map) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	old := rt.allMaps()
	m.handle = mapHandleBase | uint64(len(old))
	m.id = uint32(len(old)) + 1
	next := append(old[:len(old):len(old)], m)
	rt.maps.Store(&next)
}

// unregisterMap unpublishes a freed map; its handle and id name nothing from now on.
func (rt *Runtime) unregisterMap(m *Map) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	old := rt.allMaps()
	i := int(m.id) - 1
	if i < 0 || i >= len(old) || old[i] != m {
		return
	}
	next := append([]*Map(nil), old...)
	next[i] = nil
	rt.maps.Store(&next)
}

// mapByID returns the live map with the id, or nil.
func (rt *Runtime) mapByID(id uint32) *Map {
	all := rt.allMaps()
	if id == 0 || id > uint32(len(all)) {
		return nil
	}
	return all[id-1]
}

// charge reserves n bytes of the memory limit.
func (rt *Runtime) charge(n uint64) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if lim := rt.cfg.memLimit; lim != 0 && (n > lim || rt.memUsed > lim-n) {
		return fmt.Errorf("%w: needs %d bytes, %d of %d are in use", ErrMemoryLimit, n, rt.memUsed, lim)
	}
	rt.memUsed += n
	return nil
}

func (rt *Runtime) uncharge(n uint64) {
	rt.mu.Lock()
	rt.memUsed -= n
	rt.mu.Unlock()
}

// MemoryInUse returns the bytes the runtime's live maps are charged (see
// RuntimeConfig.WithMemoryLimit).
func (rt *Runtime) MemoryInUse() uint64 {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.memUsed
}

// Close unloads every program and releases every map of the runtime. Programs and
// maps used afterwards return ErrClosed, and the runtime loads nothing more.
func (rt *Runtime) Close() error {
	if rt.closed.Swap(true) {
		return nil
	}
	rt.mu.Lock()
	progs := append([]*Program(nil), rt.programs...)
	rt.mu.Unlock()
	for _, p := range progs {
		if p != nil {
			p.Close()
		}
	}
	for _, m := range rt.allMaps() {
		if m != nil {
			m.Close()
		}
	}
	rt.epochs.Collect()
	return nil
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
	if i >= uint64(len(all)) || all[i] == nil {
		return nil, false
	}
	return all[i], true
}

// register gives a program its id (from 1).
func (rt *Runtime) registerProgram(p *Program) {
	rt.mu.Lock()
	rt.programs = append(rt.programs, p)
	p.id = uint32(len(rt.programs))
	rt.mu.Unlock()
	// Outside the lock: the table retires its old copy through the epochs, which may
	// run deferred functions that take it.
	if p.code != nil {
		rt.tails.Set(p.id, p.code, uint32(p.Type))
	}
}

// unregisterProgram removes a closed program; its id names nothing from now on.
func (rt *Runtime) unregisterProgram(p *Program) {
	rt.mu.Lock()
	found := p.id != 0 && int(p.id) <= len(rt.programs) && rt.programs[p.id-1] == p
	if found {
		rt.programs[p.id-1] = nil
	}
	rt.mu.Unlock()
	if found {
		// Runs under way may still tail call into the code: the table keeps it until
		// they have ended.
		rt.tails.Clear(p.id)
	}
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
