package anybpf

import (
	"fmt"

	"github.com/anybpf/anybpf/internal/elfload"
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

// verifierProgram describes a program of an object for the verifier.
func verifierProgram(obj *elfload.Object, ps *elfload.ProgramSpec) *verifier.Program {
	p := &verifier.Program{Name: ps.Name, Instructions: ps.Instructions, Type: ps.Type, AttachType: ps.AttachType}
	if ps.Windows {
		p.Context = progtype.WindowsContextFor(ps.Type, ps.AttachType)
		p.Windows = true
	}
	index := map[string]int{}
	for _, m := range obj.Maps {
		index[m.Name] = len(p.Maps)
		p.Maps = append(p.Maps, verifierMap(m))
	}
	for i, m := range obj.Maps {
		if m.InnerMap != nil {
			p.Maps[i].Inner = len(p.Maps)
			p.Maps = append(p.Maps, verifierMap(m.InnerMap))
		}
	}
	for _, r := range ps.References {
		p.MapRefs = append(p.MapRefs, verifier.MapRef{Instruction: r.Instruction, Map: index[r.Map], Value: r.Value, Offset: int64(r.Offset)})
	}
	for _, l := range ps.Lines {
		p.Lines = append(p.Lines, verifier.SourceLine{Instruction: l.Instruction, File: l.File, Line: l.Line, Text: l.Text})
	}
	return p
}

func verifierMap(m *elfload.MapSpec) verifier.MapInfo {
	return verifier.MapInfo{Name: m.Name, Type: m.Type, KeySize: m.KeySize, ValueSize: m.ValueSize, MaxEntries: m.MaxEntries, ReadOnly: m.ReadOnly, Inner: -1}
}

// verifyProgram runs the verifier on one program of an object. Programs without a type
// (functions in .text, raw code) are checked with the runtime's convention for them: r1
// points to the data, r2 is its size.
func (rt *Runtime) verifyProgram(obj *elfload.Object, ps *elfload.ProgramSpec) (*verifier.Result, error) {
	res, err := verifier.Verify(verifierProgram(obj, ps), nil)
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
		res, err := verifier.Verify(verifierProgram(obj, ps), nil)
		if err != nil {
			v.Err = err
		} else {
			v.Processed = res.Processed
		}
		out = append(out, v)
	}
	return out, nil
}
