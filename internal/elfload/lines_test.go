package elfload_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/anybpf/anybpf/internal/elfload"
	"github.com/anybpf/anybpf/isa"
)

// TestLines: BTF line info is kept per program, indexed by the program's instructions,
// for the entry function and for the bpf-to-bpf callees appended to it.
func TestLines(t *testing.T) {
	obj, err := elfload.LoadFile(filepath.Join("..", "..", "testdata", "xdp_counter.o"))
	if err != nil {
		t.Fatal(err)
	}
	p := obj.Program("xdp_count")
	if len(p.Lines) == 0 {
		t.Fatal("no line info")
	}
	for i := 1; i < len(p.Lines); i++ {
		if p.Lines[i].Instruction < p.Lines[i-1].Instruction {
			t.Fatalf("lines not sorted: %+v", p.Lines)
		}
	}
	call := -1
	for i, ins := range p.Instructions {
		if ins.IsHelperCall() && ins.Constant == 1 {
			call = i
			break
		}
	}
	li := p.LineFor(call)
	if li == nil || li.Line != 36 || !strings.Contains(li.Text, "bpf_map_lookup_elem(&counts, &k)") || !strings.HasSuffix(li.File, "xdp_counter.c") || li.Col == 0 {
		t.Errorf("line of the first map lookup (instruction %d): %+v", call, li)
	}
	if p.LineFor(-1) != nil {
		t.Error("a line before the first instruction")
	}

	// A callee appended to the program keeps its lines.
	obj, err = elfload.LoadFile(filepath.Join("..", "..", "testdata", "oracle_maps.o"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range obj.Programs {
		offs, bySlot := isa.SlotIndex(p.Instructions)
		for i, ins := range p.Instructions {
			if !ins.IsLocalCall() {
				continue
			}
			start := bySlot[offs[i]+1+int(ins.Constant)]
			if l := p.LineFor(start); l != nil && l.Instruction == start && strings.Contains(l.Text, "2654435761u") {
				found = true
				if l.Line != 59 || !strings.HasSuffix(l.File, "oracle_maps.c") {
					t.Errorf("%s: mix starts at instruction %d with line %+v", p.Name, start, l)
				}
			}
		}
	}
	if !found {
		t.Error("no program has the line of mix")
	}
}
