package elfload_test

import (
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anybpf/anybpf/internal/elfload"
	"github.com/anybpf/anybpf/internal/testutil"
	"github.com/anybpf/anybpf/progtype"
)

// expectation is one row of prevail_expectations.csv.
type expectation struct {
	project, object, section, function, status string
}

func readExpectations(t *testing.T, dir string) []expectation {
	f, err := os.Open(filepath.Join(dir, "prevail_expectations.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []expectation
	for _, r := range rows[1:] {
		out = append(out, expectation{project: r[0], object: r[1], section: r[2], function: r[3], status: r[5]})
	}
	return out
}

// TestCorpus loads every sample object. An object loads unless the expectations say
// reject_load for it; every program the expectations list is found by section and name.
func TestCorpus(t *testing.T) {
	dir := testutil.CorpusDir(t, "ebpf-samples")
	exps := readExpectations(t, dir)
	byObject := map[string][]expectation{}
	for _, e := range exps {
		byObject[filepath.Join(e.project, e.object)] = append(byObject[filepath.Join(e.project, e.object)], e)
	}
	var files []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(path, ".o") || strings.HasSuffix(path, ".elf")) && !strings.Contains(path, "/invalid/") {
			files = append(files, path)
		}
		return nil
	})
	loaded, failed := 0, 0
	untyped := map[string]bool{}
	for _, path := range files {
		rel, _ := filepath.Rel(dir, path)
		obj, err := elfload.LoadFile(path)
		wantReject, allReject := false, len(byObject[rel]) > 0
		for _, e := range byObject[rel] {
			if strings.HasPrefix(e.status, "reject_load") {
				wantReject = true
			}
			if !strings.HasPrefix(e.status, "reject") {
				allReject = false
			}
		}
		if err != nil {
			failed++
			// Refusing at load what the expectations reject anyway is fine when the
			// object needs something anybpf does not do (externs, ...).
			if !wantReject && !(allReject && errors.Is(err, elfload.ErrNotSupported)) {
				t.Errorf("%s: %v", rel, err)
			}
			continue
		}
		if wantReject {
			t.Errorf("%s: loaded, but the expectations say reject_load", rel)
		}
		loaded++
		for _, e := range byObject[rel] {
			if strings.HasPrefix(e.status, "reject_load") || strings.HasPrefix(e.status, "(no sections") {
				continue
			}
			p := obj.Program(e.function)
			if p == nil || p.Section != e.section {
				t.Errorf("%s: program %s in section %s not found", rel, e.function, e.section)
				continue
			}
			if p.Type == progtype.Unspec && p.Section != ".text" {
				untyped[p.Section] = true
			}
		}
	}
	t.Logf("%d objects loaded, %d refused, of %d; sections without a program type: %v", loaded, failed, len(files), untyped)
}

// TestInvalid: the malformed objects (fuzzer finds) are refused with an error, never a
// panic, unless their damage is only in sections the loader does not use; those must be
// ones the expectations leave to the verifier ("reject") or accept ("pass").
func TestInvalid(t *testing.T) {
	corpus := testutil.CorpusDir(t, "ebpf-samples")
	status := map[string]string{}
	for _, e := range readExpectations(t, corpus) {
		if e.project == "invalid" {
			status[e.object] = e.status
		}
	}
	dir := filepath.Join(corpus, "invalid")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, e := range entries {
		_, err := elfload.LoadFile(filepath.Join(dir, e.Name()))
		if err == nil {
			if st := status[e.Name()]; st != "reject" && st != "pass" {
				t.Errorf("%s: loaded, but the expectations say %q", e.Name(), st)
			}
			continue
		}
		refused++
		if !errors.Is(err, elfload.ErrInvalidObject) && !errors.Is(err, elfload.ErrNotSupported) {
			t.Errorf("%s: error %v is neither ErrInvalidObject nor ErrNotSupported", e.Name(), err)
		}
	}
	t.Logf("%d of %d malformed objects refused by the loader", refused, len(entries))
}

// TestRELA: objects from older toolchains carry their relocations in SHT_RELA sections
// (ovs's datapath.o); their map references must be found like SHT_REL ones.
func TestRELA(t *testing.T) {
	dir := testutil.CorpusDir(t, "ebpf-samples")
	obj, err := elfload.LoadFile(filepath.Join(dir, "ovs", "datapath.o"))
	if err != nil {
		t.Fatal(err)
	}
	p := obj.Program("tail-1")
	if p == nil {
		t.Fatal("no program tail-1")
	}
	var names []string
	for _, r := range p.References {
		names = append(names, r.Map)
	}
	if len(names) < 3 || names[0] != "execute_actions" || names[1] != "percpu_executing_key" || names[2] != "flow_table" {
		t.Fatalf("tail-1 refers to %v, want execute_actions, percpu_executing_key, flow_table first", names)
	}
}

// TestLegacyInnerMap: samples/bpf's bpf_map_def names a map-of-maps' inner map by index.
func TestLegacyInnerMap(t *testing.T) {
	dir := testutil.CorpusDir(t, "ebpf-samples")
	obj, err := elfload.LoadFile(filepath.Join(dir, "build", "map_in_map_legacy.o"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range obj.Maps {
		if m.Name == "array_of_maps" {
			if m.InnerMap == nil || m.InnerMap.Name != "inner_map" || m.InnerMap.ValueSize != 8 {
				t.Fatalf("array_of_maps inner map %+v, want inner_map's template", m.InnerMap)
			}
			return
		}
	}
	t.Fatal("no array_of_maps")
}
