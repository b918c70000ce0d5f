//go:build amd64 && linux

package jit

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/anybpf/anybpf/isa"
)

// BenchmarkTranslate measures translation to machine code alone, without mapping it
// executable, in ns per 1000 eBPF instructions.
func BenchmarkTranslate(b *testing.B) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "bench", "programs", "*.bin"))
	var progs [][]isa.Instruction
	n := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		insns, err := isa.Decode(raw)
		if err != nil {
			b.Fatal(err)
		}
		progs = append(progs, insns)
		n += len(insns)
	}
	if n == 0 {
		b.Skip("no benchmark programs")
	}
	for b.Loop() {
		for _, insns := range progs {
			offs, bySlot := isa.SlotIndex(insns)
			c := &compiler{insns: insns, offs: offs, bySlot: bySlot}
			if err := c.compile(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n)*1000, "ns/1000insns")
}
