package elfload

import (
	"debug/elf"
	"fmt"
	"sort"

	"github.com/anybpf/anybpf/isa"
	"github.com/anybpf/anybpf/progtype"
)

// loadFunctions splits every code section into functions: one per function symbol, or,
// in older objects without them, the whole section named after the section.
func (l *loader) loadFunctions() error {
	l.functions = map[funcKey]*function{}
	for i := 0; i < len(l.f.Sections); i++ {
		sec := l.sections[i]
		if sec.kind != kindCode {
			continue
		}
		insns, err := isa.Decode(sec.data)
		if err != nil {
			return fmt.Errorf("%w: section %s: %v", ErrInvalidObject, sec.Name, err)
		}
		_, bySlot := isa.SlotIndex(insns)
		kernelInsns, err := l.applyCORE(sec, insns, bySlot)
		if err != nil {
			return fmt.Errorf("section %s: %w", sec.Name, err)
		}

		var starts []elf.Symbol
		for _, s := range sec.syms {
			if s.Name != "" && elf.ST_TYPE(s.Info) == elf.STT_FUNC {
				if len(starts) > 0 && starts[len(starts)-1].Value == s.Value {
					continue // an alias
				}
				starts = append(starts, s)
			}
		}
		if len(starts) == 0 {
			starts = []elf.Symbol{{Name: sec.Name, Value: 0}}
		}
		for j, s := range starts {
			end := uint64(len(sec.data))
			if j+1 < len(starts) {
				end = starts[j+1].Value
			}
			if s.Value%isa.InstructionSize != 0 || end%isa.InstructionSize != 0 || s.Value > end || end > uint64(len(sec.data)) {
				return fmt.Errorf("%w: function %s in %s spans bytes %d..%d of %d", ErrInvalidObject, s.Name, sec.Name, s.Value, end, len(sec.data))
			}
			from, to := bySlot[s.Value/8], bySlot[end/8]
			if from < 0 || to < 0 {
				return fmt.Errorf("%w: function %s in %s starts or ends inside an lddw", ErrInvalidObject, s.Name, sec.Name)
			}
			fn := &function{name: s.Name, section: sec, offset: s.Value, insns: insns[from:to]}
			if kernelInsns != nil {
				fn.kernelInsns = kernelInsns[from:to]
			}
			fn.slots, _ = isa.SlotOffsets(fn.insns)
			l.functions[funcKey{i, s.Value}] = fn
		}
	}
	return nil
}

// loadPrograms turns every function into a program, linking in the functions it calls,
// in section order.
func (l *loader) loadPrograms() error {
	for i := 0; i < len(l.f.Sections); i++ {
		sec := l.sections[i]
		if sec.kind != kindCode {
			continue
		}
		var fns []*function
		for k, fn := range l.functions {
			if k.section == i {
				fns = append(fns, fn)
			}
		}
		sortFunctions(fns)
		for _, fn := range fns {
			p, err := l.link(fn)
			if err != nil {
				return fmt.Errorf("program %s (section %s): %w", fn.name, sec.Name, err)
			}
			l.obj.Programs = append(l.obj.Programs, p)
		}
	}
	return nil
}

func sortFunctions(fns []*function) {
	for i := 1; i < len(fns); i++ {
		for j := i; j > 0 && fns[j].offset < fns[j-1].offset; j-- {
			fns[j], fns[j-1] = fns[j-1], fns[j]
		}
	}
}

// link builds a program from its entry function and, transitively, its callees, and
// applies the relocations.
func (l *loader) link(entry *function) (*ProgramSpec, error) {
	p := &ProgramSpec{Name: entry.name, Section: entry.section.Name, Windows: l.obj.Windows}
	p.Type, p.AttachType, _ = progtype.FromSection(p.Section)
	order := []*function{entry}
	base := map[*function]int{entry: 0} // slot where each function starts in the program
	nextSlot := totalSlots(entry)
	add := func(fn *function) int {
		if b, ok := base[fn]; ok {
			return b
		}
		base[fn] = nextSlot
		order = append(order, fn)
		p.Callees = append(p.Callees, fn.name)
		nextSlot += totalSlots(fn)
		return base[fn]
	}
	for k := 0; k < len(order); k++ {
		fn := order[k]
		fnBase := base[fn]
		l.addLines(p, fn)
		insns, poison := fn.insns, l.poison
		if fn.kernelInsns != nil && !runsHere(p.Type) {
			insns, poison = fn.kernelInsns, l.kernelPoison
		}
		for j, ins := range insns {
			slot := fn.slots[j]
			secOff := fn.offset + uint64(slot)*isa.InstructionSize
			if reason, ok := poison[funcKey{fn.section.index, secOff}]; ok {
				// A function of .text on its own is poisoned, not refused: it is there for
				// the programs that call it, which may be tracing programs whose copy of it
				// resolved against the kernel (a poisoned program never runs).
				if runsHere(p.Type) && !(p.Type == progtype.Unspec && p.Section == ".text") {
					return nil, fmt.Errorf("instruction %d: %w", len(p.Instructions), &COREError{Reason: reason})
				}
				p.Poisoned = append(p.Poisoned, PoisonedInstruction{Instruction: len(p.Instructions), Reason: reason})
			}
			sym, hasReloc := fn.section.relocs[secOff]
			if addend, ok := fn.section.addends[secOff]; ok && hasReloc && ins.IsLDDW() {
				// A RELA relocation: the addend is what REL keeps in the immediate.
				ins.Constant = ins.Constant&^0xffffffff | int64(uint32(addend))
			}
			switch {
			case ins.IsLDDW() && hasReloc:
				ref, target, err := l.dataReference(ins, sym)
				if err != nil {
					return nil, fmt.Errorf("instruction %d: %w", fnBase+slot, err)
				}
				if target != nil { // address of a function (callbacks)
					ins.Src = isa.Register(isa.PseudoFunc)
					ins.Constant = int64(add(target) - (fnBase + slot + 1))
					break
				}
				ref.Instruction = len(p.Instructions)
				p.References = append(p.References, ref)
				ins.Src, ins.Constant = isa.Register(isa.PseudoMapFD), 0
				if ref.Value {
					ins.Src, ins.Constant = isa.Register(isa.PseudoMapValue), int64(ref.Offset)<<32
				}
			case ins.IsLocalCall():
				var target *function
				var err error
				if hasReloc {
					target, err = l.functionAt(sym, int64(sym.Value/isa.InstructionSize)+int64(ins.Imm())+1)
				} else {
					target, err = l.functionInSection(fn.section, int64(fn.offset/isa.InstructionSize)+int64(slot)+int64(ins.Imm())+1)
				}
				if err != nil {
					return nil, fmt.Errorf("instruction %d: call: %w", fnBase+slot, err)
				}
				ins.Constant = int64(add(target) - (fnBase + slot + 1))
			case hasReloc:
				return nil, fmt.Errorf("%w: instruction %d (%s) refers to %s, which would need linking against the kernel or another object", ErrNotSupported, fnBase+slot, ins, symbolName(sym))
			}
			p.Instructions = append(p.Instructions, ins)
		}
	}
	if p.Windows {
		if err := translateWindowsCalls(p); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// addLines appends the line info of fn, which starts at instruction
// len(p.Instructions) of p.
func (l *loader) addLines(p *ProgramSpec, fn *function) {
	if l.ext == nil {
		return
	}
	lines := l.ext.Lines[fn.section.Name]
	start := int(fn.offset / isa.InstructionSize)
	n := totalSlots(fn)
	from := sort.Search(len(lines), func(i int) bool { return int(lines[i].Offset) >= start })
	j := 0 // index into fn.insns
	for _, lo := range lines[from:] {
		slot := int(lo.Offset) - start
		if slot >= n {
			break
		}
		for j < len(fn.slots) && fn.slots[j] < slot {
			j++
		}
		if j == len(fn.slots) || fn.slots[j] != slot || lo.Line == nil {
			continue // inside an lddw: not an instruction boundary
		}
		p.Lines = append(p.Lines, LineInfo{
			Instruction: len(p.Instructions) + j,
			File:        lo.Line.FileName(),
			Line:        int(lo.Line.LineNumber()),
			Col:         int(lo.Line.LineColumn()),
			Text:        lo.Line.Line(),
		})
	}
}

func totalSlots(fn *function) int {
	_, n := isa.SlotOffsets(fn.insns)
	return n
}

func symbolName(sym elf.Symbol) string {
	if sym.Name != "" {
		return fmt.Sprintf("symbol %q", sym.Name)
	}
	return fmt.Sprintf("section %d", sym.Section)
}

// dataReference resolves the symbol of a 64-bit load: a map, global data, or a function.
func (l *loader) dataReference(ins isa.Instruction, sym elf.Symbol) (Reference, *function, error) {
	sec, ok := l.sections[int(sym.Section)]
	if !ok || sym.Section == elf.SHN_UNDEF {
		return Reference{}, nil, fmt.Errorf("%w: lddw refers to undefined %s (an extern)", ErrNotSupported, symbolName(sym))
	}
	switch sec.kind {
	case kindLegacyMaps, kindBTFMaps:
		name := sym.Name
		if elf.ST_TYPE(sym.Info) == elf.STT_SECTION {
			// Older objects refer to the section with the map's offset in imm.
			off := uint64(uint32(ins.Imm()))
			name = ""
			for _, s := range sec.syms {
				if s.Value == off && elf.ST_TYPE(s.Info) != elf.STT_SECTION && s.Name != "" {
					name = s.Name
				}
			}
			if name == "" {
				return Reference{}, nil, fmt.Errorf("%w: no map at offset %d of %s", ErrInvalidObject, off, sec.Name)
			}
		}
		if l.obj.Map(name) == nil {
			return Reference{}, nil, fmt.Errorf("%w: lddw refers to %q in %s, which is not a map", ErrInvalidObject, name, sec.Name)
		}
		return Reference{Map: name}, nil, nil
	case kindData:
		off := sym.Value + uint64(uint32(ins.Imm()))
		if off > sec.Size {
			return Reference{}, nil, fmt.Errorf("%w: reference to offset %d of %s (%d bytes)", ErrInvalidObject, off, sec.Name, sec.Size)
		}
		return Reference{Map: sec.Name, Value: true, Offset: uint32(off)}, nil, nil
	case kindCode:
		fn, err := l.functionAt(sym, int64(sym.Value/isa.InstructionSize)+int64(ins.Imm()/isa.InstructionSize))
		return Reference{}, fn, err
	}
	return Reference{}, nil, fmt.Errorf("%w: lddw refers to section %s", ErrNotSupported, sec.Name)
}

// functionAt finds the function starting at slot of the symbol's section.
func (l *loader) functionAt(sym elf.Symbol, slot int64) (*function, error) {
	sec, ok := l.sections[int(sym.Section)]
	if !ok || sym.Section == elf.SHN_UNDEF {
		return nil, fmt.Errorf("%w: call to undefined %s (an extern)", ErrNotSupported, symbolName(sym))
	}
	return l.functionInSection(sec, slot)
}

func (l *loader) functionInSection(sec *section, slot int64) (*function, error) {
	if slot < 0 {
		return nil, fmt.Errorf("%w: call before the start of %s", ErrInvalidObject, sec.Name)
	}
	fn, ok := l.functions[funcKey{sec.index, uint64(slot) * isa.InstructionSize}]
	if !ok {
		return nil, fmt.Errorf("%w: call target slot %d of %s is not the start of a function", ErrInvalidObject, slot, sec.Name)
	}
	return fn, nil
}
