package progtype_test

import (
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/anybpf/anybpf/helpers"
	"github.com/anybpf/anybpf/internal/elfload"
	"github.com/anybpf/anybpf/internal/testutil"
	"github.com/anybpf/anybpf/progtype"
)

// corpusPrograms returns every program of the sample objects with its expectation
// ("pass", "reject", ...; "" when prevail_expectations.csv has no row for it), keyed by
// "object/section/function".
func corpusPrograms(t *testing.T) (progs []*elfload.ProgramSpec, keys []string, status map[string]string) {
	dir := testutil.CorpusDir(t, "ebpf-samples")
	f, err := os.Open(filepath.Join(dir, "prevail_expectations.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	status = map[string]string{}
	for _, r := range rows[1:] {
		status[r[0]+"/"+r[1]+"/"+r[2]+"/"+r[3]] = r[5]
	}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".o") || strings.HasSuffix(p, ".elf")) || strings.Contains(p, "/invalid/") {
			return nil
		}
		obj, err := elfload.LoadFile(p)
		if err != nil {
			return nil // TestCorpus of internal/elfload judges load errors
		}
		rel, _ := filepath.Rel(dir, p)
		for _, prog := range obj.Programs {
			progs = append(progs, prog)
			keys = append(keys, rel+"/"+prog.Section+"/"+prog.Name)
		}
		return nil
	})
	return progs, keys, status
}

// TestCorpusLinuxContexts checks every context access of every sample program whose
// type LinuxContextFor describes against that descriptor. A refusal of a program that
// the expectations mark pass is a bug in a descriptor.
func TestCorpusLinuxContexts(t *testing.T) {
	progs, keys, status := corpusPrograms(t)
	checked, accessing, byStatus := map[progtype.Type]int{}, map[progtype.Type]int{}, map[string]int{}
	for i, p := range progs {
		c := progtype.LinuxContextFor(p.Type, p.AttachType)
		if c == nil {
			continue
		}
		checked[p.Type]++
		want := status[keys[i]]
		byStatus[want]++
		if _, err := progtype.RewriteContext(p.Instructions, &progtype.Context{Name: "nothing"}); err != nil {
			accessing[p.Type]++
		}
		_, err := progtype.RewriteContext(p.Instructions, c)
		if errors.Is(err, progtype.ErrNotSupported) {
			// A socket pointer: the descriptor allows the load, the runtime cannot
			// give it.
			t.Logf("%s (%s, %s): %v", keys[i], p.Type, want, err)
			err = nil
		}
		switch {
		case err != nil && want == "pass":
			t.Errorf("%s (%s, expected to pass): %v", keys[i], p.Type, err)
		case err != nil:
			t.Logf("%s (%s, expectation %q): refused: %v", keys[i], p.Type, want, err)
		}
	}
	t.Logf("programs checked per type: %s; by expectation: %v", perType(checked, accessing, "read their context"), byStatus)
	if len(checked) == 0 {
		t.Error("no program checked")
	}
}

// TestCorpusHelpers checks every helper call of every typed sample program against the
// helper set of its type (CheckHelper). A refusal of a program that the expectations
// mark pass is a bug in the table.
func TestCorpusHelpers(t *testing.T) {
	progs, keys, status := corpusPrograms(t)
	checked, calling := map[progtype.Type]int{}, map[progtype.Type]int{}
	refused := 0
	for i, p := range progs {
		if p.Type == progtype.Unspec {
			continue
		}
		checked[p.Type]++
		want := status[keys[i]]
		var err error
		calls := false
		for _, ins := range p.Instructions {
			if ins.IsHelperCall() && ins.Imm() != elfload.COREPoisonHelper {
				calls = true
				if err == nil {
					err = progtype.CheckHelper(p.Type, helpers.ID(ins.Imm()).String())
				}
			}
		}
		if calls {
			calling[p.Type]++
		}
		switch {
		case err != nil && want == "pass":
			t.Errorf("%s (%s, expected to pass): %v", keys[i], p.Type, err)
		case err != nil:
			refused++
			t.Logf("%s (%s, expectation %q): refused: %v", keys[i], p.Type, want, err)
		}
	}
	t.Logf("programs checked per type: %s; %d refused", perType(checked, calling, "call helpers"), refused)
}

func perType(n, m map[progtype.Type]int, what string) string {
	var out []string
	for ty, k := range n {
		out = append(out, fmt.Sprintf("%s %d (%d %s)", ty, k, m[ty], what))
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
