package anybpf

import (
	"fmt"

	"github.com/anybpf/anybpf/internal/elfload"
	"github.com/anybpf/anybpf/internal/objverify"
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
	// Processed is the number of instructions the verifier processed.
	Processed int
	// Err is why the program was refused (it wraps ErrUnverifiable), nil when verified.
	Err error
}

// VerifyFile runs the verifier on every program of the object at path, without loading
// anything into a runtime; it works for program types anybpf cannot run too. The error
// is about the object itself (it cannot be parsed); each program's verdict is in the
// list.
func VerifyFile(path string) ([]ProgramVerdict, error) {
	obj, err := elfload.LoadFile(path)
	if err != nil {
		return nil, err
	}
	var out []ProgramVerdict
	for _, ps := range obj.Programs {
		v := ProgramVerdict{Name: ps.Name, Section: ps.Section, Type: ps.Type}
		res, err := verifier.Verify(objverify.Program(obj, ps), nil)
		if err != nil {
			v.Err = err
		} else {
			v.Processed = res.Processed
		}
		out = append(out, v)
	}
	return out, nil
}
