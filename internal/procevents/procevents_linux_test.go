package procevents

import (
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"
)

// listen subscribes or skips the test with the reason.
func listen(t *testing.T) *Listener {
	t.Helper()
	l, err := Listen()
	if errors.Is(err, ErrNotSupported) {
		t.Skip("process events: not supported on this platform")
	}
	if err != nil {
		if os.Geteuid() != 0 {
			t.Skip("process events need root (CAP_NET_ADMIN): ", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// collect reads events until done reports true for the events so far, or times out.
func collect(t *testing.T, l *Listener, done func([]Event) bool) []Event {
	t.Helper()
	var all []Event
	deadline := time.AfterFunc(10*time.Second, func() { l.Close() })
	defer deadline.Stop()
	for !done(all) {
		evs, err := l.Read()
		if errors.Is(err, ErrLost) {
			t.Log("events lost")
			continue
		}
		if err != nil {
			t.Fatalf("read after %d events: %v", len(all), err)
		}
		all = append(all, evs...)
	}
	return all
}

func TestCommandTree(t *testing.T) {
	l := listen(t)
	// sh forks a child that execs true, waits for it, then exits with 3.
	cmd := exec.Command("/bin/sh", "-c", "/bin/true; exit 3")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sh := uint32(cmd.Process.Pid)
	_ = cmd.Wait()
	var child uint32
	evs := collect(t, l, func(evs []Event) bool {
		for _, e := range evs {
			if e.Kind == Exit && e.PID == sh {
				return true
			}
		}
		return false
	})
	var seq []string
	for _, e := range evs {
		if e.Kind == Fork && e.ParentPID == sh {
			child = e.PID
		}
	}
	if child == 0 {
		t.Fatalf("no fork from sh %d in %v", sh, evs)
	}
	var shExit, childExit *Event
	for i, e := range evs {
		switch e.PID {
		case sh:
			seq = append(seq, "sh:"+e.Kind.String())
			if e.Kind == Exit {
				shExit = &evs[i]
			}
		case child:
			seq = append(seq, "child:"+e.Kind.String())
			if e.Kind == Exit {
				childExit = &evs[i]
			}
		}
	}
	// The test's own fork of sh comes first, then sh's exec; the child forks, execs true
	// and exits before sh exits.
	want := []string{"sh:fork", "sh:exec", "child:fork", "child:exec", "child:exit", "sh:exit"}
	if len(seq) != len(want) {
		t.Fatalf("events %v, want %v", seq, want)
	}
	for i := range want {
		if seq[i] != want[i] {
			t.Fatalf("events %v, want %v", seq, want)
		}
	}
	if shExit.ExitCode != 3 || shExit.Signal != 0 {
		t.Errorf("sh exit code %d signal %d, want 3 and 0", shExit.ExitCode, shExit.Signal)
	}
	if childExit.ExitCode != 0 {
		t.Errorf("true exit code %d, want 0", childExit.ExitCode)
	}
	if childExit.ParentPID != 0 && childExit.ParentPID != sh {
		t.Errorf("true's parent %d, want %d", childExit.ParentPID, sh)
	}
	if shExit.Time < childExit.Time {
		t.Errorf("sh exited at %v before its child at %v", shExit.Time, childExit.Time)
	}
}

func TestKilled(t *testing.T) {
	l := listen(t)
	cmd := exec.Command("/bin/sleep", "10")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := uint32(cmd.Process.Pid)
	cmd.Process.Kill()
	_ = cmd.Wait()
	evs := collect(t, l, func(evs []Event) bool {
		for _, e := range evs {
			if e.Kind == Exit && e.PID == pid {
				return true
			}
		}
		return false
	})
	for _, e := range evs {
		if e.Kind == Exit && e.PID == pid && (e.Signal != 9 || e.ExitCode != 137) {
			t.Errorf("killed sleep: signal %d exit code %d, want 9 and 137", e.Signal, e.ExitCode)
		}
	}
}

func TestCloseStopsRead(t *testing.T) {
	l := listen(t)
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := l.Read(); err != nil && !errors.Is(err, ErrLost) {
				done <- err
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond)
	l.Close()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrClosed) {
			t.Errorf("Read after Close: %v, want os.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not return after Close")
	}
}

// message builds a netlink message carrying one proc_event.
func message(what uint32, data ...uint32) []byte {
	ev := make([]byte, procEventHeader+4*len(data))
	binary.NativeEndian.PutUint32(ev[0:], what)
	binary.NativeEndian.PutUint64(ev[8:], 12345)
	for i, d := range data {
		binary.NativeEndian.PutUint32(ev[procEventHeader+4*i:], d)
	}
	msg := control(0)[:nlmsgHdrLen+cnMsgLen]
	msg = append(msg, ev...)
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[nlmsgHdrLen+16:], uint16(len(ev)))
	return msg
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		msg  []byte
		want []Event
	}{
		{"fork", message(procEventFork, 10, 10, 20, 20), []Event{{Kind: Fork, PID: 20, ParentPID: 10, ParentTID: 10, Time: 12345}}},
		{"thread fork", message(procEventFork, 10, 10, 21, 20), nil},
		{"exec", message(procEventExec, 20, 20), []Event{{Kind: Exec, PID: 20, Time: 12345}}},
		{"exit code", message(procEventExit, 20, 20, 3<<8, 17, 10, 10), []Event{{Kind: Exit, PID: 20, ExitCode: 3, ParentPID: 10, Time: 12345}}},
		{"killed", message(procEventExit, 20, 20, 9, 17), []Event{{Kind: Exit, PID: 20, ExitCode: 137, Signal: 9, Time: 12345}}},
		{"thread exit", message(procEventExit, 21, 20, 0, 17), nil},
		{"short exec", message(procEventExec, 20), nil},
		{"other event", message(0x200, 20, 20), nil},
		{"truncated", message(procEventExec, 20, 20)[:30], nil},
		{"two", append(message(procEventExec, 1, 1), message(procEventExec, 2, 2)...), []Event{{Kind: Exec, PID: 1, Time: 12345}, {Kind: Exec, PID: 2, Time: 12345}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parse(tt.msg)
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("event %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add(message(procEventFork, 10, 10, 20, 20))
	f.Add(message(procEventExit, 20, 20, 3<<8, 17, 10, 10))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, e := range parse(b) {
			if e.Kind < Fork || e.Kind > Exit {
				t.Fatalf("event of kind %d", e.Kind)
			}
		}
	})
}
