package elfload_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anybpf/anybpf/internal/elfload"
)

// FuzzLoad: the loader never panics or hangs on arbitrary bytes; seeded with the sample
// objects. Run it with -fuzzminimizetime 200x: the seeds are large, and the default
// minimization of each new large input stalls progress for minutes.
func FuzzLoad(f *testing.F) {
	root := filepath.Join("..", "..", "..", "shared", "corpus", "ebpf-samples")
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "MANIFEST.sha256" || strings.HasSuffix(path, ".csv") || strings.HasSuffix(path, ".json") || strings.HasSuffix(path, ".md") || strings.HasSuffix(path, ".txt") {
			return nil
		}
		if b, err := os.ReadFile(path); err == nil && len(b) < 1<<20 {
			f.Add(b)
		}
		return nil
	})
	// The test objects reach the ebpf-for-windows, line info and CO-RE paths.
	for _, pattern := range []string{filepath.Join("testdata", "*.o"), filepath.Join("..", "..", "testdata", "*.o")} {
		paths, _ := filepath.Glob(pattern)
		for _, path := range paths {
			if b, err := os.ReadFile(path); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		obj, err := elfload.Load(bytes.NewReader(b))
		if err == nil && obj == nil {
			t.Fatal("nil object without an error")
		}
	})
}
