package link_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/anybpf/anybpf"
	"github.com/anybpf/anybpf/link"
)

// record is struct record of testdata/process_events.c.
type record struct {
	Parent, Creator, CreateSeq, DeleteSeq uint64
	CreateLatency, DeleteLatency          uint64
	Creates, Deletes, ExitCode, ImageLen  uint32
	Image, Command                        [32]byte
}

func loadProgram(t *testing.T, file, name string) (*anybpf.Collection, *anybpf.Program) {
	t.Helper()
	rt := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig())
	t.Cleanup(func() { rt.Close() })
	coll, err := rt.LoadCollection(filepath.Join("..", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	prog := coll.Programs[name]
	if prog == nil {
		t.Fatalf("%s has no program %s", file, name)
	}
	return coll, prog
}

// attachProcess attaches prog or skips the test with the reason.
func attachProcess(t *testing.T, prog *anybpf.Program) *link.ProcessLink {
	t.Helper()
	l, err := link.AttachProcess(prog)
	if errors.Is(err, link.ErrNotSupported) {
		t.Skip("process events are not supported on this platform")
	}
	if err != nil {
		if os.Geteuid() != 0 {
			t.Skip("process events need root: ", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestAttachProcessCommandTree(t *testing.T) {
	coll, prog := loadProgram(t, "process_events.o", "record_process")
	l := attachProcess(t, prog)
	if info := l.Info(); info.AttachType != "process" || info.Program != "record_process" || info.Target != "host" {
		t.Errorf("Info() = %+v", info)
	}
	// sh forks a child that runs sleep (long enough for its command line to be read),
	// then exits with 3.
	cmd := exec.Command("/bin/sh", "-c", "/bin/sleep 0.3; exit 3")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sh := uint32(cmd.Process.Pid)
	_ = cmd.Wait()

	records := coll.Maps["records"]
	lookup := func(pid uint32) (record, bool) {
		var r record
		err := records.Lookup(pid, &r)
		return r, err == nil
	}
	deadline := time.Now().Add(10 * time.Second)
	var shRec record
	for {
		if r, ok := lookup(sh); ok && r.Deletes > 0 {
			shRec = r
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no exit event for sh %d; stats %+v", sh, l.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Find sleep by its parent.
	var sleepRec record
	var found bool
	var key, next [4]byte
	var k []byte
	for records.NextKey(k, next[:]) == nil {
		key = next
		k = key[:]
		var r record
		if records.Lookup(key[:], &r) == nil && r.Parent == uint64(sh) && bytes.HasPrefix(r.Command[:], []byte("/bin/sleep")) {
			sleepRec, found = r, true
		}
	}
	if !found {
		t.Fatalf("no record of sleep with parent %d", sh)
	}
	for _, c := range []struct {
		name         string
		r            record
		exit         uint32
		image, cmdln string
	}{
		{"sh", shRec, 3, "", "/bin/sh -c /bin/sleep 0.3; exit 3"},
		{"sleep", sleepRec, 0, "/usr/bin/sleep", "/bin/sleep 0.3"},
	} {
		r := c.r
		if r.Creates != 1 || r.Deletes != 1 {
			t.Errorf("%s: %d creates and %d deletes, want 1 and 1", c.name, r.Creates, r.Deletes)
		}
		if r.CreateSeq >= r.DeleteSeq {
			t.Errorf("%s: created at %d, deleted at %d: out of order", c.name, r.CreateSeq, r.DeleteSeq)
		}
		if r.ExitCode != c.exit {
			t.Errorf("%s: exit code %d, want %d", c.name, r.ExitCode, c.exit)
		}
		if want := c.cmdln[:min(len(c.cmdln), 31)]; string(bytes.TrimRight(r.Command[:], "\x00")) != want {
			t.Errorf("%s: command line %q, want %q", c.name, bytes.TrimRight(r.Command[:], "\x00"), want)
		}
		if c.image != "" && string(bytes.TrimRight(r.Image[:], "\x00")) != c.image {
			t.Errorf("%s: image path %q, want %q", c.name, bytes.TrimRight(r.Image[:], "\x00"), c.image)
		}
		// The program's clock (bpf_ktime_get_ns) and the event's are the same clock:
		// the delivery latency is small and positive.
		for _, lat := range []uint64{r.CreateLatency, r.DeleteLatency} {
			if lat == 0 || lat > uint64(5*time.Second) {
				t.Errorf("%s: delivered %d ns after the event", c.name, lat)
			}
		}
	}
	if sleepRec.CreateSeq < shRec.CreateSeq || sleepRec.DeleteSeq > shRec.DeleteSeq {
		t.Errorf("sleep's events (%d, %d) are not inside sh's (%d, %d)", sleepRec.CreateSeq, sleepRec.DeleteSeq, shRec.CreateSeq, shRec.DeleteSeq)
	}
	if st := l.Stats(); st.Runs == 0 || st.Errors != 0 {
		t.Errorf("stats %+v: want runs and no errors", st)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestAttachProcessRefusesOtherTypes(t *testing.T) {
	_, prog := loadProgram(t, "hooks.o", "bind_policy")
	if _, err := link.AttachProcess(prog); err == nil {
		t.Fatal("a bind program attached to process events")
	}
	if _, err := link.AttachProcess(nil); err == nil {
		t.Fatal("a nil program attached")
	}
}

// BenchmarkProcessEventLatency starts b.N processes (each /bin/true) and reports how long
// after the kernel's event the program ran, for creations and exits: the program itself
// measures it with bpf_ktime_get_ns.
func BenchmarkProcessEventLatency(b *testing.B) {
	rt := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig())
	defer rt.Close()
	coll, err := rt.LoadCollection(filepath.Join("..", "testdata", "process_events.o"))
	if err != nil {
		b.Fatal(err)
	}
	l, err := link.AttachProcess(coll.Programs["record_process"])
	if err != nil {
		b.Skip("process events unavailable: ", err)
	}
	defer l.Close()
	pids := make([]uint32, 0, b.N)
	for b.Loop() {
		cmd := exec.Command("/bin/true")
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		pids = append(pids, uint32(cmd.Process.Pid))
	}
	b.StopTimer()
	var creates, deletes []float64
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		var r record
		for coll.Maps["records"].Lookup(pid, &r) != nil || r.Deletes == 0 {
			if time.Now().After(deadline) {
				b.Fatalf("no exit event for %d; stats %+v", pid, l.Stats())
			}
			time.Sleep(time.Millisecond)
		}
		creates = append(creates, float64(r.CreateLatency)/1e3)
		deletes = append(deletes, float64(r.DeleteLatency)/1e3)
	}
	b.ReportMetric(percentile(creates, 50), "create-p50-µs")
	b.ReportMetric(percentile(creates, 99), "create-p99-µs")
	b.ReportMetric(percentile(deletes, 50), "exit-p50-µs")
	b.ReportMetric(percentile(deletes, 99), "exit-p99-µs")
	b.ReportMetric(0, "ns/op")
}

func percentile(v []float64, p int) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}
