package bench

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/engine/jit"
	"github.com/anybpf/anybpf/internal/elfload"
	"github.com/anybpf/anybpf/isa"
)

// corpusDir holds the sample corpus of eBPF objects (ELF), when present.
var corpusDir = filepath.Join("..", "..", "shared", "corpus", "ebpf-samples")

// corpusProgram is a corpus program ready for the JIT: references resolved to dummy
// constants and a helper for every id it calls.
type corpusProgram struct {
	name    string
	insns   []isa.Instruction
	helpers map[int32]engine.HelperFunc
}

// corpusPrograms loads every program of the corpus that the JIT compiles.
func corpusPrograms(tb testing.TB) []corpusProgram {
	dir := os.Getenv("ANYBPF_CORPUS")
	if dir == "" {
		dir = corpusDir
	}
	var files []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(path) == ".o" && !strings.Contains(path, "invalid") {
			files = append(files, path)
		}
		return nil
	})
	if len(files) == 0 {
		tb.Skipf("no corpus in %s (set ANYBPF_CORPUS)", dir)
	}
	nop := func(*engine.Env, uint64, uint64, uint64, uint64, uint64) uint64 { return 0 }
	var out []corpusProgram
	for _, f := range files {
		obj, err := elfload.LoadFile(f)
		if err != nil {
			continue
		}
		for _, ps := range obj.Programs {
			insns := slices.Clone(ps.Instructions)
			helpers := map[int32]engine.HelperFunc{}
			for i := range insns {
				ins := &insns[i]
				switch {
				case ins.IsLDDW() && ins.Src != isa.Register(isa.PseudoNone):
					ins.Src, ins.Constant = isa.Register(isa.PseudoNone), 0x1000
				case ins.IsHelperCall():
					helpers[ins.Imm()] = nop
				}
			}
			if _, err := jit.Compile(insns, engine.Config{Helpers: helpers}); err != nil {
				continue
			}
			rel, _ := filepath.Rel(dir, f)
			out = append(out, corpusProgram{name: rel + "/" + ps.Name, insns: insns, helpers: helpers})
		}
	}
	return out
}

// BenchmarkJITCompileCorpus compiles every program of the sample corpus that the JIT
// takes (unchecked, as the runtime compiles verified programs), grouped by size, and
// reports the compile time per 1000 instructions of each group (its total time over
// its total instructions) and of its slowest program.
func BenchmarkJITCompileCorpus(b *testing.B) {
	if !jit.Supported {
		b.Skip("no JIT on this platform")
	}
	progs := corpusPrograms(b)
	groups := []struct {
		name     string
		min, max int
	}{{"small(<100)", 0, 99}, {"medium(100-999)", 100, 999}, {"large(>=1000)", 1000, 1 << 30}}
	for _, g := range groups {
		var sel []corpusProgram
		insns := 0
		for _, p := range progs {
			if n := len(p.insns); n >= g.min && n <= g.max {
				sel = append(sel, p)
				insns += len(p.insns)
			}
		}
		if len(sel) == 0 {
			continue
		}
		b.Run(g.name, func(b *testing.B) {
			worst := make([]int64, len(sel))
			for b.Loop() {
				for i, p := range sel {
					t := nanotime()
					if _, err := jit.Compile(p.insns, engine.Config{Helpers: p.helpers}); err != nil {
						b.Fatal(err)
					}
					d := nanotime() - t
					worst[i] += d
				}
			}
			w, wi := 0.0, 0
			for i, d := range worst {
				if per := float64(d) / float64(b.N) / float64(len(sel[i].insns)) * 1000; per > w {
					w, wi = per, i
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(insns)*1000, "ns/1000insns")
			b.ReportMetric(float64(len(sel)), "programs")
			b.ReportMetric(float64(insns)/float64(len(sel)), "insns/program")
			b.ReportMetric(w, "worst-ns/1000insns")
			b.Logf("%s: %d programs, %d instructions; slowest per instruction: %s (%d instructions)", g.name, len(sel), insns, sel[wi].name, len(sel[wi].insns))
		})
	}
}
