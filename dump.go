package anybpf

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"github.com/anybpf/anybpf/helpers"
	"github.com/anybpf/anybpf/isa"
	"github.com/anybpf/anybpf/maps"
)

// Entry is one element of a map as Dump returns it. Values holds one value per CPU for
// per-CPU maps; Value is set otherwise. Queue and stack elements have an empty Key.
type Entry struct {
	Key    []byte
	Value  []byte
	Values [][]byte
}

// Dump returns every element of the map: in index order for arrays, in byte order of
// the keys for hash maps and LPM tries (their own order changes from map to map), in pop
// order for queues and stacks. Ring buffers, perf event arrays and program arrays' slots
// are not dumped (their contents are not values).
func (m *Map) Dump() ([]Entry, error) {
	if err := m.usable(); err != nil {
		return nil, err
	}
	if q, ok := m.m.(maps.QueueMap); ok {
		var out []Entry
		for _, v := range q.Elements() {
			out = append(out, Entry{Key: []byte{}, Value: v})
		}
		return out, nil
	}
	switch m.m.(type) {
	case *maps.RingBuffer, *maps.PerfEvents:
		return nil, fmt.Errorf("map %s: %w: %s maps are read with readers", m.name, ErrNotSupported, m.m.Spec().Type)
	}
	spec := m.m.Spec()
	var out []Entry
	var key []byte
	next := make([]byte, spec.KeySize)
	for m.m.NextKey(key, next) == nil {
		key = append(key[:0], next...)
		buf := make([]byte, m.valueSize())
		if err := m.m.Lookup(key, buf); err != nil {
			continue // deleted meanwhile, or an empty slot
		}
		e := Entry{Key: append([]byte(nil), key...)}
		if m.ncpu > 1 {
			stride := int((spec.ValueSize + 7) &^ 7)
			for cpu := 0; cpu < m.ncpu; cpu++ {
				e.Values = append(e.Values, buf[cpu*stride:cpu*stride+int(spec.ValueSize)])
			}
		} else {
			e.Value = buf
		}
		out = append(out, e)
	}
	switch spec.Type {
	case maps.Array, maps.PerCPUArray, maps.ProgArray, maps.ArrayOfMaps, maps.DevMap, maps.CPUMap, maps.XSKMap:
	default:
		sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i].Key, out[j].Key) < 0 })
	}
	return out, nil
}

// Xlated returns the program as it runs, one line per instruction in llvm-objdump
// syntax, with map loads and helper calls named, like bpftool prog dump xlated. When the
// object has BTF line info, the source line of each statement comes first, as a line
// "; TEXT @ FILE:LINE".
func (p *Program) Xlated() []string {
	offs, _ := isa.SlotOffsets(p.insns)
	lines := make([]string, 0, len(p.insns)+len(p.lines))
	src := p.lines
	for i, ins := range p.insns {
		for len(src) > 0 && src[0].Instruction <= i {
			if src[0].Instruction == i && src[0].Text != "" {
				lines = append(lines, fmt.Sprintf("; %s @ %s:%d", strings.TrimSpace(src[0].Text), filepath.Base(src[0].File), src[0].Line))
			}
			src = src[1:]
		}
		text := ins.String()
		switch {
		case ins.IsLDDW():
			v := uint64(ins.Constant)
			if m, ok := p.rt.mapByHandle(v); ok {
				text = fmt.Sprintf("r%d = map[%s] ll", ins.Dst, m.name)
			} else if v&^0xffff_ffff == funcHandleBase {
				text = fmt.Sprintf("r%d = func(%d) ll", ins.Dst, v&0xffff_ffff)
			} else {
				for _, r := range p.regions {
					if v >= uint64(r.Addr) && v < uint64(r.Addr)+uint64(r.Size) {
						text = fmt.Sprintf("r%d = map[%s][0]+%d ll", ins.Dst, r.Name, v-uint64(r.Addr))
					}
				}
			}
		case ins.IsHelperCall():
			text = fmt.Sprintf("call bpf_%s#%d", helpers.ID(ins.Imm()), ins.Imm())
		}
		lines = append(lines, fmt.Sprintf("%4d: %s", offs[i], text))
	}
	return lines
}

// JITed returns the program's native code, like bpftool prog dump jited: each eBPF
// instruction (as Xlated shows it) followed by the x86-64 instructions it became, in GNU
// syntax with their offsets. It fails with ErrNotSupported unless the program was
// compiled by the JIT (RuntimeConfig.WithEngine("jit")).
func (p *Program) JITed() ([]string, error) {
	n, ok := p.code.(interface{ Native() ([]byte, []int) })
	if !ok {
		return nil, fmt.Errorf("program %s: %w: it was not compiled by the JIT", p.Name, ErrNotSupported)
	}
	text, slots := n.Native()
	if text == nil {
		return nil, fmt.Errorf("program %s: %w", p.Name, ErrClosed)
	}
	xlated := p.Xlated()
	offs, _ := isa.SlotOffsets(p.insns)
	var out []string
	disasm := func(from, to int) {
		for pc := from; pc < to; {
			inst, err := x86asm.Decode(text[pc:to], 64)
			if err != nil || inst.Len == 0 {
				out = append(out, fmt.Sprintf("\t%4x:\t(bad)", pc))
				pc++
				continue
			}
			out = append(out, fmt.Sprintf("\t%4x:\t%s", pc, x86asm.GNUSyntax(inst, uint64(pc), nil)))
			pc += inst.Len
		}
	}
	start := func(i int) int {
		if i >= len(offs) {
			return len(text)
		}
		return slots[offs[i]]
	}
	out = append(out, "; entry")
	disasm(0, start(0))
	line := 0
	for i := range p.insns {
		// Xlated's source lines come before the instruction they belong to.
		for line < len(xlated) && strings.HasPrefix(xlated[line], ";") {
			out = append(out, xlated[line])
			line++
		}
		if line < len(xlated) {
			out = append(out, xlated[line])
			line++
		}
		if i == len(p.insns)-1 {
			out = append(out, "; (this instruction's code, then the exit sequences all instructions share)")
		}
		disasm(start(i), start(i+1))
	}
	return out, nil
}
