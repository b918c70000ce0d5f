//go:build unix

package maps

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"unsafe"
)

func openTestFile(t testing.TB, spec Spec, path string) Map {
	t.Helper()
	m, _, err := OpenFile(spec, NewEpochs(2), path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func closeMap(t testing.TB, m Map) {
	t.Helper()
	if err := m.(interface{ Close() error }).Close(); err != nil {
		t.Fatal(err)
	}
}

func TestMapFileKeepsContents(t *testing.T) {
	for _, spec := range []Spec{
		{Name: "a", Type: Array, KeySize: 4, ValueSize: 12, MaxEntries: 100},
		{Name: "p", Type: PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 10},
	} {
		t.Run(spec.Type.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m")
			m := openTestFile(t, spec, path)
			vsize := int(spec.ValueSize)
			if spec.Type == PerCPUArray {
				vsize = 8 * 2
			}
			val := make([]byte, vsize)
			for i := range val {
				val[i] = byte(i + 1)
			}
			key := make([]byte, 4)
			binary.LittleEndian.PutUint32(key, 7)
			if err := m.Update(key, val, UpdateAny); err != nil {
				t.Fatal(err)
			}
			// A store through the pointer a program gets.
			k := uint32(3)
			*(*uint64)(m.LookupPtr(unsafe.Pointer(&k))) = 0xfeedface
			closeMap(t, m) // no Sync: the page cache holds it
			m = openTestFile(t, spec, path)
			defer closeMap(t, m)
			got := make([]byte, vsize)
			if err := m.Lookup(key, got); err != nil || string(got) != string(val) {
				t.Fatalf("element 7 after reopening: %x, %v; want %x", got, err, val)
			}
			if v := *(*uint64)(m.LookupPtr(unsafe.Pointer(&k))); v != 0xfeedface {
				t.Fatalf("element 3 after reopening: %#x", v)
			}
		})
	}
}

func TestMapFileRefused(t *testing.T) {
	spec := Spec{Name: "a", Type: Array, KeySize: 4, ValueSize: 8, MaxEntries: 16}
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	closeMap(t, openTestFile(t, spec, good))
	data, _ := os.ReadFile(good)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o600)
		return p
	}
	corrupt := append([]byte(nil), data...)
	corrupt[20]++
	for _, tc := range []struct {
		name string
		path string
		spec Spec
	}{
		{"another value size", good, Spec{Name: "a", Type: Array, KeySize: 4, ValueSize: 16, MaxEntries: 8}},
		{"another entry count", good, Spec{Name: "a", Type: Array, KeySize: 4, ValueSize: 8, MaxEntries: 17}},
		{"damaged header", write("corrupt", corrupt), spec},
		{"truncated", write("short", data[:len(data)-1]), spec},
		{"not a map file", write("text", append([]byte("hello"), make([]byte, len(data)-5)...)), spec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := OpenFile(tc.spec, NewEpochs(2), tc.path)
			if !errors.Is(err, ErrBadMapFile) {
				t.Fatalf("error %v, want ErrBadMapFile", err)
			}
		})
	}
	if _, _, err := OpenFile(Spec{Name: "q", Type: Queue, ValueSize: 8, MaxEntries: 4}, NewEpochs(2), filepath.Join(dir, "q")); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("queue map file: %v, want ErrNotSupported", err)
	}
}

// crashChildEnv makes the test binary a writer that the crash test kills.
const crashChildEnv = "ANYBPF_MAPFILE_CRASH_CHILD"

// TestMapFileSurvivesKill: a child process writes element i := i+1 (user space) and
// element i+1000 (through a program's pointer) and reports each completed step; the
// parent kills it with SIGKILL while it runs, then every reported step must be in the
// file.
func TestMapFileSurvivesKill(t *testing.T) {
	spec := Spec{Name: "c", Type: Array, KeySize: 4, ValueSize: 8, MaxEntries: 2000}
	if path := os.Getenv(crashChildEnv); path != "" {
		m := openTestFile(t, spec, path)
		out := bufio.NewWriter(os.Stdout)
		for i := uint32(0); ; i = (i + 1) % 1000 {
			key := binary.LittleEndian.AppendUint32(nil, i)
			step := uint64(i) + 1
			if err := m.Update(key, binary.LittleEndian.AppendUint64(nil, step), UpdateAny); err != nil {
				t.Fatal(err)
			}
			k := i + 1000
			*(*uint64)(m.LookupPtr(unsafe.Pointer(&k))) = step
			fmt.Fprintln(out, i)
			out.Flush()
		}
	}
	path := filepath.Join(t.TempDir(), "crash")
	cmd := exec.Command(os.Args[0], "-test.run=^TestMapFileSurvivesKill$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	done := map[uint32]bool{}
	for len(done) < 1000 && sc.Scan() { // kill it while it is rewriting the first values
		n, _ := strconv.Atoi(sc.Text())
		done[uint32(n)] = true
	}
	cmd.Process.Kill()
	io.Copy(io.Discard, stdout)
	cmd.Wait()
	if len(done) == 0 {
		t.Fatal("the child reported nothing")
	}
	m := openTestFile(t, spec, path)
	defer closeMap(t, m)
	for i := range done {
		for _, k := range []uint32{i, i + 1000} {
			v := make([]byte, 8)
			if err := m.Lookup(binary.LittleEndian.AppendUint32(nil, k), v); err != nil {
				t.Fatal(err)
			}
			if got := binary.LittleEndian.Uint64(v); got != uint64(i)+1 {
				t.Fatalf("element %d after the kill: %d, want %d (the child reported step %d done)", k, got, i+1, i)
			}
		}
	}
}

func FuzzOpenMapFile(f *testing.F) {
	spec := Spec{Name: "a", Type: Array, KeySize: 4, ValueSize: 8, MaxEntries: 4}
	dir := f.TempDir()
	good := filepath.Join(dir, "seed")
	m, _, err := OpenFile(spec, NewEpochs(1), good)
	if err != nil {
		f.Fatal(err)
	}
	m.(interface{ Close() error }).Close()
	seed, _ := os.ReadFile(good)
	f.Add(seed)
	f.Add(seed[:100])
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "m")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		m, _, err := OpenFile(spec, NewEpochs(1), p)
		if err != nil {
			if len(b) > 0 && !errors.Is(err, ErrBadMapFile) {
				t.Fatalf("error %v is not ErrBadMapFile", err)
			}
			return
		}
		v := make([]byte, 8)
		if err := m.Lookup([]byte{3, 0, 0, 0}, v); err != nil {
			t.Fatal(err)
		}
		m.(interface{ Close() error }).Close()
	})
}
