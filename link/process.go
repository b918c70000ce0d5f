package link

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/anybpf/anybpf"
	"github.com/anybpf/anybpf/internal/procevents"
	"github.com/anybpf/anybpf/progtype"
)

// Operations a PROCESS program sees in process_md.operation.
const (
	ProcessCreate = 0
	ProcessDelete = 1
)

// maxTracked bounds the processes a process hook remembers between their creation and
// their exit; processes created beyond it are still reported at creation, not at exit.
const maxTracked = 1 << 16

// ProcessStats counts what a process hook did.
type ProcessStats struct {
	// Events is how many process events the hook received from the host.
	Events uint64
	// Runs is how many times the program ran.
	Runs uint64
	// Errors is how many runs failed (the program was closed, say).
	Errors uint64
	// Lost is how many times the host dropped events because the hook fell behind.
	Lost uint64
}

// ProcessLink is a PROCESS program attached to the host's process events.
type ProcessLink struct {
	prog                      *anybpf.Program
	events                    *procevents.Listener
	done                      chan struct{}
	closeOnce                 sync.Once
	nevents, runs, errs, lost atomic.Uint64
}

// AttachProcess runs prog, a PROCESS program (section "process"), for every process the
// host creates and for its exit, with the context of include/anybpf/process.h: on CREATE
// (a process started a new image with execve) the command line (its arguments separated
// by spaces) and the executable's path as spans, the process, its parent and the thread
// that forked it, and the creation time; on DELETE (the process exited) the same with the
// exit time and exit code. Processes created before the hook was attached are not
// reported, nor are processes that exit without ever calling execve (a shell's subshell):
// every process seen has a CREATE for each image it runs, then one DELETE.
//
// The program's verdict is ignored: a process event reports what already happened. To
// refuse an execve, attach the program to a supervised command instead (anybpf run).
// Command lines and paths are read from /proc when the event arrives; a process that has
// already exited by then is reported with empty spans.
//
// It needs the process connector (Linux, CAP_NET_ADMIN).
func AttachProcess(prog *anybpf.Program) (*ProcessLink, error) {
	if prog == nil {
		return nil, errors.New("attach process: no program")
	}
	if prog.Type != progtype.Process {
		return nil, fmt.Errorf("attach process: program %s is of type %s, not process", prog.Name, prog.Type)
	}
	l, err := procevents.Listen()
	if errors.Is(err, procevents.ErrNotSupported) {
		return nil, fmt.Errorf("attach process: %w: %v", ErrNotSupported, err)
	}
	if err != nil {
		return nil, fmt.Errorf("attach process: %w", err)
	}
	pl := &ProcessLink{prog: prog, events: l, done: make(chan struct{})}
	go pl.serve()
	return pl, nil
}

// Info describes the attachment.
func (pl *ProcessLink) Info() Info {
	return Info{AttachType: "process", Program: pl.prog.Name, Target: "host"}
}

// Stats returns the hook's counters.
func (pl *ProcessLink) Stats() ProcessStats {
	return ProcessStats{Events: pl.nevents.Load(), Runs: pl.runs.Load(), Errors: pl.errs.Load(), Lost: pl.lost.Load()}
}

// Close detaches the program; it returns after the last run has finished.
func (pl *ProcessLink) Close() error {
	pl.closeOnce.Do(func() { pl.events.Close() })
	<-pl.done
	return nil
}

// process is what the hook remembers of a process between its creation and its exit.
type process struct {
	md         progtype.ProcessMD
	command    []byte
	image      []byte
	created    bool
	parent     uint32
	creatorTID uint32
}

func (pl *ProcessLink) serve() {
	defer close(pl.done)
	procs := make(map[uint32]*process)
	for {
		evs, err := pl.events.Read()
		if errors.Is(err, procevents.ErrLost) {
			pl.lost.Add(1)
			continue
		}
		if err != nil {
			return // closed
		}
		for _, ev := range evs {
			pl.nevents.Add(1)
			pl.handle(procs, ev)
		}
	}
}

func (pl *ProcessLink) handle(procs map[uint32]*process, ev procevents.Event) {
	switch ev.Kind {
	case procevents.Fork:
		if len(procs) < maxTracked {
			procs[ev.PID] = &process{parent: ev.ParentPID, creatorTID: ev.ParentTID}
		}
	case procevents.Exec:
		p := procs[ev.PID]
		if p == nil {
			// Forked before the hook was attached (or beyond maxTracked).
			p = &process{parent: procevents.ParentOf(ev.PID)}
			p.creatorTID = p.parent
			if len(procs) < maxTracked {
				procs[ev.PID] = p
			}
		}
		p.command, p.image = commandLine(ev.PID), imagePath(ev.PID)
		p.created = true
		p.md = progtype.ProcessMD{ProcessID: uint64(ev.PID), ParentProcessID: uint64(p.parent), CreatingProcessID: uint64(p.parent),
			CreatingThreadID: uint64(p.creatorTID), CreationTime: uint64(ev.Time), Operation: ProcessCreate}
		pl.run(p)
	case procevents.Exit:
		p := procs[ev.PID]
		delete(procs, ev.PID)
		if p == nil || !p.created {
			return
		}
		p.md.ExitTime, p.md.ExitCode, p.md.Operation = uint64(ev.Time), ev.ExitCode, ProcessDelete
		pl.run(p)
	}
}

func (pl *ProcessLink) run(p *process) {
	pl.runs.Add(1)
	if _, err := pl.prog.Run(&anybpf.RunOptions{Data: p.command, ImagePath: p.image, Context: p.md.Encode()}); err != nil {
		pl.errs.Add(1)
	}
}

// commandLine reads a process's arguments, separated by spaces.
func commandLine(pid uint32) []byte {
	b, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/cmdline")
	if err != nil {
		return nil
	}
	return bytes.ReplaceAll(bytes.TrimRight(b, "\x00"), []byte{0}, []byte{' '})
}

// imagePath reads the path of a process's executable.
func imagePath(pid uint32) []byte {
	s, err := os.Readlink("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/exe")
	if err != nil {
		return nil
	}
	return []byte(s)
}
