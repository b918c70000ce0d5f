//go:build unix

package maps

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// TestQueueFileKeepsContents pushes and pops on file-backed queues and stacks against a
// model, reopening the file between rounds.
func TestQueueFileKeepsContents(t *testing.T) {
	for _, typ := range []Type{Queue, Stack} {
		t.Run(typ.String(), func(t *testing.T) {
			spec := Spec{Name: "q", Type: typ, ValueSize: 8, MaxEntries: 5}
			path := filepath.Join(t.TempDir(), "q")
			var model []uint64 // oldest first
			next := uint64(1)
			rng := rand.New(rand.NewPCG(1, 2))
			for round := range 20 {
				m, created, err := OpenFile(spec, NewEpochs(2), path)
				if err != nil {
					t.Fatal(err)
				}
				if created != (round == 0) {
					t.Fatalf("round %d: created %v", round, created)
				}
				q := m.(QueueMap)
				if got := q.Elements(); len(got) != len(model) {
					t.Fatalf("round %d: reopened with %d values, want %d", round, len(got), len(model))
				}
				for range 7 {
					switch op := rng.IntN(3); {
					case op < 2: // push, dropping the oldest when full
						err := q.Push(u64(next), UpdateExist)
						if err != nil {
							t.Fatal(err)
						}
						if len(model) == int(spec.MaxEntries) {
							model = model[1:]
						}
						model = append(model, next)
						next++
					default:
						v := make([]byte, 8)
						err := q.Pop(v)
						if len(model) == 0 {
							if !errors.Is(err, ErrKeyNotExist) {
								t.Fatalf("pop of an empty %s: %v", typ, err)
							}
							continue
						}
						var want uint64
						if typ == Queue {
							want, model = model[0], model[1:]
						} else {
							want, model = model[len(model)-1], model[:len(model)-1]
						}
						if err != nil || binary.LittleEndian.Uint64(v) != want {
							t.Fatalf("pop: %d, %v; want %d", binary.LittleEndian.Uint64(v), err, want)
						}
					}
				}
				if len(model) == int(spec.MaxEntries) {
					if err := q.Push(u64(0), UpdateAny); !errors.Is(err, ErrFull) {
						t.Fatalf("push into a full %s: %v, want ErrFull", typ, err)
					}
				}
				got := q.Elements()
				for i, v := range got {
					want := model[i]
					if typ == Stack {
						want = model[len(model)-1-i]
					}
					if binary.LittleEndian.Uint64(v) != want {
						t.Fatalf("round %d: element %d = %d, want %d (model %v)", round, i, binary.LittleEndian.Uint64(v), want, model)
					}
				}
				closeMap(t, m)
			}
		})
	}
}

// TestQueueFileRefused checks that a queue file of another shape, or with a damaged
// state word, is refused.
func TestQueueFileRefused(t *testing.T) {
	spec := Spec{Name: "q", Type: Queue, ValueSize: 8, MaxEntries: 4}
	path := filepath.Join(t.TempDir(), "q")
	closeMap(t, openTestFile(t, spec, path))
	other := spec
	other.Type = Stack
	if _, _, err := OpenFile(other, NewEpochs(2), path); !errors.Is(err, ErrBadMapFile) {
		t.Fatalf("a queue's file opened as a stack: %v", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(u64(9), mapFileHeader) // count 9 in a map of 4
	f.Close()
	if _, _, err := OpenFile(spec, NewEpochs(2), path); !errors.Is(err, ErrBadMapFile) {
		t.Fatalf("a queue file with a damaged state: %v", err)
	}
}

const queueCrashChildEnv = "ANYBPF_QUEUEFILE_CRASH_CHILD"

var queueCrashSpec = Spec{Name: "q", Type: Queue, ValueSize: 16, MaxEntries: 7}

// TestQueueFileSurvivesKill kills a process that pushes numbered values into a
// file-backed queue (dropping the oldest) and pops one every third step: the file holds
// what the last completed step left, or what the step in progress left.
func TestQueueFileSurvivesKill(t *testing.T) {
	if dir := os.Getenv(queueCrashChildEnv); dir != "" {
		queueCrashChild(t, dir)
		return
	}
	for round := range 3 {
		dir := t.TempDir()
		last := killChild(t, "TestQueueFileSurvivesKill", queueCrashChildEnv, dir, 20+rand.IntN(200))
		m, _, err := OpenFile(queueCrashSpec, NewEpochs(2), filepath.Join(dir, "q"))
		if err != nil {
			t.Fatal(err)
		}
		got := fmt.Sprint(queueValues(m.(QueueMap)))
		after, inProgress := fmt.Sprint(queueModel(last)), fmt.Sprint(queueModel(last+1))
		if got != after && got != inProgress {
			t.Errorf("round %d: killed after step %d: queue holds %s, want %s (or %s)", round, last, got, after, inProgress)
		}
		closeMap(t, m)
	}
}

// queueModel is what the queue holds after steps 0..last: step i pushes i+1, and every
// third step then pops.
func queueModel(last int) []uint64 {
	var q []uint64
	for i := 0; i <= last; i++ {
		if len(q) == int(queueCrashSpec.MaxEntries) {
			q = q[1:]
		}
		q = append(q, uint64(i+1))
		if i%3 == 2 {
			q = q[1:]
		}
	}
	return q
}

func queueValues(q QueueMap) []uint64 {
	var out []uint64
	for _, v := range q.Elements() {
		out = append(out, binary.LittleEndian.Uint64(v))
	}
	return out
}

func queueCrashChild(t *testing.T, dir string) {
	m, _, err := OpenFile(queueCrashSpec, NewEpochs(2), filepath.Join(dir, "q"))
	if err != nil {
		t.Fatal(err)
	}
	q := m.(QueueMap)
	v := make([]byte, 16)
	for i := 0; ; i++ {
		binary.LittleEndian.PutUint64(v, uint64(i+1))
		binary.LittleEndian.PutUint64(v[8:], ^uint64(i))
		if err := q.Push(v, UpdateExist); err != nil {
			t.Fatal(err)
		}
		if i%3 == 2 {
			if err := q.Pop(v); err != nil {
				t.Fatal(err)
			}
		}
		fmt.Println(i)
	}
}
