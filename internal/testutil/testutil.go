// Package testutil finds what tests need outside the repository and skips with a reason
// when it is missing.
package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

// RepoRoot returns the directory holding go.mod, searching upward from the working
// directory.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// CorpusDir returns the path of a corpus subdirectory: $ANYBPF_CORPUS/sub, or
// ../shared/corpus/sub beside the repository. It skips the test when neither exists.
func CorpusDir(tb testing.TB, sub string) string {
	tb.Helper()
	var candidates []string
	if env := os.Getenv("ANYBPF_CORPUS"); env != "" {
		candidates = append(candidates, filepath.Join(env, sub))
	}
	candidates = append(candidates, filepath.Join(RepoRoot(tb), "..", "shared", "corpus", sub))
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return c
		}
	}
	tb.Skipf("corpus %s not found (set ANYBPF_CORPUS or put shared/corpus beside the repository)", sub)
	return ""
}
