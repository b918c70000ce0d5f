package anybpf_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/anybpf/anybpf"
	"github.com/anybpf/anybpf/maps"
)

// TestMapFiles: an object's array maps and global data kept in files carry what its
// programs and user space wrote into the next runtime that loads the object (the
// object's initial data is not stored over it), and a map file of another shape is
// refused.
func TestMapFiles(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Open("testdata/xdp_counter.o")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	opts := anybpf.CollectionOptions{MapFile: func(name string, spec maps.Spec) string {
		if spec.Type != maps.Array {
			return ""
		}
		return filepath.Join(dir, name)
	}}
	frame := ipv4(17, "x")
	counts := func(rt *anybpf.Runtime, runs int) (uint64, uint64) {
		coll, err := rt.LoadCollectionWithOptions(f, "xdp_counter.o", opts)
		if err != nil {
			t.Fatal(err)
		}
		defer coll.Close()
		for range runs {
			if _, err := coll.Programs["xdp_count"].Run(&anybpf.RunOptions{Data: frame}); err != nil {
				t.Fatal(err)
			}
		}
		var n, packets uint64
		if err := coll.Maps["counts"].Lookup(uint32(0), &n); err != nil {
			t.Fatal(err)
		}
		if err := coll.Maps[".bss"].Lookup(uint32(0), &packets); err != nil {
			t.Fatal(err)
		}
		return n, packets
	}
	for i, want := range []uint64{3, 5} {
		rt := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig())
		runs := 3
		if i == 1 {
			runs = 2
		}
		n, packets := counts(rt, runs)
		if n != want || packets != want {
			t.Errorf("load %d: counts[0] = %d, packets = %d; want %d", i+1, n, packets, want)
		}
		rt.Close()
		if got := rt.MemoryInUse(); got != 0 {
			t.Errorf("memory in use after close: %d", got)
		}
	}
	rt := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig())
	defer rt.Close()
	_, err = rt.OpenMapFile(maps.Spec{Name: "counts", Type: maps.Array, KeySize: 4, ValueSize: 16, MaxEntries: 4}, filepath.Join(dir, "counts"))
	if !errors.Is(err, maps.ErrBadMapFile) {
		t.Errorf("a map file of another shape: %v, want ErrBadMapFile", err)
	}
}
