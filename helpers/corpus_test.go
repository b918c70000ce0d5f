package helpers_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/anybpf/anybpf/helpers"
	"github.com/anybpf/anybpf/internal/elfload"
	"github.com/anybpf/anybpf/internal/testutil"
)

// TestCorpusPrototypes checks that every helper the sample objects call has a prototype,
// which the verifier needs to judge them.
func TestCorpusPrototypes(t *testing.T) {
	dir := testutil.CorpusDir(t, "ebpf-samples")
	missing := map[string][]string{}
	calls := 0
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".o") {
			return nil
		}
		obj, err := elfload.LoadFile(p)
		if err != nil {
			return nil
		}
		for _, pr := range obj.Programs {
			for _, ins := range pr.Instructions {
				if !ins.IsHelperCall() || ins.Imm() == elfload.COREPoisonHelper {
					continue // poisoned CO-RE relocations are the loader's business
				}
				calls++
				if _, ok := helpers.Lookup(helpers.ID(ins.Imm())); !ok {
					name := helpers.ID(ins.Imm()).String()
					missing[name] = append(missing[name], filepath.Base(p))
				}
			}
		}
		return nil
	})
	if calls == 0 {
		t.Fatal("no helper calls found in the corpus")
	}
	var names []string
	for n := range missing {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Errorf("bpf_%s has no prototype (called in %s)", n, strings.Join(missing[n], ", "))
	}
}
