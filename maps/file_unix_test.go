//go:build unix

package maps

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"unsafe"
)

// testCPUs is the CPU count of the tests' epoch trackers (values per per-CPU element).
const testCPUs = 2

func openTestFile(t testing.TB, spec Spec, path string) Map {
	t.Helper()
	m, _, err := OpenFile(spec, NewEpochs(testCPUs), path)
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

// userSize is the size of a value of m as user space reads it.
func userSize(m Map) int {
	if u, ok := m.(interface{ userValueSize() int }); ok {
		return u.userValueSize()
	}
	return int(m.Spec().ValueSize)
}

// keyN returns a key of size bytes that starts with k's low byte.
func keyN(k uint32, size uint32) []byte {
	key := make([]byte, size)
	key[0] = byte(k)
	return key
}

// dump returns the contents of m, key to value, read through NextKey and Lookup.
func dump(t testing.TB, m Map) map[string]string {
	t.Helper()
	spec := m.Spec()
	got := map[string]string{}
	var key []byte
	next := make([]byte, spec.KeySize)
	for m.NextKey(key, next) == nil {
		key = append(key[:0], next...)
		if _, dup := got[string(key)]; dup || len(got) > int(spec.MaxEntries) {
			t.Fatalf("iteration visits key %x twice, or more than max_entries keys", key)
		}
		v := make([]byte, userSize(m))
		if err := m.Lookup(key, v); err != nil {
			t.Fatalf("lookup of %x, a key NextKey gave: %v", key, err)
		}
		got[string(key)] = string(v)
	}
	return got
}

// valueOf is the value the tests write for step i: each 8-byte word of each CPU's value
// holds i and the word's place, so a value made of two writes shows.
func valueOf(m Map, i uint64) []byte {
	v := make([]byte, userSize(m))
	for w := 0; w+8 <= len(v); w += 8 {
		binary.LittleEndian.PutUint64(v[w:], i<<16|uint64(w))
	}
	return v
}

// storePtr stores x into the first word of key's value for cpu (its first bytes, for a
// value of less than 8), through the pointer a program gets, and returns false if the
// key has no value.
func storePtr(m Map, key []byte, cpu int, x uint64) bool {
	var p unsafe.Pointer
	if pm, ok := m.(PerCPUMap); ok {
		p = pm.LookupPtrCPU(unsafe.Pointer(&key[0]), cpu)
	} else {
		p = m.LookupPtr(unsafe.Pointer(&key[0]))
	}
	if p == nil {
		return false
	}
	copy(unsafe.Slice((*byte)(p), min(8, m.Spec().ValueSize)), binary.LittleEndian.AppendUint64(nil, x))
	return true
}

// TestMapFileKeepsContents: for each file-backed type, what user space and programs
// (stores through LookupPtr) wrote is there after closing the map without Sync and
// reopening the file, and stays there over a second round of writes and a second
// reopening; hash maps also match a model of the operations.
func TestMapFileKeepsContents(t *testing.T) {
	for _, spec := range []Spec{
		{Type: Array, KeySize: 4, ValueSize: 12, MaxEntries: 100},
		{Type: PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 10},
		{Type: Hash, KeySize: 4, ValueSize: 12, MaxEntries: 64},
		{Type: Hash, KeySize: 13, ValueSize: 3, MaxEntries: 64},
		{Type: PerCPUHash, KeySize: 8, ValueSize: 16, MaxEntries: 64},
		{Type: LRUHash, KeySize: 4, ValueSize: 8, MaxEntries: 16},
		{Type: LRUPerCPUHash, KeySize: 4, ValueSize: 24, MaxEntries: 16},
		{Type: LPMTrie, KeySize: 8, ValueSize: 8, MaxEntries: 64, Flags: FlagNoPrealloc},
	} {
		spec.Name = "m"
		t.Run(fmt.Sprintf("%s/key%d/value%d", spec.Type, spec.KeySize, spec.ValueSize), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m")
			m := openTestFile(t, spec, path)
			isArray := spec.Type == Array || spec.Type == PerCPUArray
			isLRU := spec.Type == LRUHash || spec.Type == LRUPerCPUHash
			keyOf := func(i uint32) []byte {
				if spec.Type == LPMTrie {
					// i.0.0.0/8 for even i, 10.i.0.0/16 for odd i: two lengths
					if i%2 == 0 {
						return lpmKey(8, byte(i), 0, 0, 0)
					}
					return lpmKey(16, 10, byte(i), 0, 0)
				}
				k := make([]byte, spec.KeySize)
				binary.LittleEndian.PutUint32(k, i)
				if len(k) > 4 {
					k[len(k)-1] = byte(i) ^ 0x5a
				}
				return k
			}
			model := map[string]string{}
			if isArray {
				for i := range spec.MaxEntries {
					model[string(keyOf(i))] = string(make([]byte, userSize(m)))
				}
			}
			step := uint64(0)
			update := func(i uint32) {
				step++
				v := valueOf(m, step)
				if err := m.Update(keyOf(i), v, UpdateAny); err != nil {
					t.Fatalf("update %d: %v", i, err)
				}
				model[string(keyOf(i))] = string(v)
			}
			store := func(i uint32, cpu int, x uint64) {
				if !storePtr(m, keyOf(i), cpu, x) {
					t.Fatalf("no value for key %d", i)
				}
				v := []byte(model[string(keyOf(i))])
				copy(v[cpu*userSize(m)/ncpuOf(m):][:min(8, spec.ValueSize)], binary.LittleEndian.AppendUint64(nil, x))
				model[string(keyOf(i))] = string(v)
			}
			del := func(i uint32) {
				if err := m.Delete(keyOf(i)); err != nil {
					t.Fatalf("delete %d: %v", i, err)
				}
				delete(model, string(keyOf(i)))
			}
			n := min(spec.MaxEntries, 40)
			if isLRU {
				n = spec.MaxEntries + 9 // evicts
			}
			for i := range n {
				update(i)
			}
			if !isArray && !isLRU {
				for i := range uint32(10) {
					update(i) // replace
					update(i)
				}
				for i := uint32(15); i < 20; i++ {
					del(i)
				}
			}
			store(n-1, 0, 0xfeedface)
			if ncpuOf(m) > 1 {
				store(n-2, 1, 0xcafe)
			}
			before := dump(t, m)
			if !isLRU && !equalDump(before, model) {
				t.Fatalf("contents before closing differ from the model:\n%v\n%v", before, model)
			}
			closeMap(t, m) // no Sync: the page cache holds it
			m = openTestFile(t, spec, path)
			if after := dump(t, m); !equalDump(after, before) {
				t.Fatalf("contents after reopening:\n%x\nwant\n%x", after, before)
			}
			// A second round: the generations go on from the file's.
			if isLRU {
				model = dump(t, m)
				for k := range model {
					if err := m.Delete([]byte(k)); err != nil {
						t.Fatal(err)
					}
					delete(model, k)
					break
				}
			}
			update(n - 1)
			update(n - 1)
			update(spec.MaxEntries - 1)
			if !isArray {
				del(n - 1)
				update(n - 1)
			}
			before = dump(t, m)
			if !equalDump(before, model) {
				t.Fatalf("contents after the second round differ from the model")
			}
			closeMap(t, m)
			m = openTestFile(t, spec, path)
			defer closeMap(t, m)
			if after := dump(t, m); !equalDump(after, before) {
				t.Fatalf("contents after reopening again:\n%x\nwant\n%x", after, before)
			}
		})
	}
}

func ncpuOf(m Map) int {
	switch v := m.(type) {
	case *array:
		return int(v.ncpu)
	case *hash:
		return int(v.ncpu)
	}
	return 1
}

func equalDump(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// fileSlotsOf returns the slots of a file-backed hash map.
func fileSlotsOf(t testing.TB, m Map) *fileSlots {
	t.Helper()
	s, ok := m.(*hash).store.(*fileSlots)
	if !ok {
		t.Fatal("not a file-backed hash map")
	}
	return s
}

// TestMapFileCrashStates builds the files a crash can leave between two steps of an
// update and checks what reopening makes of them.
func TestMapFileCrashStates(t *testing.T) {
	dir := t.TempDir()
	spec := Spec{Name: "h", Type: Hash, KeySize: 4, ValueSize: 8, MaxEntries: 4}

	t.Run("replace published, old slot not cleared", func(t *testing.T) {
		path := filepath.Join(dir, "replace")
		m := openTestFile(t, spec, path)
		m.Update(u32(1), u64(10), UpdateAny)
		s := fileSlotsOf(t, m)
		old := (*byte)(m.LookupPtr(unsafe.Pointer(&u32(1)[0])))
		gen := s.state(s.slotOf(old)).Load()
		m.Update(u32(1), u64(11), UpdateAny)
		m.Update(u32(2), u64(20), UpdateAny)
		s.state(s.slotOf(old)).Store(gen) // as if killed before the old slot was cleared
		closeMap(t, m)
		m = openTestFile(t, spec, path)
		defer closeMap(t, m)
		if got := dump(t, m); !equalDump(got, map[string]string{string(u32(1)): string(u64(11)), string(u32(2)): string(u64(20))}) {
			t.Fatalf("contents %x: the newer generation must win", got)
		}
		s = fileSlotsOf(t, m)
		if st := s.state(s.slotOf(old)).Load(); st != 0 {
			t.Errorf("the older slot's state is %d after reopening, want it cleared", st)
		}
		// Later updates are newer than anything in the file.
		m.Update(u32(1), u64(12), UpdateAny)
		v := make([]byte, 8)
		if m.Lookup(u32(1), v); binary.LittleEndian.Uint64(v) != 12 {
			t.Fatalf("value %x", v)
		}
	})

	t.Run("slot written, not published", func(t *testing.T) {
		path := filepath.Join(dir, "unpublished")
		m := openTestFile(t, spec, path)
		m.Update(u32(1), u64(10), UpdateAny)
		s := fileSlotsOf(t, m)
		v := s.alloc(u32(2)) // killed between writing a slot and publishing it
		copy(unsafe.Slice(v, 8), u64(20))
		closeMap(t, m)
		m = openTestFile(t, spec, path)
		defer closeMap(t, m)
		if got := dump(t, m); !equalDump(got, map[string]string{string(u32(1)): string(u64(10))}) {
			t.Fatalf("contents %x", got)
		}
	})

	t.Run("LRU eviction half done", func(t *testing.T) {
		path := filepath.Join(dir, "lru")
		lru := spec
		lru.Type = LRUHash
		m := openTestFile(t, lru, path)
		for i := uint32(1); i <= 5; i++ { // the fifth evicts the first
			m.Update(u32(i), u64(uint64(i)), UpdateAny)
		}
		s := fileSlotsOf(t, m)
		// Bring the evicted element's slot back, as if killed before it was cleared.
		for i := range s.slots {
			base := uintptr(i) * s.size
			if s.state(i).Load() == 0 && string(s.data[base+slotState:base+slotState+4]) == string(u32(1)) {
				s.state(i).Store(1)
			}
		}
		closeMap(t, m)
		m = openTestFile(t, lru, path)
		defer closeMap(t, m)
		got := dump(t, m)
		if len(got) != 4 {
			t.Fatalf("%d elements after reopening, want max_entries (4)", len(got))
		}
		if _, ok := got[string(u32(1))]; ok {
			t.Fatal("the oldest element survived over a newer one")
		}
	})
}

// TestMapFileSpareSlots: replaced values wait in spare slots while an invocation runs;
// the file grows when they run out, and past its growth a replace writes in place
// (inserting a new key then fails with E2BIG); once the invocation leaves, the slots are
// free again.
func TestMapFileSpareSlots(t *testing.T) {
	e := NewEpochs(2)
	spec := Spec{Name: "h", Type: Hash, KeySize: 4, ValueSize: 8, MaxEntries: 2}
	path := filepath.Join(t.TempDir(), "h")
	m, _, err := OpenFile(spec, e, path)
	if err != nil {
		t.Fatal(err)
	}
	defer closeMap(t, m)
	h := m.(*hash)
	s := fileSlotsOf(t, m)
	first := s.slots
	g := e.Enter() // a program runs through all of it
	if err := m.Update(u32(1), u64(0), UpdateAny); err != nil {
		t.Fatal(err)
	}
	held := m.LookupPtr(unsafe.Pointer(&u32(1)[0]))
	const replaces = slotGrowth*(2+slotSpare) + 1000
	for i := range uint64(replaces) {
		if err := m.Update(u32(1), u64(i+1), UpdateAny); err != nil {
			t.Fatalf("replace %d: %v", i, err)
		}
	}
	if s.slots != first*slotGrowth {
		t.Errorf("the file has %d slots, want it grown to %d", s.slots, first*slotGrowth)
	}
	if h.inPlace.Load() == 0 {
		t.Error("no replace was written in place past the file's growth")
	}
	if *(*uint64)(held) != 0 {
		t.Errorf("the value the program holds changed to %d", *(*uint64)(held))
	}
	if err := m.Update(u32(2), u64(2), UpdateAny); !errors.Is(err, ErrFull) {
		t.Errorf("insert with every slot waiting: %v, want ErrFull", err)
	}
	g.Leave()
	if err := m.Update(u32(2), u64(2), UpdateAny); err != nil {
		t.Fatalf("insert after the program left: %v", err)
	}
	if got := dump(t, m); !equalDump(got, map[string]string{string(u32(1)): string(u64(replaces)), string(u32(2)): string(u64(2))}) {
		t.Fatalf("contents %x", got)
	}
	if st, err := os.Stat(path); err != nil || st.Size() != int64(mapFileHeader+uint64(s.slots)*uint64(s.size)) {
		t.Fatalf("file size %v, %v", st.Size(), err)
	}
	// The grown file opens again.
	closeMap(t, m)
	m = openTestFile(t, spec, path)
	if got := dump(t, m); len(got) != 2 {
		t.Fatalf("contents of the grown file %x", got)
	}
}

func TestMapFileRefused(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, spec := range []Spec{
		{Name: "a", Type: Array, KeySize: 4, ValueSize: 8, MaxEntries: 16},
		{Name: "h", Type: Hash, KeySize: 4, ValueSize: 8, MaxEntries: 16},
		{Name: "p", Type: LRUPerCPUHash, KeySize: 8, ValueSize: 8, MaxEntries: 16},
		{Name: "l", Type: LPMTrie, KeySize: 8, ValueSize: 8, MaxEntries: 16, Flags: FlagNoPrealloc},
	} {
		good := filepath.Join(dir, spec.Type.String())
		closeMap(t, openTestFile(t, spec, good))
		data, _ := os.ReadFile(good)
		corrupt := append([]byte(nil), data...)
		corrupt[20]++
		other := func(f func(*Spec)) Spec { s := spec; f(&s); return s }
		for _, tc := range []struct {
			name string
			path string
			spec Spec
			ncpu int
		}{
			{"another value size", good, other(func(s *Spec) { s.ValueSize = 16 }), testCPUs},
			{"another key size", good, other(func(s *Spec) { s.KeySize = 8; s.ValueSize = 16 }), testCPUs},
			{"another entry count", good, other(func(s *Spec) { s.MaxEntries = 17 }), testCPUs},
			{"other flags", good, other(func(s *Spec) { s.Flags ^= 1 << 4 }), testCPUs},
			{"another type", good, other(func(s *Spec) {
				s.Type = map[Type]Type{Array: PerCPUArray, Hash: LRUHash, LRUPerCPUHash: PerCPUHash, LPMTrie: Hash}[s.Type]
			}), testCPUs},
			{"damaged header", write("corrupt", corrupt), spec, testCPUs},
			{"truncated", write("short", data[:len(data)-1]), spec, testCPUs},
			{"header only", write("header", data[:mapFileHeader]), spec, testCPUs},
			{"a few bytes", write("bytes", data[:20]), spec, testCPUs},
			{"grown past its bound", write("long", append(data, make([]byte, 300*len(data))...)), spec, testCPUs},
			{"not a map file", write("text", append([]byte("hello"), make([]byte, len(data)-5)...)), spec, testCPUs},
		} {
			if spec.Type == Array && tc.name == "another key size" {
				continue // array keys are 4 bytes
			}
			t.Run(spec.Type.String()+"/"+tc.name, func(t *testing.T) {
				_, _, err := OpenFile(tc.spec, NewEpochs(tc.ncpu), tc.path)
				if !errors.Is(err, ErrBadMapFile) {
					t.Fatalf("error %v, want ErrBadMapFile", err)
				}
			})
		}
		if spec.Type == LRUPerCPUHash {
			if _, _, err := OpenFile(spec, NewEpochs(testCPUs+1), good); !errors.Is(err, ErrBadMapFile) || !strings.Contains(err.Error(), "CPUs") {
				t.Errorf("per-CPU map file opened with another CPU count: %v", err)
			}
		}
	}
	for _, spec := range []Spec{
		{Name: "rb", Type: RingBuf, MaxEntries: 4096},
		{Name: "hm", Type: HashOfMaps, KeySize: 4, ValueSize: 4, MaxEntries: 4},
	} {
		_, _, err := OpenFile(spec, NewEpochs(2), filepath.Join(dir, "unsupported"))
		if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), spec.Type.String()) {
			t.Errorf("%s map file: %v, want ErrNotSupported naming the type", spec.Type, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "unsupported")); err == nil {
		t.Error("a refused map left a file")
	}
}

// crashChildEnv makes the test binary a writer that the crash test kills.
const crashChildEnv = "ANYBPF_MAPFILE_CRASH_CHILD"

// The crash test's maps: an array, where step i writes element i%crashKeys (user
// space) and element crashKeys+i%crashKeys (a program's store), and a hash, where step
// i writes key i%crashKeys (user space, then a program's store into the value's last
// word) and inserts or (every other round) deletes key crashKeys+i%crashKeys.
const crashKeys = 300

var (
	crashArray = Spec{Name: "a", Type: Array, KeySize: 4, ValueSize: 8, MaxEntries: 2 * crashKeys}
	crashHash  = Spec{Name: "h", Type: Hash, KeySize: 4, ValueSize: 24, MaxEntries: 2 * crashKeys}
)

// crashValue is the hash value step i writes: i+1, its complement, and 0 (for the
// program's store of i+1).
func crashValue(i uint64) []byte {
	v := make([]byte, 24)
	binary.LittleEndian.PutUint64(v, i+1)
	binary.LittleEndian.PutUint64(v[8:], ^(i + 1))
	return v
}

// crashChild runs the steps until it is killed, printing each completed step.
func crashChild(t *testing.T, dir string) {
	e := NewEpochs(2)
	a, _, err := OpenFile(crashArray, e, filepath.Join(dir, "array"))
	if err != nil {
		t.Fatal(err)
	}
	h, _, err := OpenFile(crashHash, e, filepath.Join(dir, "hash"))
	if err != nil {
		t.Fatal(err)
	}
	out := bufio.NewWriter(os.Stdout)
	for i := uint64(0); ; i++ {
		k := uint32(i % crashKeys)
		step := binary.LittleEndian.AppendUint64(nil, i+1)
		if err := a.Update(u32(k), step, UpdateAny); err != nil {
			t.Fatal(err)
		}
		g := e.Enter()
		ak := k + crashKeys
		*(*uint64)(a.LookupPtr(unsafe.Pointer(&ak))) = i + 1
		g.Leave()
		if err := h.Update(u32(k), crashValue(i), UpdateAny); err != nil {
			t.Fatal(err)
		}
		g = e.Enter()
		*(*uint64)(unsafe.Add(h.LookupPtr(unsafe.Pointer(&k)), 16)) = i + 1
		g.Leave()
		if (i/crashKeys)%2 == 0 {
			err = h.Update(u32(ak), crashValue(i), UpdateAny)
		} else {
			err = h.Delete(u32(ak))
		}
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(out, i)
		out.Flush()
	}
}

// TestMapFileSurvivesKill: a child process runs steps on a file-backed array and hash
// and reports each completed step; the parent kills it with SIGKILL at a random step,
// reopens the files and checks that every reported step is there, that the step in
// progress is either there or not (never half), and that nothing else is.
func TestMapFileSurvivesKill(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(t, dir)
		return
	}
	for round := range 3 {
		dir := t.TempDir()
		last := killChild(t, "TestMapFileSurvivesKill", crashChildEnv, dir, 50+rand.IntN(4*crashKeys))
		t.Logf("round %d: killed after step %d", round, last)
		checkCrash(t, dir, uint64(last))
	}
}

// killChild runs test in a child test process with env set to dir, reads the numbered
// steps the child prints, kills it once it reports step killAt, and returns the last
// step it reported.
func killChild(t *testing.T, test, env, dir string, killAt int) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$")
	cmd.Env = append(os.Environ(), env+"="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	last := -1
	for last < killAt && sc.Scan() {
		if n, err := strconv.Atoi(sc.Text()); err == nil {
			last = n
		}
	}
	cmd.Process.Kill()
	for sc.Scan() { // what the child printed before it died
		if n, err := strconv.Atoi(sc.Text()); err == nil {
			last = n
		}
	}
	io.Copy(io.Discard, stdout)
	cmd.Wait()
	if last < 0 {
		t.Fatal("the child reported nothing")
	}
	return last
}

// checkCrash checks the files the child left after completing step last.
func checkCrash(t *testing.T, dir string, last uint64) {
	e := NewEpochs(2)
	a, _, err := OpenFile(crashArray, e, filepath.Join(dir, "array"))
	if err != nil {
		t.Fatal(err)
	}
	defer closeMap(t, a)
	h, _, err := OpenFile(crashHash, e, filepath.Join(dir, "hash"))
	if err != nil {
		t.Fatal(err)
	}
	defer closeMap(t, h)
	// lastFor is the last completed step that wrote key k (k < crashKeys), if any.
	lastFor := func(k uint64) (uint64, bool) {
		if k > last {
			return 0, false
		}
		return last - (last-k)%crashKeys, true
	}
	inProgress := (last + 1) % crashKeys
	got := dump(t, h)
	for k := uint64(0); k < crashKeys; k++ {
		i, done := lastFor(k)
		arr := make([]byte, 8)
		a.Lookup(u32(uint32(k)), arr)
		ptr := make([]byte, 8)
		a.Lookup(u32(uint32(k+crashKeys)), ptr)
		hv, inHash := got[string(u32(uint32(k)))]
		ins, inserted := got[string(u32(uint32(k+crashKeys)))]
		delete(got, string(u32(uint32(k))))
		delete(got, string(u32(uint32(k+crashKeys))))
		want := func(what string, ok bool) {
			if !ok {
				t.Errorf("after step %d: key %d: %s (step %d wrote it last)", last, k, what, i)
			}
		}
		isStep := func(b []byte, i uint64) bool { return binary.LittleEndian.Uint64(b) == i+1 }
		isValue := func(v string, i uint64, stored bool) bool {
			b := []byte(v)
			if !bytes.Equal(b[:16], crashValue(i)[:16]) {
				return false
			}
			w := binary.LittleEndian.Uint64(b[16:])
			return w == i+1 || (!stored && w == 0)
		}
		if k == inProgress {
			// Step last+1 may have done any part of its work.
			next := last + 1
			want("array element neither old nor new", isStep(arr, next) || (done && isStep(arr, i)) || (!done && isStep(arr, ^uint64(0))))
			want("array store neither old nor new", isStep(ptr, next) || (done && isStep(ptr, i)) || (!done && isStep(ptr, ^uint64(0))))
			want("hash value neither old nor new", (inHash && (isValue(hv, next, false) || (done && isValue(hv, i, true)))) || (!inHash && !done))
			oldIns := done && (i/crashKeys)%2 == 0
			newIns := (next/crashKeys)%2 == 0
			switch {
			case inserted:
				want("inserted value neither old nor new", (newIns && isValue(ins, next, false)) || (oldIns && isValue(ins, i, false)))
			default:
				want("inserted key missing before and after", !newIns || !oldIns)
			}
			continue
		}
		if !done {
			want("array element written before its step", binary.LittleEndian.Uint64(arr) == 0)
			want("hash key present", !inHash && !inserted)
			continue
		}
		want("array element", isStep(arr, i))
		want("array store", isStep(ptr, i))
		want("hash value", inHash && isValue(hv, i, true))
		if (i/crashKeys)%2 == 0 {
			want("inserted key", inserted && isValue(ins, i, false))
		} else {
			want("deleted key present", !inserted)
		}
	}
	if len(got) != 0 {
		t.Errorf("after step %d: keys nobody wrote: %x", last, got)
	}
}

// FuzzOpenMapFile opens arbitrary files as map files: a whole file, or (for the hash
// maps) arbitrary slots behind a valid header. Opening never panics; it refuses a bad
// file with ErrBadMapFile, and a map it opens works.
func FuzzOpenMapFile(f *testing.F) {
	specs := []Spec{
		{Name: "a", Type: Array, KeySize: 4, ValueSize: 8, MaxEntries: 4},
		{Name: "h", Type: Hash, KeySize: 4, ValueSize: 8, MaxEntries: 4},
		{Name: "l", Type: LRUPerCPUHash, KeySize: 2, ValueSize: 4, MaxEntries: 3},
		{Name: "t", Type: LPMTrie, KeySize: 6, ValueSize: 4, MaxEntries: 4, Flags: FlagNoPrealloc},
	}
	dir := f.TempDir()
	headers := make([][]byte, len(specs))
	for i, spec := range specs {
		p := filepath.Join(dir, spec.Name)
		m, _, err := OpenFile(spec, NewEpochs(1), p)
		if err != nil {
			f.Fatal(err)
		}
		for k := range uint32(3) {
			m.Update(keyN(k, spec.KeySize), make([]byte, userSize(m)), UpdateAny)
		}
		m.(io.Closer).Close()
		seed, _ := os.ReadFile(p)
		headers[i] = seed[:mapFileHeader]
		f.Add(uint8(i), seed)
		f.Add(uint8(i), seed[:100])
		f.Add(uint8(i|0x80), seed[mapFileHeader:])
	}
	f.Fuzz(func(t *testing.T, kind uint8, b []byte) {
		spec := specs[int(kind&0x7f)%len(specs)]
		if kind&0x80 != 0 && spec.Type != Array {
			// Slots behind a valid header, as many as the file may hold.
			shape, _ := slotShape(spec, 1)
			n := min(uint64(len(b)), shape.max) / shape.unit * shape.unit
			b = append(append([]byte(nil), headers[int(kind&0x7f)%len(specs)]...), append(b[:n:n], make([]byte, shape.min-min(n, shape.min))...)...)
		}
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
		defer m.(io.Closer).Close()
		got := dump(t, m)
		if len(got) > int(spec.MaxEntries) {
			t.Fatalf("%d elements in a map of %d", len(got), spec.MaxEntries)
		}
		key := keyN(7, spec.KeySize)
		v := make([]byte, userSize(m))
		if err := m.Update(key, v, UpdateAny); err != nil && !errors.Is(err, ErrFull) {
			t.Fatal(err)
		}
		if spec.Type != Array {
			for k := range dump(t, m) {
				if err := m.Delete([]byte(k)); err != nil {
					t.Fatalf("delete of %x, a key NextKey gave: %v", k, err)
				}
			}
		}
	})
}

// TestMapFileReleasesLocks: a map file reopened after its process died while a program
// held a spin lock (the lock word set in the file) has every lock released, and keeps
// the rest of its values.
func TestMapFileReleasesLocks(t *testing.T) {
	for _, typ := range []Type{Array, Hash} {
		t.Run(typ.String(), func(t *testing.T) {
			spec := Spec{Name: "locked", Type: typ, KeySize: 4, ValueSize: 16, MaxEntries: 8, SpinLock: true, SpinLockOffset: 4}
			path := filepath.Join(t.TempDir(), "m")
			m := openTestFile(t, spec, path)
			for k := uint32(0); k < 3; k++ {
				key := u32(k)
				value := append(u32(100+k), make([]byte, 12)...)
				if err := m.Update(key, value, UpdateAny); err != nil {
					t.Fatal(err)
				}
				(*atomic.Uint32)(unsafe.Add(m.LookupPtr(unsafe.Pointer(&key[0])), 4)).Store(1) // held
			}
			closeMap(t, m)
			m = openTestFile(t, spec, path)
			defer closeMap(t, m)
			for k := uint32(0); k < 3; k++ {
				key := u32(k)
				p := m.LookupPtr(unsafe.Pointer(&key[0]))
				if p == nil {
					t.Fatalf("key %d lost", k)
				}
				if v := *(*uint32)(p); v != 100+k {
					t.Errorf("key %d: value %d, want %d", k, v, 100+k)
				}
				if l := (*atomic.Uint32)(unsafe.Add(p, 4)).Load(); l != 0 {
					t.Errorf("key %d: lock word %d after reopening, want 0 (released)", k, l)
				}
			}
		})
	}
}
