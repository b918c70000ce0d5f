//go:build amd64 && linux

package jit_test

import (
	"path/filepath"
	"runtime"
	"testing"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/engine/jit"
	"github.com/anybpf/anybpf/internal/conformance"
	"github.com/anybpf/anybpf/internal/testutil"
	"github.com/anybpf/anybpf/isa"
)

// conformanceFloor is the number of bpf_conformance tests the JIT must pass.
const conformanceFloor = 313

// runJIT runs a conformance program the way conformance.Run does, but unchecked and
// without a budget, which the JIT refuses.
func runJIT(program, mem []byte) (uint64, error) {
	insns, err := isa.Decode(program)
	if err != nil {
		return 0, err
	}
	code, err := jit.Compile(insns, engine.Config{Helpers: conformance.Helpers()})
	if err != nil {
		return 0, err
	}
	env := engine.NewEnv()
	var r1, r2 uint64
	buf := append([]byte(nil), mem...)
	if len(buf) > 0 {
		r1, r2 = uint64(engine.RegionOf("mem", buf, true).Addr), uint64(len(buf))
	}
	r0, err := code.Run(env, r1, r2)
	runtime.KeepAlive(buf)
	return r0, err
}

func TestConformance(t *testing.T) {
	dir := testutil.CorpusDir(t, "bpf_conformance")
	files, err := filepath.Glob(filepath.Join(dir, "*.data"))
	if err != nil {
		t.Fatal(err)
	}
	passed := 0
	for _, f := range files {
		tc, err := conformance.ParseFile(f)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
			continue
		}
		prog, err := tc.Program()
		if err != nil {
			t.Errorf("%s: %v", tc.Name, err)
			continue
		}
		got, err := runJIT(prog, tc.Mem)
		switch {
		case tc.HasError && err != nil:
			passed++
		case tc.HasError:
			t.Logf("%s: got r0=%#x, want an error", tc.Name, got)
		case err != nil:
			t.Logf("%s: %v", tc.Name, err)
		case got != tc.Result:
			t.Logf("%s: r0 = %#x, want %#x", tc.Name, got, tc.Result)
		default:
			passed++
		}
	}
	t.Logf("jit: %d of %d passed", passed, len(files))
	if passed < conformanceFloor {
		t.Errorf("%d of %d passed, want at least %d", passed, len(files), conformanceFloor)
	}
}
