package anybpf_test

import (
	"errors"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/anybpf/anybpf"
)

// kernelAccepts loads every program of the object at path into the kernel, one at a
// time with the object's maps, and returns the names of those the kernel's verifier
// accepts (nil when cilium/ebpf cannot read the object).
func kernelAccepts(path string) map[string]bool {
	spec, err := ebpf.LoadCollectionSpec(path)
	if err != nil {
		return nil
	}
	accepted := map[string]bool{}
	for name := range spec.Programs {
		one := spec.Copy()
		for other := range one.Programs {
			if other != name {
				delete(one.Programs, other)
			}
		}
		// cilium/ebpf loads no program whose type it cannot tell (UnspecifiedProgram)
		// and reports no error for it: only a program in the collection was accepted.
		if coll, err := ebpf.NewCollection(one); err == nil {
			if coll.Programs[name] != nil {
				accepted[name] = true
			}
			coll.Close()
		}
	}
	return accepted
}

// compareWithKernel verifies the objects matching globs with the kernel and with anybpf
// and returns how many programs the kernel accepts and the refusals of those by anybpf.
func compareWithKernel(t *testing.T, globs ...string) (kernelOK int, refused []string) {
	t.Helper()
	var objects []string
	for _, glob := range globs {
		m, _ := filepath.Glob(glob)
		objects = append(objects, m...)
	}
	sort.Strings(objects)
	for _, path := range objects {
		if strings.HasPrefix(filepath.Base(path), "ewin_") {
			continue // ebpf-for-windows objects: the kernel reads their helper ids as Linux's
		}
		if strings.HasSuffix(path, ".xdp.o") {
			continue // the compute benchmarks as XDP programs: the kernel's verifier takes minutes
		}
		kernel := kernelAccepts(path)
		if len(kernel) == 0 {
			continue
		}
		verdicts, err := anybpf.VerifyFile(path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		for _, v := range verdicts {
			if !kernel[v.Name] {
				continue
			}
			kernelOK++
			if v.Err != nil && !errors.Is(v.Err, anybpf.ErrNotSupported) {
				refused = append(refused, path+": "+v.Name+": "+v.Err.Error())
			}
		}
	}
	return kernelOK, refused
}

// TestKernelAccepted: every program of anybpf's own test objects (C built with clang by
// the Makefiles) that the Linux kernel's verifier accepts, anybpf's accepts too.
func TestKernelAccepted(t *testing.T) {
	kernelAvailable(t)
	n, refused := compareWithKernel(t, "testdata/*.o", "bench/programs/*.o", "internal/*/testdata/*.o")
	for _, r := range refused {
		t.Errorf("the kernel accepts it, anybpf refuses: %s", r)
	}
	if n < 50 {
		t.Errorf("only %d programs loaded into the kernel; the test objects are missing?", n)
	}
	t.Logf("%d programs the kernel accepts: anybpf accepts %d", n, n-len(refused))
}

// TestKernelAcceptedCorpus: of the sample corpus's objects that cilium/ebpf can read
// and load, every program the kernel accepts anybpf accepts too.
func TestKernelAcceptedCorpus(t *testing.T) {
	kernelAvailable(t)
	if m, _ := filepath.Glob("../shared/corpus/ebpf-samples/*/*.o"); len(m) == 0 {
		t.Skip("the sample corpus is not in ../shared/corpus/ebpf-samples")
	}
	n, refused := compareWithKernel(t, "../shared/corpus/ebpf-samples/*/*.o")
	for _, r := range refused {
		t.Errorf("the kernel accepts it, anybpf refuses: %.200s", r)
	}
	t.Logf("%d corpus programs the kernel accepts: anybpf accepts %d", n, n-len(refused))
	if n < 30 {
		t.Errorf("only %d corpus programs loaded into the kernel; 34 did", n)
	}
}
