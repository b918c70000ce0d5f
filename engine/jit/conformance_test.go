//go:build amd64 && linux

package jit_test

import (
	"path/filepath"
	"testing"

	"github.com/anybpf/anybpf/engine/jit"
	"github.com/anybpf/anybpf/internal/conformance"
	"github.com/anybpf/anybpf/internal/testutil"
)

// conformanceFloor is the number of bpf_conformance tests the JIT must pass.
const conformanceFloor = 313

func TestConformance(t *testing.T) {
	dir := testutil.CorpusDir(t, "bpf_conformance")
	files, err := filepath.Glob(filepath.Join(dir, "*.data"))
	if err != nil {
		t.Fatal(err)
	}
	for _, checked := range []bool{false, true} {
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
			got, err := conformance.Run(jit.New(), prog, tc.Mem, checked) // with the suite's budget
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
		t.Logf("jit (checked=%v): %d of %d passed", checked, passed, len(files))
		if passed < conformanceFloor {
			t.Errorf("checked=%v: %d of %d passed, want at least %d", checked, passed, len(files), conformanceFloor)
		}
	}
}
