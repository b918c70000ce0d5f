package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/anybpf/anybpf"
	pb "github.com/anybpf/anybpf/api/anybpfv1"
	"github.com/anybpf/anybpf/internal/supervisor"
)

// runHook is one --attach of a command supervised through the daemon.
type runHook struct {
	attachType string
	prog       *anybpf.RemoteProgram
}

// runThroughDaemon is `anybpf run --daemon`: the objects are loaded into the daemon
// (their maps pinned under pinDir when set, so that `anybpf map` reads them while the
// command runs), the command starts under anybpf's filter, the daemon takes its listener
// over, and each --attach becomes a daemon link on the command (`anybpf link show`,
// `link detach`). The links go when the command's processes have all exited.
func runThroughDaemon(c *cobra.Command, g *globalFlags, attaches, mapSets []string, pinDir string, args []string) error {
	cl, err := g.dial()
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	defer cl.Close()
	hooks, colls, err := loadRemoteRunHooks(cl, attaches)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	defer func() {
		for _, coll := range colls {
			coll.Close() // what is not pinned goes; the pins stay
		}
	}()
	for _, ms := range mapSets {
		if err := setRunMap(handlesOf(colls), ms); err != nil {
			return fmt.Errorf("run: --map-set %s: %w", ms, err)
		}
	}
	if pinDir != "" {
		if err := pinRunMaps(colls, strings.TrimRight(pinDir, `/\`)); err != nil {
			return fmt.Errorf("run: --pin: %w", err)
		}
	}
	command := exec.Command(args[0], args[1:]...)
	command.Stdin, command.Stdout, command.Stderr = c.InOrStdin(), c.OutOrStdout(), c.ErrOrStderr()
	launched, err := supervisor.Launch(command, supervisor.InterceptAll)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	child := launched.Cmd
	abort := func(err error) error {
		closeListener(launched.Listener)
		child.Process.Kill()
		child.Wait()
		return fmt.Errorf("run: %w", err)
	}
	ctx := context.Background()
	resp, err := cl.API().Supervise(ctx, &pb.SuperviseRequest{ListenerFd: int32(launched.Listener), Pid: int32(child.Process.Pid), Command: strings.Join(args, " ")})
	if err != nil {
		return abort(remoteErr(err))
	}
	closeListener(launched.Listener) // the daemon has its own copy now
	for _, h := range hooks {
		if _, err := cl.API().Attach(ctx, &pb.AttachRequest{ProgId: h.prog.ID(), AttachType: h.attachType, Target: resp.Target}); err != nil {
			child.Process.Kill()
			child.Wait()
			return fmt.Errorf("run: attach %s: %w", h.attachType, remoteErr(err))
		}
	}
	if err := launched.Release(); err != nil {
		child.Process.Kill()
		child.Wait()
		return fmt.Errorf("run: %w", err)
	}
	signal.Ignore(syscall.SIGINT, syscall.SIGQUIT)
	err = child.Wait()
	signal.Reset(syscall.SIGINT, syscall.SIGQUIT)
	return commandExit(err)
}

// commandExit turns the supervised command's end into anybpf run's: its exit status, or
// 128 + the signal that killed it.
func commandExit(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code := ee.ExitCode()
		if code < 0 {
			code = 128 + int(ee.Sys().(syscall.WaitStatus).Signal())
		}
		return &exitError{code: code, err: err}
	}
	return err
}

// loadRemoteRunHooks loads the objects --attach names into the daemon (each once) and
// picks their programs, as loadRunHooks does in process.
func loadRemoteRunHooks(cl *anybpf.Client, attaches []string) ([]runHook, map[string]*anybpf.RemoteCollection, error) {
	var hooks []runHook
	colls := map[string]*anybpf.RemoteCollection{}
	fail := func(err error) ([]runHook, map[string]*anybpf.RemoteCollection, error) {
		for _, coll := range colls {
			coll.Close()
		}
		return nil, nil, err
	}
	for _, a := range attaches {
		typ, prog, ok := strings.Cut(a, "=")
		typ = strings.TrimPrefix(typ, "cgroup/")
		at, known := runAttachTypes[typ]
		if !ok || !known {
			return fail(fmt.Errorf("--attach %q: want TYPE=PROG with TYPE one of %s", a, runAttachNames))
		}
		file, name, _ := strings.Cut(prog, ":")
		coll := colls[file]
		if coll == nil {
			var err error
			if coll, err = cl.LoadCollection(file); err != nil {
				return fail(err)
			}
			colls[file] = coll
		}
		var p *anybpf.RemoteProgram
		if name != "" {
			if p = coll.Programs[name]; p == nil {
				return fail(fmt.Errorf("--attach %s: %s has no program %q", a, file, name))
			}
		} else {
			var found []string
			for n, q := range coll.Programs {
				if q.Section == at.section {
					found = append(found, n)
				}
			}
			sort.Strings(found)
			switch len(found) {
			case 0:
				return fail(fmt.Errorf("--attach %s: %s has no program in section %s", a, file, at.section))
			case 1:
				p = coll.Programs[found[0]]
			default:
				return fail(fmt.Errorf("--attach %s: %s has several programs in section %s (%s): say which with FILE.o:NAME", a, file, at.section, strings.Join(found, ", ")))
			}
		}
		info, err := p.Info()
		if err != nil {
			return fail(err)
		}
		if info.Type != at.typ.String() {
			return fail(fmt.Errorf("--attach %s: program %s is of type %s, not %s", a, p.Name, info.Type, at.typ))
		}
		hooks = append(hooks, runHook{attachType: typ, prog: p})
	}
	return hooks, colls, nil
}

// pinRunMaps pins every map of the loaded objects as DIR/NAME.
func pinRunMaps(colls map[string]*anybpf.RemoteCollection, dir string) error {
	seen := map[string]string{}
	for file, coll := range colls {
		for name, m := range coll.Maps {
			if other, dup := seen[name]; dup {
				return fmt.Errorf("%s and %s both have a map %q", other, file, name)
			}
			seen[name] = file
			if err := m.Pin(dir + "/" + name); err != nil {
				return err
			}
		}
	}
	return nil
}
