package cfg_test

import (
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anybpf/anybpf/internal/elfload"
	"github.com/anybpf/anybpf/internal/testutil"
	"github.com/anybpf/anybpf/verifier/internal/cfg"
)

// expectations reads prevail_expectations.csv: status by "project/object/function".
func expectations(t *testing.T, dir string) map[string]string {
	f, err := os.Open(filepath.Join(dir, "prevail_expectations.csv"))
	if err != nil {
		t.Logf("no expectations: %v", err)
		return nil
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("prevail_expectations.csv: %v", err)
	}
	out := map[string]string{}
	for _, row := range rows[1:] {
		if len(row) >= 6 {
			out[row[0]+"/"+row[1]+"/"+row[3]] = row[5]
		}
	}
	return out
}

// TestCorpus builds the graphs and WTOs of every program of every sample object. A
// program may fail only if PREVAIL's expectations mark it rejected.
func TestCorpus(t *testing.T) {
	dir := testutil.CorpusDir(t, "ebpf-samples")
	expect := expectations(t, dir)
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(p) != ".csv" && filepath.Ext(p) != ".json" &&
			filepath.Ext(p) != ".md" && filepath.Ext(p) != ".txt" && filepath.Ext(p) != ".sha256" {
			files = append(files, p)
		}
		return nil
	})
	objects, unloadable, programs, built, loops, irreducible := 0, 0, 0, 0, 0, 0
	funcs, multi, callbacks, instructions := 0, 0, 0, 0
	failures := map[string]int{}
	for _, path := range files {
		obj, err := elfload.LoadFile(path)
		rel, _ := filepath.Rel(dir, path)
		if err != nil {
			t.Logf("%s: not loadable: %v", rel, err)
			unloadable++
			continue
		}
		objects++
		project := strings.SplitN(filepath.ToSlash(rel), "/", 2)[0]
		for _, prog := range obj.Programs {
			programs++
			p, err := cfg.Build(prog.Instructions)
			if errors.Is(err, cfg.ErrUnreachable) {
				status := expect[project+"/"+filepath.Base(path)+"/"+prog.Name]
				t.Logf("%s: %s: %v (expected: %s); built with AllowUnreachable", rel, prog.Name, err, status)
				failures["unreachable instruction ("+status+"), built with AllowUnreachable"]++
				p, err = cfg.Options{AllowUnreachable: true}.Build(prog.Instructions)
			}
			if err != nil {
				status := expect[project+"/"+filepath.Base(path)+"/"+prog.Name]
				var sentinel error
				for _, s := range []error{cfg.ErrEmpty, cfg.ErrJumpOutOfRange, cfg.ErrJumpIntoLDDW, cfg.ErrFallOffEnd, cfg.ErrUnreachable, cfg.ErrRecursion} {
					if errors.Is(err, s) {
						sentinel = s
					}
				}
				failures[sentinel.Error()+" ("+status+")"]++
				msg := rel + ": " + prog.Name + ": " + err.Error() + " (expected: " + status + ")"
				if strings.HasPrefix(status, "reject") {
					t.Log(msg)
				} else {
					t.Error(msg)
				}
				continue
			}
			built++
			checkWTO(t, p)
			funcs += len(p.Funcs)
			instructions += len(p.Insns)
			if len(p.Funcs) > 1 {
				multi++
			}
			for _, c := range p.Calls {
				if c.Kind == cfg.Callback {
					callbacks++
				}
			}
			for _, f := range p.Funcs {
				if len(f.WTO.Heads()) > 0 {
					loops++
					break
				}
			}
			if hasIrreducible(p) {
				irreducible++
			}
		}
	}
	t.Logf("%d objects loaded (%d files not loadable), %d programs, %d graphs built (%d instructions, %d functions, %d programs with subprograms, %d callback references, %d programs with loops, %d irreducible), failures: %v",
		objects, unloadable, programs, built, instructions, funcs, multi, callbacks, loops, irreducible, failures)
}

// hasIrreducible reports whether some loop of p is entered other than through its head.
func hasIrreducible(p *cfg.Program) bool {
	for _, f := range p.Funcs {
		for _, h := range f.WTO.Heads() {
			for _, i := range f.WTO.Component(h) {
				if i == h {
					continue
				}
				for _, e := range f.Preds(i) {
					if !f.WTO.InComponent(e.From, h) {
						return true
					}
				}
			}
		}
	}
	return false
}
