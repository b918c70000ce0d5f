package interp_test

import (
	"path/filepath"
	"testing"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/engine/interp"
	"github.com/anybpf/anybpf/internal/conformance"
	"github.com/anybpf/anybpf/isa"
)

// FuzzCheckedRun runs arbitrary bytes as a program in checked mode with a budget: it must
// never panic, crash or hang, whatever the program does.
func FuzzCheckedRun(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "..", "shared", "corpus", "bpf_conformance", "*.data"))
	for _, file := range files {
		tc, err := conformance.ParseFile(file)
		if err != nil {
			continue
		}
		if prog, err := tc.Program(); err == nil {
			f.Add(prog, tc.Mem)
		}
	}
	f.Fuzz(func(t *testing.T, program, mem []byte) {
		insns, err := isa.Decode(program)
		if err != nil {
			return
		}
		code, err := interp.Compile(insns, engine.Config{Checked: true, Budget: 20000, Helpers: conformance.Helpers()})
		if err != nil {
			return
		}
		_, env, _ := runWith(t, code, mem)
		if env.Executed > 20000+uint64(len(program)) {
			t.Fatalf("executed %d instructions with a budget of 20000", env.Executed)
		}
	})
}
