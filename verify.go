package anybpf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/cilium/ebpf/btf"

	"github.com/anybpf/anybpf/internal/elfload"
	"github.com/anybpf/anybpf/internal/objverify"
	"github.com/anybpf/anybpf/isa"
	"github.com/anybpf/anybpf/progtype"
	"github.com/anybpf/anybpf/verifier"
)

// ErrUnverifiable is wrapped by the errors about programs the verifier refuses.
var ErrUnverifiable = verifier.ErrUnverifiable

// WithUnverifiedPrograms turns verification off: programs run without the verifier's
// proof, protected only by the interpreter's checked mode. It exists for tests and for
// running hand-written bytecode; a runtime that loads programs it does not trust must
// not use it.
func (c RuntimeConfig) WithUnverifiedPrograms() RuntimeConfig {
	c.unverified = true
	return c
}

// verifyProgram runs the verifier on one program of an object. Programs without a type
// (functions in .text, raw code) are checked with the runtime's convention for them: r1
// points to the data, r2 is its size.
func (rt *Runtime) verifyProgram(obj *elfload.Object, ps *elfload.ProgramSpec) (*verifier.Result, error) {
	res, err := verifier.Verify(objverify.Program(obj, ps), nil)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	return res, nil
}

// ProgramVerdict is the verifier's judgement of one program of an object.
type ProgramVerdict struct {
	Name, Section string
	Type          progtype.Type
	// Instructions is the program's size in 8-byte slots (what disassemblers number).
	Instructions int
	// Processed is the number of instructions the verifier processed.
	Processed int
	// Duration is how long the verification took.
	Duration time.Duration
	// Warnings are what the verifier flags without refusing (a division by a value that
	// may be zero, say).
	Warnings []string
	// Returns is the verifier's range for r0 at exit, when verified.
	Returns string
	// CalledBy, when set, names the programs a function of .text was verified within: it
	// is not verifiable on its own (nothing says what its arguments are), but every
	// program that calls it verifies with it, which is how libbpf, cilium/ebpf and Linux
	// take such functions (part of their callers, never loaded alone).
	CalledBy []string
	// Err is why the program was refused (it wraps ErrUnverifiable and, with errors.As,
	// gives a *verifier.Error with the instruction and source line), nil when verified.
	Err error
}

// ErrNeedType is returned by VerifyFileWith for raw bytecode without a program type.
var ErrNeedType = errors.New("raw bytecode has no program type: say which (type xdp, socket, cgroup/connect4, ...)")

// VerifyOptions selects the programs VerifyFileWith judges and how.
type VerifyOptions struct {
	// Name and Section, when set, keep only the program of that name, or those of that
	// section.
	Name, Section string
	// Type, when not progtype.Unspec, is the program type the programs are verified as
	// (with AttachType), instead of what their sections say. Raw bytecode needs it.
	Type       progtype.Type
	AttachType progtype.AttachType
	// Log, when set, gets the verifier's log of every program (verifier.Options.Log),
	// each after a line "; program NAME (section SEC)".
	Log io.Writer
	// KernelBTF is the BTF of the kernel the object's programs of types anybpf does not
	// run (tracing, kprobes, LSM, ...) are meant for: their CO-RE relocations are
	// resolved against it, as libbpf does, and the verifier types the kernel pointers of
	// tracing programs (fentry, fexit, fmod_ret, tp_btf, lsm) with it. nil means the
	// running kernel's (/sys/kernel/btf/vmlinux) when there is one; without any, tracing
	// programs are refused at their first read of an argument.
	KernelBTF *btf.Spec
	// NoKernelBTF uses no kernel BTF, not even the running kernel's.
	NoKernelBTF bool
	// AttachTo, when set, is the kernel function, tracepoint or LSM hook tracing
	// programs attach to, instead of what their sections name (raw bytecode has none).
	AttachTo string
}

// VerifyFile runs the verifier on every program of the object at path, without loading
// anything into a runtime; it works for program types anybpf cannot run too. The error
// is about the object itself (it cannot be parsed); each program's verdict is in the
// list.
func VerifyFile(path string) ([]ProgramVerdict, error) {
	return VerifyFileWith(path, VerifyOptions{})
}

// VerifyFileWith is VerifyFile with options. A file that is not ELF is read as raw
// bytecode (8-byte little-endian instructions), one program named after nothing, which
// needs opts.Type (ErrNeedType).
func VerifyFileWith(path string, opts VerifyOptions) ([]ProgramVerdict, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var obj *elfload.Object
	if bytes.HasPrefix(b, []byte("\x7fELF")) {
		lopts := elfload.Options{KernelBTF: opts.KernelBTF, NoKernelBTF: opts.NoKernelBTF}
		if obj, err = elfload.LoadWith(bytes.NewReader(b), lopts); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	} else {
		if opts.Type == progtype.Unspec {
			return nil, fmt.Errorf("%s: %w", path, ErrNeedType)
		}
		insns, err := isa.Decode(b)
		if err != nil {
			return nil, fmt.Errorf("%s: not ELF, and not raw bytecode: %w", path, err)
		}
		obj = &elfload.Object{Programs: []*elfload.ProgramSpec{{Instructions: insns}}}
	}
	var out []ProgramVerdict
	callers := callerVerdicts{}
	for _, ps := range obj.Programs {
		if (opts.Name != "" && ps.Name != opts.Name) || (opts.Section != "" && ps.Section != opts.Section) {
			continue
		}
		if opts.Type != progtype.Unspec {
			typed := *ps
			typed.Type, typed.AttachType = opts.Type, opts.AttachType
			ps = &typed
		}
		v := ProgramVerdict{Name: ps.Name, Section: ps.Section, Type: ps.Type}
		for _, ins := range ps.Instructions {
			v.Instructions += ins.Slots()
		}
		start := time.Now()
		var vopts *verifier.Options
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, "; program %s (section %s)\n", ps.Name, ps.Section)
			vopts = &verifier.Options{Log: opts.Log}
		}
		p := objverify.Program(obj, ps)
		if opts.AttachTo != "" {
			p.AttachTo = opts.AttachTo
		}
		res, err := verifier.Verify(p, vopts)
		if err != nil && opts.Type == progtype.Unspec {
			v.CalledBy, v.Processed = callers.within(obj, objverify.Callers(obj, ps))
		}
		v.Duration = time.Since(start)
		switch {
		case v.CalledBy != nil:
		case err != nil:
			v.Err = err
		default:
			v.Processed, v.Warnings, v.Returns = res.Processed, res.Warnings, res.Returns()
		}
		out = append(out, v)
	}
	return out, nil
}

// callerVerdicts holds the verdicts of the programs that call functions of .text, each
// verified once however many of those functions it calls: the instructions processed,
// or -1 when refused.
type callerVerdicts map[*elfload.ProgramSpec]int

// within verifies callers, the programs that call a function; it returns their names
// and the instructions processed when every one verifies, nil otherwise.
func (cv callerVerdicts) within(obj *elfload.Object, callers []*elfload.ProgramSpec) ([]string, int) {
	var names []string
	total := 0
	for _, c := range callers {
		processed, done := cv[c]
		if !done {
			processed = -1
			if res, err := verifier.Verify(objverify.Program(obj, c), nil); err == nil {
				processed = res.Processed
			}
			cv[c] = processed
		}
		if processed < 0 {
			return nil, 0
		}
		names = append(names, c.Name)
		total += processed
	}
	return names, total
}
