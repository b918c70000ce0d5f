package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os/exec"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/anybpf/anybpf"
	"github.com/anybpf/anybpf/internal/supervisor"
	"github.com/anybpf/anybpf/progtype"
)

// runAttachTypes are the hooks `anybpf run --attach` offers: the libbpf section name
// (and its short form) of the programs each takes.
var runAttachTypes = map[string]struct {
	section string
	typ     progtype.Type
	add     func(h *supervisor.Hooks, p *anybpf.Program)
}{
	"connect4": {"cgroup/connect4", progtype.CgroupSockAddr, func(h *supervisor.Hooks, p *anybpf.Program) { h.Connect4 = append(h.Connect4, p) }},
	"connect6": {"cgroup/connect6", progtype.CgroupSockAddr, func(h *supervisor.Hooks, p *anybpf.Program) { h.Connect6 = append(h.Connect6, p) }},
	"bind4":    {"cgroup/bind4", progtype.CgroupSockAddr, func(h *supervisor.Hooks, p *anybpf.Program) { h.Bind4 = append(h.Bind4, p) }},
	"bind6":    {"cgroup/bind6", progtype.CgroupSockAddr, func(h *supervisor.Hooks, p *anybpf.Program) { h.Bind6 = append(h.Bind6, p) }},
	"sendmsg4": {"cgroup/sendmsg4", progtype.CgroupSockAddr, func(h *supervisor.Hooks, p *anybpf.Program) { h.Sendmsg4 = append(h.Sendmsg4, p) }},
	"sendmsg6": {"cgroup/sendmsg6", progtype.CgroupSockAddr, func(h *supervisor.Hooks, p *anybpf.Program) { h.Sendmsg6 = append(h.Sendmsg6, p) }},
	"recvmsg4": {"cgroup/recvmsg4", progtype.CgroupSockAddr, func(h *supervisor.Hooks, p *anybpf.Program) { h.Recvmsg4 = append(h.Recvmsg4, p) }},
	"recvmsg6": {"cgroup/recvmsg6", progtype.CgroupSockAddr, func(h *supervisor.Hooks, p *anybpf.Program) { h.Recvmsg6 = append(h.Recvmsg6, p) }},
	"sockops":  {"sockops", progtype.SockOps, func(h *supervisor.Hooks, p *anybpf.Program) { h.SockOps = append(h.SockOps, p) }},
	"bind":     {"bind", progtype.Bind, func(h *supervisor.Hooks, p *anybpf.Program) { h.Bind = append(h.Bind, p) }},
	"process":  {"process", progtype.Process, func(h *supervisor.Hooks, p *anybpf.Program) { h.Exec = append(h.Exec, p) }},
}

// runAttachNames lists the attach types run takes, for messages.
const runAttachNames = "connect4, connect6, bind4, bind6, sendmsg4, sendmsg6, recvmsg4, recvmsg6, sockops, bind, process"

func newRunCommand(g *globalFlags) *cobra.Command {
	var attaches, mapSets []string
	var engine, pinDir string
	var viaDaemon bool
	cmd := &cobra.Command{
		Use:   "run [--attach TYPE=PROG]... [--map-set MAP:KEY=VALUE]... -- COMMAND [ARGS]",
		Short: "Run a command whose connects, binds, UDP sends and execs eBPF programs decide",
		Long: `run starts COMMAND under a seccomp user-notification filter (Linux, as root) and runs
the attached programs on its calls, and on those of its threads and children:

  connect4, connect6  cgroup/connect4|6 programs (struct bpf_sock_addr): 1 allows, 0
                      refuses (EPERM); a rewritten user_ip4/user_ip6/user_port redirects
  bind4, bind6        cgroup/bind4|6 programs, the same way
  sendmsg4, sendmsg6  cgroup/sendmsg4|6 programs on sendto/sendmsg/sendmmsg with a
                      destination on UDP sockets, the same way (a rewritten
                      msg_src_ip4/msg_src_ip6 sets the source); connected sends are not
                      judged, as in Linux
  recvmsg4, recvmsg6  cgroup/recvmsg4|6 programs on recvfrom/recvmsg/recvmmsg with an
                      address buffer on UDP sockets: a rewritten user_ip4/user_ip6/
                      user_port is the source address the command sees (the return
                      value is ignored; Linux requires 1)
  sockops             sock_ops programs (struct bpf_sock_ops) on the command's TCP
                      connections: ACTIVE_ESTABLISHED_CB when a connect succeeds,
                      PASSIVE_ESTABLISHED_CB when an accept returns a connection,
                      TCP_LISTEN_CB when a socket starts listening, and
                      STATE_CB (args[1] = BPF_TCP_CLOSE; args[0], the old state, is 0)
                      when its socket is destroyed, on connections where a program set
                      BPF_SOCK_OPS_STATE_CB_FLAG; no other callbacks; reply, sk_txhash
                      and setsockopt have no effect
  bind                BIND programs (ebpf-for-windows's bind_md, include/anybpf/bind.h) on
                      each bind, after bind4/bind6: BIND_DENY refuses (EPERM),
                      BIND_REDIRECT binds to the socket_address written, BIND_PERMIT
                      allows, BIND_PERMIT_HARD allows without asking later programs
  process             PROCESS programs (include/anybpf/process.h) on each execve: non-zero
                      refuses it (EPERM)

Status: connect4/6, bind4/6, sendmsg4/6, recvmsg4/6 and process are complete (for IPv4
and IPv6 sockets); sockops is partial (the four callbacks above only), bind is partial
(the bind operation only: no post-bind or unbind events). The
supervisor performs the calls it judges on its copy of the command's socket. A
blocking accept or receive waits in the supervisor; a signal to the waiting thread
interrupts it as Linux would (restarted with SA_RESTART), within 0.1 s.

With --daemon (or --pin DIR) the objects are loaded into the daemon (--socket) instead
of this process: the daemon verifies and runs the programs, the command's hooks are
daemon links (anybpf link show lists them with the command's pid; link detach removes
one while the command runs), and --pin DIR pins the objects' maps as DIR/NAME so that
anybpf map dump|lookup pinned DIR/NAME reads them while it runs (they stay pinned after).

PROG is FILE.o (its program of that attach type) or FILE.o:NAME. --map-set fills a map
of the loaded objects before COMMAND starts: KEY and VALUE are unsigned integers, stored
little-endian at the map's key and value sizes, or "quoted strings", zero-padded. anybpf
run exits with COMMAND's status.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if len(attaches) == 0 {
				return errors.New("run: no --attach TYPE=PROG given")
			}
			if pinDir != "" {
				viaDaemon = true
			}
			if viaDaemon {
				return runThroughDaemon(c, g, attaches, mapSets, pinDir, args)
			}
			if _, err := anybpf.EngineByName(engine); err != nil {
				return fmt.Errorf("run: %w", err)
			}
			rt := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig().WithEngine(engine))
			defer rt.Close()
			hooks, colls, err := loadRunHooks(rt, attaches)
			if err != nil {
				return fmt.Errorf("run: %w", err)
			}
			for _, ms := range mapSets {
				if err := setRunMap(handlesOf(colls), ms); err != nil {
					return fmt.Errorf("run: --map-set %s: %w", ms, err)
				}
			}
			command := exec.Command(args[0], args[1:]...)
			command.Stdin, command.Stdout, command.Stderr = c.InOrStdin(), c.OutOrStdout(), c.ErrOrStderr()
			s, err := supervisor.Start(command, hooks)
			if err != nil {
				return fmt.Errorf("run: %w", err)
			}
			// Signals for the command reach it (same process group); anybpf waits for it.
			signal.Ignore(syscall.SIGINT, syscall.SIGQUIT)
			err = s.Wait()
			signal.Reset(syscall.SIGINT, syscall.SIGQUIT)
			return commandExit(err)
		},
	}
	cmd.Flags().StringArrayVar(&attaches, "attach", nil, "TYPE=PROG: run PROG (FILE.o or FILE.o:NAME) on the command's TYPE calls or events ("+runAttachNames+")")
	cmd.Flags().StringArrayVar(&mapSets, "map-set", nil, "MAP:KEY=VALUE: store VALUE at KEY in map MAP before the command starts (unsigned integers, or \"strings\")")
	cmd.Flags().StringVar(&engine, "engine", "auto", "execution engine: auto, interp or jit (in process; the daemon has its own)")
	cmd.Flags().BoolVar(&viaDaemon, "daemon", false, "load the programs into the daemon (--socket) and make the command's hooks daemon links (anybpf link show|detach)")
	cmd.Flags().StringVar(&pinDir, "pin", "", "DIR: pin the objects' maps in the daemon as DIR/NAME while the command runs (implies --daemon)")
	return cmd
}

// loadRunHooks loads the objects --attach names (each once) and picks their programs.
func loadRunHooks(rt *anybpf.Runtime, attaches []string) (supervisor.Hooks, map[string]*anybpf.Collection, error) {
	var hooks supervisor.Hooks
	colls := map[string]*anybpf.Collection{}
	for _, a := range attaches {
		typ, prog, ok := strings.Cut(a, "=")
		typ = strings.TrimPrefix(typ, "cgroup/")
		at, known := runAttachTypes[typ]
		if !ok || !known {
			return hooks, nil, fmt.Errorf("--attach %q: want TYPE=PROG with TYPE one of %s", a, runAttachNames)
		}
		file, name, _ := strings.Cut(prog, ":")
		coll := colls[file]
		if coll == nil {
			var err error
			if coll, err = rt.LoadCollection(file); err != nil {
				return hooks, nil, err
			}
			colls[file] = coll
		}
		p, err := pickHookProgram(coll, file, name, at.section, at.typ)
		if err != nil {
			return hooks, nil, fmt.Errorf("--attach %s: %w", a, err)
		}
		at.add(&hooks, p)
	}
	return hooks, colls, nil
}

// pickHookProgram returns the program NAME of coll, or its one program of section.
func pickHookProgram(coll *anybpf.Collection, file, name, section string, typ progtype.Type) (*anybpf.Program, error) {
	if name != "" {
		p := coll.Programs[name]
		if p == nil {
			return nil, fmt.Errorf("%s has no program %q", file, name)
		}
		if p.Type != typ {
			return nil, fmt.Errorf("program %s is of type %s, not %s", name, p.Type, typ)
		}
		return p, nil
	}
	var found []*anybpf.Program
	for _, p := range coll.Programs {
		if p.Section == section {
			found = append(found, p)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("%s has no program in section %s", file, section)
	case 1:
		return found[0], nil
	}
	names := make([]string, len(found))
	for i, p := range found {
		names[i] = p.Name
	}
	sort.Strings(names)
	return nil, fmt.Errorf("%s has several programs in section %s (%s): say which with FILE.o:NAME", file, section, strings.Join(names, ", "))
}

// handlesOf returns the programs and maps of loaded objects, in process or in the
// daemon, as handles.
func handlesOf[C interface{ Handles() *anybpf.Handles }](colls map[string]C) []*anybpf.Handles {
	var out []*anybpf.Handles
	for _, c := range colls {
		out = append(out, c.Handles())
	}
	return out
}

// setRunMap stores one --map-set entry in the map of that name among the objects'.
func setRunMap(objs []*anybpf.Handles, arg string) error {
	name, kv, ok := strings.Cut(arg, ":")
	k, v, ok2 := strings.Cut(kv, "=")
	if !ok || !ok2 {
		return errors.New("want MAP:KEY=VALUE")
	}
	var m anybpf.MapHandle
	for _, c := range objs {
		if found := c.Maps[name]; found != nil {
			if m != nil {
				return fmt.Errorf("several objects have a map %q", name)
			}
			m = found
		}
	}
	if m == nil {
		return fmt.Errorf("no map %q in the attached objects", name)
	}
	spec := m.Spec()
	key, err := leBytes(k, int(spec.KeySize))
	if err != nil {
		return fmt.Errorf("key: %w", err)
	}
	value, err := leBytes(v, int(spec.ValueSize))
	if err != nil {
		return fmt.Errorf("value: %w", err)
	}
	return m.Update(key, value, 0)
}

// leBytes encodes an unsigned integer little-endian in size bytes, or a "quoted string"
// zero-padded to size bytes.
func leBytes(s string, size int) ([]byte, error) {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		str := s[1 : len(s)-1]
		if len(str) > size {
			return nil, fmt.Errorf("%s is longer than %d bytes", s, size)
		}
		b := make([]byte, size)
		copy(b, str)
		return b, nil
	}
	n, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		return nil, err
	}
	if size < 8 && n >= 1<<(8*size) {
		return nil, fmt.Errorf("%s does not fit %d bytes", s, size)
	}
	b := make([]byte, max(size, 8))
	binary.LittleEndian.PutUint64(b, n)
	return b[:size], nil
}
