// Package engine defines what every anybpf execution engine shares: the configuration a
// program is compiled with, the helper calling convention, the per-invocation environment
// that helpers and checked memory accesses see, and the errors an engine reports.
//
// An engine compiles a validated instruction sequence into Code once; Code runs any number
// of times, concurrently, each run with its own Env.
package engine

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/anybpf/anybpf/isa"
)

// Sentinel errors, for use with errors.Is.
var (
	// ErrUnknownHelper means a call to a helper id the configuration does not provide.
	ErrUnknownHelper = errors.New("unknown helper")
	// ErrMemoryAccess means a checked load or store outside every registered region.
	ErrMemoryAccess = errors.New("invalid memory access")
	// ErrBudgetExceeded means the program executed more instructions than its budget.
	ErrBudgetExceeded = errors.New("instruction budget exceeded")
	// ErrCallDepth means bpf-to-bpf calls nested deeper than MaxCallDepth frames.
	ErrCallDepth = errors.New("call depth exceeded")
	// ErrUninitialized means checked mode found a register read before any write.
	ErrUninitialized = errors.New("read of uninitialized register")
	// ErrUnresolved means a 64-bit load of a map or function reference that the loader did
	// not resolve to an address.
	ErrUnresolved = errors.New("unresolved pseudo instruction")
	// ErrHelperAbort means a helper stopped the program with an error (see Env.Abort).
	ErrHelperAbort = errors.New("aborted by helper")
	// ErrInvalidEntry means RunAt was given a slot where no instruction starts.
	ErrInvalidEntry = errors.New("invalid entry point")
)

// Limits of the execution model (DESIGN.md §3): a 512-byte stack per frame, at most 8
// frames.
const (
	StackFrameSize = 512
	MaxCallDepth   = 8
	StackSize      = StackFrameSize * MaxCallDepth
)

// HelperFunc is the Go implementation of a helper. It receives the invocation's
// environment and the argument registers r1..r5; its result goes to r0.
type HelperFunc func(env *Env, r1, r2, r3, r4, r5 uint64) uint64

// Config is what an engine needs to compile a program.
type Config struct {
	// Helpers maps helper ids (Linux numbering) to implementations. A call to an id that
	// is not here fails compilation with ErrUnknownHelper.
	Helpers map[int32]HelperFunc
	// Checked makes every load and store check its address against the regions of the
	// running Env, and rejects programs that read registers before writing them. Use it
	// for code that has not been verified.
	Checked bool
	// Budget limits the instructions one run may execute; 0 means no limit.
	Budget uint64
	// Maps, when set, describes the maps the program names with constants (the value a
	// resolved 64-bit map load puts in a register), so that an engine may specialise
	// helper calls on them. It returns false for constants that are not maps.
	Maps func(handle uint64) (MapInfo, bool)
	// Tails, when set, is an engine's table of the programs that tail calls may reach
	// without leaving compiled code (for the JIT, a *jit.TailTable), and TailClass the
	// class of this program: a tail call reaches only programs of the same class (the
	// runtime uses the program type). nil means tail calls go through the helper.
	Tails     any
	TailClass uint32
}

// MapInfo is what an engine may know of a map at compile time.
type MapInfo struct {
	// ArrayLen > 0 describes a plain array map whose lookups may be done inline: a
	// 4-byte key k below ArrayLen names the value at ArrayBase + k*ArrayStride, memory
	// that stays valid as long as the program; other keys name nothing.
	ArrayBase   uintptr
	ArrayStride uint32
	ArrayLen    uint32
	// ProgLen > 0 describes a program array: ProgLen 4-byte program ids (0: empty) at
	// ProgIDs, read atomically, valid as long as the program.
	ProgIDs uintptr
	ProgLen uint32
	// Lookup, if not nil, is bpf_map_lookup_elem specialised to this map: r1 is the
	// map, r2 the key's address.
	Lookup HelperFunc
}

// Engine compiles programs.
type Engine interface {
	// Name identifies the engine: "interp", "jit", ...
	Name() string
	// Compile prepares a program for execution. The instructions must have passed
	// isa.Validate (Compile checks it again) and have every pseudo LDDW resolved.
	Compile(insns []isa.Instruction, cfg Config) (Code, error)
}

// Code is a compiled program.
type Code interface {
	// Run executes the program once with r1 and r2 set to the given values and returns r0.
	// Every other argument register is zero. Run is safe for concurrent use with
	// different Envs.
	Run(env *Env, r1, r2 uint64) (uint64, error)
	// RunAt executes the function starting at slot entry with r1..r5 set, as helpers
	// that take callbacks (bpf_loop, bpf_for_each_map_elem) do. The Env must not be in
	// use by another run: callbacks run on an Env of their own.
	RunAt(env *Env, entry int, r1, r2, r3, r4, r5 uint64) (uint64, error)
}

// Region is memory a program may access in checked mode.
type Region struct {
	Addr     uintptr
	Size     uintptr
	Writable bool
	Name     string
}

// Memory returns n zeroed bytes for a program to address: always heap memory, never a
// buffer the compiler may keep on a goroutine stack, which moves when it grows (a small
// make that does not escape can stay there).
//
//go:noinline
func Memory(n int) []byte { return make([]byte, n) }

// RegionOf returns a region covering b. b must be heap memory (see Memory) and stay
// reachable while a program can use it.
func RegionOf(name string, b []byte, writable bool) Region {
	if len(b) == 0 {
		return Region{Name: name}
	}
	return Region{Addr: uintptr(unsafe.Pointer(unsafe.SliceData(b))), Size: uintptr(len(b)), Writable: writable, Name: name}
}

// Env is the state of one invocation: its stack, the memory regions checked mode allows,
// the packet for legacy packet loads, and what helpers report back. An Env is used by one
// run at a time; reuse it across runs to avoid allocation.
type Env struct {
	// Context is for the runtime: what its helpers need to know about this invocation.
	Context any
	// Packet is the data that the legacy LD_ABS and LD_IND instructions read.
	Packet []byte

	stack   []byte
	regions []Region

	stopped bool
	exitR0  uint64
	err     error
	tail    any
	child   *Env
	// TailCalls counts the tail calls the current run has taken; the runtime's
	// bpf_tail_call and engines that tail call within compiled code both count here, so
	// that the limit holds across both.
	TailCalls uint64
	// Tailed is set by an engine that has tail called, within compiled code, the
	// program its tail table knows by that id (see Config.Tails), before it runs a
	// helper; the runtime takes it to follow the running program.
	Tailed uint32
	// Executed is the number of instructions the last run executed. Engines count in
	// checked mode and when a budget is set; otherwise it may stay 0.
	Executed uint64
}

// NewEnv returns an Env with a fresh stack.
func NewEnv() *Env {
	return &Env{stack: make([]byte, StackSize)}
}

// Child returns an Env for a callback run from a helper of this one: its own stack, the
// same Context and Packet, and every region of this Env plus this Env's stack. The child
// is cached; it is reset on each call.
func (e *Env) Child() *Env {
	if e.child == nil {
		e.child = NewEnv()
	}
	c := e.child
	c.Context, c.Packet = e.Context, e.Packet
	c.regions = append(c.regions[:0], e.regions...)
	c.regions = append(c.regions, RegionOf("caller stack", e.Stack(), true))
	return c
}

// Stack returns the Env's stack memory: MaxCallDepth frames of StackFrameSize bytes, the
// first frame at the top (highest addresses).
func (e *Env) Stack() []byte {
	if e.stack == nil {
		e.stack = make([]byte, StackSize)
	}
	return e.stack
}

// AddRegion allows checked-mode access to a region for the coming runs.
func (e *Env) AddRegion(r Region) {
	if r.Size > 0 {
		e.regions = append(e.regions, r)
	}
}

// TruncateRegions forgets the regions added after the first n.
func (e *Env) TruncateRegions(n int) {
	if n < len(e.regions) {
		e.regions = e.regions[:n]
	}
}

// ResetRegions forgets every region added with AddRegion.
func (e *Env) ResetRegions() { e.regions = e.regions[:0] }

// Regions returns the regions added with AddRegion.
func (e *Env) Regions() []Region { return e.regions }

// Exit makes the program stop as soon as the running helper returns, with r0 set to r0.
func (e *Env) Exit(r0 uint64) {
	e.stopped = true
	e.exitR0 = r0
}

// Abort makes the program stop as soon as the running helper returns; Run returns an error
// wrapping ErrHelperAbort and err.
func (e *Env) Abort(err error) {
	e.stopped = true
	e.err = err
}

// TailCall makes the program stop as soon as the running helper returns, so that next
// runs instead, with the same context (bpf_tail_call). An engine switches to next itself
// when next is its own Code; otherwise Run returns and the caller takes the target with
// TakeTailCall.
func (e *Env) TailCall(next any) {
	e.stopped = true
	e.tail = next
}

// TailTarget returns the target a helper set with TailCall, without clearing it.
func (e *Env) TailTarget() any { return e.tail }

// TakeTailCall returns and clears the target a helper set with TailCall.
func (e *Env) TakeTailCall() any {
	t := e.tail
	e.tail = nil
	return t
}

// Stopped reports whether a helper asked the program to stop.
func (e *Env) Stopped() bool { return e.stopped }

// TakeStop returns and clears what a helper asked for with Exit or Abort.
func (e *Env) TakeStop() (r0 uint64, err error) {
	r0, err = e.exitR0, e.err
	e.stopped, e.exitR0, e.err = false, 0, nil
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrHelperAbort, err)
	}
	return r0, err
}

// Check reports whether the access of size bytes at addr lies inside the stack or one
// registered region (writable, if write).
func (e *Env) Check(addr uint64, size uint64, write bool) bool {
	if base := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(e.stack)))); size <= StackSize && addr >= base && addr-base <= StackSize-size {
		return true
	}
	for i := range e.regions {
		r := &e.regions[i]
		if size <= uint64(r.Size) && addr >= uint64(r.Addr) && addr-uint64(r.Addr) <= uint64(r.Size)-size && (r.Writable || !write) {
			return true
		}
	}
	return false
}

// RuntimeError reports a failure at a program counter (a slot index).
type RuntimeError struct {
	PC  int
	Err error
	// Addr and Size describe the access for ErrMemoryAccess.
	Addr  uint64
	Size  int
	Write bool
}

func (e *RuntimeError) Error() string {
	if errors.Is(e.Err, ErrMemoryAccess) {
		kind := "load"
		if e.Write {
			kind = "store"
		}
		return fmt.Sprintf("pc %d: %v: %d-byte %s at %#x is outside every allowed region", e.PC, e.Err, e.Size, kind, e.Addr)
	}
	return fmt.Sprintf("pc %d: %v", e.PC, e.Err)
}

func (e *RuntimeError) Unwrap() error { return e.Err }
