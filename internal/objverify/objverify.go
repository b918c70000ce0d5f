// Package objverify turns what the ELF loader found in an object into what the verifier
// checks.
package objverify

import (
	"slices"
	"strings"

	"github.com/anybpf/anybpf/internal/elfload"
	"github.com/anybpf/anybpf/progtype"
	"github.com/anybpf/anybpf/verifier"
)

// Program describes a program of a loaded object for the verifier: its instructions,
// type, context layout (ebpf-for-windows's for such objects), the object's maps (with
// the inner-map templates of maps of maps) and line info; for tracing and LSM programs,
// their attach target and the kernel's BTF the object was loaded with
// (elfload.Object.KernelBTF), when there is one.
func Program(obj *elfload.Object, ps *elfload.ProgramSpec) *verifier.Program {
	p := &verifier.Program{Name: ps.Name, Instructions: ps.Instructions, Type: ps.Type, AttachType: ps.AttachType}
	if ps.Windows {
		p.Context = progtype.WindowsContextFor(ps.Type, ps.AttachType)
		p.Windows = true
	} else if ps.Type == progtype.Tracing || ps.Type == progtype.LSM {
		// The attach target is what the section names after the type, and the kernel's
		// BTF (the object's, by default the running kernel's) types its arguments.
		if _, target, ok := strings.Cut(ps.Section, "/"); ok {
			p.AttachTo = target
		}
		if spec, err := obj.KernelBTF(); err == nil {
			p.KernelBTF = spec
		}
	}
	index := map[string]int{}
	for _, m := range obj.Maps {
		index[m.Name] = len(p.Maps)
		p.Maps = append(p.Maps, mapInfo(m))
	}
	for i, m := range obj.Maps {
		if m.InnerMap != nil {
			p.Maps[i].Inner = len(p.Maps)
			p.Maps = append(p.Maps, mapInfo(m.InnerMap))
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

// mapInfo is what the verifier needs of a map.
func mapInfo(m *elfload.MapSpec) verifier.MapInfo {
	return verifier.MapInfo{Name: m.Name, Type: m.Type, KeySize: m.KeySize, ValueSize: m.ValueSize, MaxEntries: m.MaxEntries, ReadOnly: m.ReadOnly, Inner: -1,
		SpinLock: m.SpinLock, SpinLockOffset: m.SpinLockOffset}
}

// Callers returns the programs of obj that call ps's function, directly or not, when ps
// is a function of .text (which libbpf, cilium/ebpf and Linux take as part of the
// programs calling it, not as a program): what its arguments are is only known there.
// Other functions of .text are not callers; nil when ps is not in .text.
func Callers(obj *elfload.Object, ps *elfload.ProgramSpec) []*elfload.ProgramSpec {
	if ps.Section != ".text" {
		return nil
	}
	var out []*elfload.ProgramSpec
	for _, p := range obj.Programs {
		if p.Section != ".text" && slices.Contains(p.Callees, ps.Name) {
			out = append(out, p)
		}
	}
	return out
}
