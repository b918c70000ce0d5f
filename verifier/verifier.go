// Package verifier proves statically that an eBPF program is safe to run: every memory
// access is within a region the program may use, no uninitialized register or stack byte
// is read, helpers get arguments of the kinds their prototypes ask for, pointers from
// map lookups are checked for null before use, ring buffer records are submitted or
// discarded, and the program returns a number.
//
// The method is abstract interpretation in the style of PREVAIL (Gershuni et al., PLDI
// 2019): the program's control-flow graph is iterated in weak topological order over a
// product of a register type domain, numeric intervals
// (signed and unsigned, 64 and 32 bits, with known bits) and a zone domain relating
// packet offsets to the packet's size, so that bounds checks through copies and offsets
// are understood. Where paths meet outside loops, their states are kept apart (up to 8
// per program point) when joining them would lose register kinds, stack initialization
// or constants, so that a value stays with the facts of its own path. Program types
// supply their context descriptors (progtype) and helpers their prototypes (helpers):
// the runtime uses the same tables. Tracing programs (fentry, fexit, fmod_ret, tp_btf)
// and LSM programs are typed from their attach target's prototype in the kernel's BTF
// (Program.KernelBTF): the kernel structs their arguments point to may be read at
// constant offsets, as Linux allows (kernelptr.go); no other program type gets such
// pointers.
//
// Termination: loops are first walked round by round (up to 1024 rounds), each round
// from the state the previous one left at the loop head, as Linux walks them; the states
// leaving the loop in every round flow on. A loop all of whose paths leave within those
// rounds is proven to end in that many rounds. Otherwise the rounds are joined and
// widened: every loop head carries a counter of its visits, which no widening touches,
// so the fixpoint bounds the counter only when the analysis has proven the loop exits.
// Either bound is checked against Options.MaxLoopIterations; a loop with no bound is
// refused as not proven to end (unless Options.SkipTermination).
package verifier

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/cilium/ebpf/btf"

	"github.com/anybpf/anybpf/isa"
	"github.com/anybpf/anybpf/maps"
	"github.com/anybpf/anybpf/progtype"
	"github.com/anybpf/anybpf/verifier/internal/interval"
)

// ErrUnverifiable is wrapped by every error about a program the verifier refuses.
var ErrUnverifiable = errors.New("program is not verifiable")

// Program is what the verifier checks: a linked program (its bpf-to-bpf callees
// appended), with its type and the maps its 64-bit loads refer to.
type Program struct {
	Name         string
	Instructions []isa.Instruction
	Type         progtype.Type
	AttachType   progtype.AttachType
	// Context describes the program's context; nil means the program type's default
	// (progtype.ContextFor).
	Context *progtype.Context
	// Maps are the maps the program may refer to; MapRefs say which 64-bit load refers
	// to which.
	Maps    []MapInfo
	MapRefs []MapRef
	// Lines, when set, give the source line of instructions for messages.
	Lines []SourceLine
	// Windows marks a program built with ebpf-for-windows's headers: its context and
	// return values are ebpf-for-windows's.
	Windows bool
	// KernelBTF is the BTF of the kernel a tracing program (fentry, fexit, fmod_ret,
	// tp_btf) or LSM program is meant for: the prototype of its attach target types its
	// context's argument slots, and the kernel structs they point to may be read (see
	// kernelptr.go). nil refuses such a program at its first read of its context
	// (ErrNoKernelBTF). Other program types never use it.
	KernelBTF *btf.Spec
	// AttachTo is the kernel function, tracepoint or LSM hook a tracing or LSM program
	// attaches to: what its section names after the type ("fentry/tcp_connect":
	// tcp_connect).
	AttachTo string
}

// MapInfo is what the verifier knows of a map.
type MapInfo struct {
	Name                           string
	Type                           maps.Type
	KeySize, ValueSize, MaxEntries uint32
	// ReadOnly maps (.rodata) may not be written by programs.
	ReadOnly bool
	// Inner is the template of a map-of-maps' inner maps, an index into Program.Maps, or
	// -1.
	Inner int
	// SpinLock says the value holds a struct bpf_spin_lock (declared in the map's BTF), at
	// byte SpinLockOffset: the only place bpf_spin_lock and bpf_spin_unlock may point, and
	// bytes programs may not read or write directly.
	SpinLock       bool
	SpinLockOffset uint32
}

// MapRef says that the 64-bit load at Instruction (an index into Instructions) loads the
// map Maps[Map], or with Value the address Offset bytes into its (first) value.
type MapRef struct {
	Instruction int
	Map         int
	Value       bool
	Offset      int64
}

// SourceLine is the source of the instructions from Instruction on.
type SourceLine struct {
	Instruction int
	File        string
	Line        int
	Text        string
}

// Options tune the verifier. The zero value is the default.
type Options struct {
	// MaxInstructions bounds the instructions the analysis may process (transfer
	// functions applied), like Linux's 1 million; 0 means 1,000,000.
	MaxInstructions int
	// MaxLoopIterations bounds how many times any loop head may be reached in one run
	// of the program (0: 1<<20).
	MaxLoopIterations int
	// AllowUnreachable accepts programs with instructions no path reaches (Linux
	// refuses them).
	AllowUnreachable bool
	// AllowPointerLeaks lets programs store pointers into maps and packets (Linux lets
	// privileged loaders do it); by default that is refused, since it hands kernel (here:
	// runtime) addresses to whoever reads the map.
	AllowPointerLeaks bool
	// SkipTermination accepts loops the verifier cannot prove to end (as PREVAIL does by
	// default); the runtime's instruction budget is then what stops them.
	SkipTermination bool
	// Log, when set, gets a line for every instruction the analysis processes (loop
	// rounds and every state kept apart included), as Linux's verifier log at level 2:
	// the instruction's slot and text, then the call frame when not the first and every
	// register that holds a value, as the analysis knows it before the instruction.
	Log io.Writer
}

// Result describes a verification.
type Result struct {
	// Processed is the number of instructions the analysis processed (transfer functions
	// applied, loop iterations included), as Linux's "processed N insns".
	Processed int
	// Warnings are things that are allowed but may not be what the author meant, such as
	// a division by a value that may be 0 (eBPF defines the result), one per instruction.
	Warnings []string

	r0 interval.Value // what the program may return
}

// MayReturn reports whether the analysis allows the program to return x (a verified
// program returns only values for which it is true).
func (r *Result) MayReturn(x uint64) bool { return r.r0.Contains(x) }

// Returns describes the values the program may return.
func (r *Result) Returns() string { return r.r0.String() }

// Error is a verification failure: the instruction, what failed, and the abstract state
// of the registers involved.
type Error struct {
	// Instruction is the index into Program.Instructions, Slot its slot offset (what
	// disassemblers number).
	Instruction, Slot int
	// Text is the instruction in llvm-objdump syntax.
	Text string
	// Message says what failed.
	Message string
	// State shows the registers involved.
	State string
	// Source is the C line the instruction came from, when known.
	Source *SourceLine
	// Cause is an underlying error the failure comes from (such as
	// progtype.ErrHelperNotAllowed), when there is one.
	Cause error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v: instruction %d (%s): %s", ErrUnverifiable, e.Slot, e.Text, e.Message)
	if e.State != "" {
		fmt.Fprintf(&b, " [%s]", e.State)
	}
	if e.Source != nil {
		fmt.Fprintf(&b, " at %s:%d: %s", e.Source.File, e.Source.Line, strings.TrimSpace(e.Source.Text))
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrUnverifiable) true, and errors.Is true for the cause.
func (e *Error) Unwrap() []error {
	if e.Cause != nil {
		return []error{ErrUnverifiable, e.Cause}
	}
	return []error{ErrUnverifiable}
}

// Verify checks p and returns what it found, or an error naming the first instruction
// that could not be proven safe.
func Verify(p *Program, opts *Options) (*Result, error) {
	if opts == nil {
		opts = &Options{}
	}
	a, err := newAnalysis(p, *opts)
	if err != nil {
		return nil, err
	}
	if err := a.checkKernelTarget(); err != nil {
		return nil, err
	}
	exit, err := a.run()
	if err != nil {
		return nil, err
	}
	res := &Result{Processed: a.processed, Warnings: a.warnings(), r0: interval.Bottom()}
	if exit != nil && !exit.bottom && exit.regs[0].k == kNum {
		res.r0 = exit.regs[0].num
	}
	return res, nil
}
