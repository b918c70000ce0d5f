package anybpf_test

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/anybpf/anybpf"
	"github.com/anybpf/anybpf/maps"
)

// TestMapFiles: an object's array and hash maps and global data kept in files carry
// what its programs (helper updates and stores through lookup pointers) and user space
// wrote into the next runtime that loads the object (the object's initial data is not
// stored over it), and a map file of another shape is refused.
func TestMapFiles(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Open("testdata/xdp_counter.o")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	opts := anybpf.CollectionOptions{MapFile: func(name string, spec maps.Spec) string {
		if !maps.FileBacked(spec.Type) {
			t.Errorf("asked for a file for map %s, a %s", name, spec.Type)
		}
		return filepath.Join(dir, name)
	}}
	frame := ipv4(17, "x")
	counts := func(rt *anybpf.Runtime, runs int) (uint64, uint64, uint64) {
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
		// The program inserts the protocol's counter, then increments it in place.
		var ipv4 uint64
		if err := coll.Maps["by_proto"].Lookup(uint16(0x0800), &ipv4); err != nil {
			t.Fatal(err)
		}
		return n, packets, ipv4
	}
	for i, want := range []uint64{3, 5} {
		rt := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig())
		runs := 3
		if i == 1 {
			runs = 2
		}
		n, packets, ipv4 := counts(rt, runs)
		if n != want || packets != want || ipv4 != want {
			t.Errorf("load %d: counts[0] = %d, packets = %d, by_proto[ipv4] = %d; want %d", i+1, n, packets, ipv4, want)
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
	// An object whose map does not match the file it is given (as libbpf refuses to
	// reuse a pinned map of another shape).
	os.Remove(filepath.Join(dir, "by_proto"))
	other, err := rt.OpenMapFile(maps.Spec{Name: "by_proto", Type: maps.LRUHash, KeySize: 2, ValueSize: 8, MaxEntries: 64}, filepath.Join(dir, "by_proto"))
	if err != nil {
		t.Fatal(err)
	}
	other.Close()
	if _, err := rt.LoadCollectionWithOptions(f, "xdp_counter.o", opts); !errors.Is(err, maps.ErrBadMapFile) {
		t.Errorf("loading over a map file of another type: %v, want ErrBadMapFile", err)
	}
}

// TestMapFileHash: a hash map created with Runtime.OpenMapFile keeps what user space
// wrote into the next runtime, and is charged its file footprint against the memory
// limit.
func TestMapFileHash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h")
	for _, typ := range []maps.Type{maps.Hash, maps.LRUPerCPUHash} {
		spec := maps.Spec{Name: "h", Type: typ, KeySize: 4, ValueSize: 8, MaxEntries: 1000}
		t.Run(typ.String(), func(t *testing.T) {
			os.Remove(path)
			var ncpu int
			for round := range 2 {
				rt := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig().WithMemoryLimit(1<<20))
				m, err := rt.OpenMapFile(spec, path)
				if err != nil {
					t.Fatal(err)
				}
				if ncpu == 0 {
					ncpu = 1
					if typ == maps.LRUPerCPUHash {
						ncpu = rt.NumCPU()
					}
				}
				if got, want := rt.MemoryInUse(), spec.FileFootprint(ncpu); got != want || want <= spec.Footprint(ncpu) {
					t.Errorf("memory in use %d, want the file footprint %d (in memory: %d)", got, want, spec.Footprint(ncpu))
				}
				buf := make([]byte, 8*ncpu)
				for k := range uint32(500) {
					if round == 0 {
						for c := range ncpu {
							binary.LittleEndian.PutUint64(buf[8*c:], uint64(k)*10+uint64(c))
						}
						if err := m.Update(k, buf, maps.UpdateAny); err != nil {
							t.Fatal(err)
						}
						continue
					}
					if err := m.Lookup(k, buf); err != nil {
						t.Fatalf("key %d after reopening: %v", k, err)
					}
					for c := range ncpu {
						if v := binary.LittleEndian.Uint64(buf[8*c:]); v != uint64(k)*10+uint64(c) {
							t.Fatalf("key %d CPU %d after reopening: %d", k, c, v)
						}
					}
				}
				if round == 1 {
					if err := m.Sync(); err != nil {
						t.Fatal(err)
					}
				}
				rt.Close() // the first time without Sync
				if got := rt.MemoryInUse(); got != 0 {
					t.Errorf("memory in use after close: %d", got)
				}
			}
		})
	}
	// Over the memory limit.
	rt := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig().WithMemoryLimit(1000))
	defer rt.Close()
	if _, err := rt.OpenMapFile(maps.Spec{Name: "big", Type: maps.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 1000}, filepath.Join(t.TempDir(), "big")); !errors.Is(err, anybpf.ErrMemoryLimit) {
		t.Errorf("a map file over the memory limit: %v, want ErrMemoryLimit", err)
	}
}
