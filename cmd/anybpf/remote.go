package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/anybpf/anybpf"
	pb "github.com/anybpf/anybpf/api/anybpfv1"
)

// Selectors name a program, map or link of the daemon, as bpftool's PROG and MAP do.
var selectorKeywords = map[string]bool{"id": true, "pinned": true, "name": true, "tag": true}

// isSelector reports whether arg starts a selector (id N | pinned PATH | name NAME |
// tag TAG), which makes a command use the daemon rather than a file.
func isSelector(arg string) bool { return selectorKeywords[arg] }

// dial connects to the daemon of --socket.
func (g *globalFlags) dial() (*anybpf.Client, error) {
	return anybpf.Connect(g.socket)
}

// withDaemon runs fn with a connection to the daemon.
func (g *globalFlags) withDaemon(fn func(api pb.AnybpfClient) error) error {
	c, err := g.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(c.API())
}

// remoteErr turns a daemon error into a plain message.
func remoteErr(err error) error {
	if err == nil {
		return nil
	}
	if s, ok := statusMessage(err); ok {
		return errors.New(s)
	}
	return err
}

// takeSelector splits a selector (two arguments) off args.
func takeSelector(args []string, what string) (kind, value string, rest []string, err error) {
	if len(args) < 2 || !isSelector(args[0]) {
		return "", "", nil, fmt.Errorf("want %s: id N | pinned PATH | name NAME%s", what, map[bool]string{true: " | tag TAG", false: ""}[what == "PROG"])
	}
	if what != "PROG" && args[0] == "tag" {
		return "", "", nil, fmt.Errorf("a %s has no tag; want id N | pinned PATH | name NAME", what)
	}
	return args[0], args[1], args[2:], nil
}

// resolvePrograms returns the programs a selector names (name and tag may name several).
func resolvePrograms(api pb.AnybpfClient, kind, value string) ([]*pb.ProgramInfo, error) {
	ctx := context.Background()
	switch kind {
	case "id", "pinned":
		id, err := resolveID(api, kind, value, pb.ObjectKind_OBJECT_KIND_PROGRAM)
		if err != nil {
			return nil, err
		}
		info, err := api.GetProgram(ctx, &pb.GetObjectRequest{Id: id})
		if err != nil {
			return nil, remoteErr(err)
		}
		return []*pb.ProgramInfo{info}, nil
	}
	list, err := api.ListPrograms(ctx, &pb.ListRequest{})
	if err != nil {
		return nil, remoteErr(err)
	}
	var out []*pb.ProgramInfo
	for _, p := range list.Programs {
		if (kind == "name" && p.Name == value) || (kind == "tag" && strings.EqualFold(p.Tag, value)) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no program with %s %s", kind, value)
	}
	return out, nil
}

// resolveProgram returns the one program a selector names.
func resolveProgram(api pb.AnybpfClient, kind, value string) (*pb.ProgramInfo, error) {
	progs, err := resolvePrograms(api, kind, value)
	if err != nil {
		return nil, err
	}
	if len(progs) > 1 {
		return nil, fmt.Errorf("%d programs have %s %s; select one by id", len(progs), kind, value)
	}
	return progs[0], nil
}

// resolveID turns id N or pinned PATH into an id of the wanted kind.
func resolveID(api pb.AnybpfClient, kind, value string, want pb.ObjectKind) (uint32, error) {
	if kind == "id" {
		n, err := strconv.ParseUint(value, 0, 32)
		if err != nil || n == 0 {
			return 0, fmt.Errorf("id %q is not a positive 32-bit number", value)
		}
		return uint32(n), nil
	}
	pin, err := api.GetPinned(context.Background(), &pb.PinPath{Path: value})
	if err != nil {
		return 0, remoteErr(err)
	}
	if pin.Kind != want {
		return 0, fmt.Errorf("%s is a pinned %s", value, strings.ToLower(strings.TrimPrefix(pin.Kind.String(), "OBJECT_KIND_")))
	}
	return pin.Id, nil
}

// resolveMap returns the map a selector names.
func resolveMap(api pb.AnybpfClient, kind, value string) (*pb.MapInfo, error) {
	ctx := context.Background()
	if kind == "name" {
		list, err := api.ListMaps(ctx, &pb.ListRequest{})
		if err != nil {
			return nil, remoteErr(err)
		}
		var found []*pb.MapInfo
		for _, m := range list.Maps {
			if m.Name == value {
				found = append(found, m)
			}
		}
		switch len(found) {
		case 0:
			return nil, fmt.Errorf("no map named %s", value)
		case 1:
			return found[0], nil
		}
		return nil, fmt.Errorf("%d maps are named %s; select one by id", len(found), value)
	}
	id, err := resolveID(api, kind, value, pb.ObjectKind_OBJECT_KIND_MAP)
	if err != nil {
		return nil, err
	}
	info, err := api.GetMap(ctx, &pb.GetObjectRequest{Id: id})
	return info, remoteErr(err)
}

// parseBytes reads a byte argument: "hex 01 02 ..." or "0x01 0x02 ..." or decimal
// "1 2 ...", up to the first argument that is not a byte (a keyword). It returns the
// bytes and the arguments after them.
func parseBytes(args []string) ([]byte, []string, error) {
	base := 0
	if len(args) > 0 && args[0] == "hex" {
		base = 16
		args = args[1:]
	}
	var out []byte
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if base == 16 && len(a) > 2 && len(a)%2 == 0 && !strings.HasPrefix(a, "0x") {
			// "hex 0102" as well as "hex 01 02".
			ok := true
			var bs []byte
			for j := 0; j < len(a); j += 2 {
				v, err := strconv.ParseUint(a[j:j+2], 16, 8)
				if err != nil {
					ok = false
					break
				}
				bs = append(bs, byte(v))
			}
			if ok {
				out = append(out, bs...)
				continue
			}
		}
		v, err := strconv.ParseUint(strings.TrimPrefix(a, map[bool]string{true: "0x", false: ""}[base == 16]), base, 8)
		if err != nil {
			break
		}
		out = append(out, byte(v))
	}
	if i == 0 {
		if len(args) == 0 {
			return nil, nil, errors.New("missing bytes")
		}
		return nil, nil, fmt.Errorf("%q is not a byte (want hex 01 02, 0x01 0x02 or 1 2)", args[0])
	}
	return out, args[i:], nil
}

// progJSONOf is a program as bpftool prog show -j prints it.
func progJSONOf(p *pb.ProgramInfo) map[string]any {
	out := map[string]any{
		"id": p.Id, "type": p.Type, "name": p.Name, "tag": p.Tag, "run_time_ns": p.RunTimeNs,
		"run_cnt": p.RunCnt, "loaded_at": p.LoadedAt / int64(time.Second), "uid": p.Uid,
		"bytes_xlated": p.BytesXlated, "jited": p.Engine == "jit", "bytes_jited": p.BytesJited,
		"map_ids": nonNil(p.MapIds), "verified_insns": p.VerifiedInsns, "engine": p.Engine,
	}
	if len(p.Pinned) > 0 {
		out["pinned"] = p.Pinned
	}
	if p.Error != "" {
		out["error"] = p.Error
	}
	return out
}

func nonNil(ids []uint32) []uint32 {
	if ids == nil {
		return []uint32{}
	}
	return ids
}

func printProgram(w io.Writer, p *pb.ProgramInfo) {
	fmt.Fprintf(w, "%d: %s  name %s  tag %s\n", p.Id, p.Type, p.Name, p.Tag)
	fmt.Fprintf(w, "\tloaded_at %s  uid %d\n", time.Unix(0, p.LoadedAt).Format(time.RFC3339), p.Uid)
	fmt.Fprintf(w, "\txlated %dB  jited %dB  engine %s  verified_insns %d", p.BytesXlated, p.BytesJited, p.Engine, p.VerifiedInsns)
	if len(p.MapIds) > 0 {
		ids := make([]string, len(p.MapIds))
		for i, id := range p.MapIds {
			ids[i] = strconv.FormatUint(uint64(id), 10)
		}
		fmt.Fprintf(w, "  map_ids %s", strings.Join(ids, ","))
	}
	fmt.Fprintln(w)
	if p.RunCnt > 0 || p.RunTimeNs > 0 {
		fmt.Fprintf(w, "\trun_time_ns %d  run_cnt %d\n", p.RunTimeNs, p.RunCnt)
	}
	for _, pin := range p.Pinned {
		fmt.Fprintf(w, "\tpinned %s\n", pin)
	}
	if p.Error != "" {
		fmt.Fprintf(w, "\tcannot run: %s\n", p.Error)
	}
}

// showRemotePrograms is prog show [PROG] against the daemon.
func showRemotePrograms(cmd *cobra.Command, g *globalFlags, args []string) error {
	return g.withDaemon(func(api pb.AnybpfClient) error {
		var progs []*pb.ProgramInfo
		if len(args) > 0 {
			kind, value, _, err := takeSelector(args, "PROG")
			if err != nil {
				return fmt.Errorf("prog show: %w", err)
			}
			if progs, err = resolvePrograms(api, kind, value); err != nil {
				return fmt.Errorf("prog show: %w", err)
			}
		} else {
			list, err := api.ListPrograms(context.Background(), &pb.ListRequest{})
			if err != nil {
				return fmt.Errorf("prog show: %w", remoteErr(err))
			}
			progs = list.Programs
		}
		if g.json {
			out := []map[string]any{}
			for _, p := range progs {
				out = append(out, progJSONOf(p))
			}
			if len(args) > 0 && len(out) == 1 {
				return g.printJSON(cmd.OutOrStdout(), out[0])
			}
			return g.printJSON(cmd.OutOrStdout(), out)
		}
		for _, p := range progs {
			printProgram(cmd.OutOrStdout(), p)
		}
		return nil
	})
}

// dumpRemote is prog dump xlated|jited PROG against the daemon.
func dumpRemote(cmd *cobra.Command, g *globalFlags, args []string, jited bool) error {
	return g.withDaemon(func(api pb.AnybpfClient) error {
		kind, value, rest, err := takeSelector(args, "PROG")
		if err != nil || len(rest) > 0 {
			return fmt.Errorf("prog dump: want xlated|jited PROG")
		}
		p, err := resolveProgram(api, kind, value)
		if err != nil {
			return fmt.Errorf("prog dump: %w", err)
		}
		resp, err := api.DumpProgram(context.Background(), &pb.DumpProgramRequest{Id: p.Id, Jited: jited})
		if err != nil {
			return fmt.Errorf("prog dump: %w", remoteErr(err))
		}
		if g.json {
			return g.printJSON(cmd.OutOrStdout(), map[string][]string{p.Name: resp.Lines})
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s (%s):\n", p.Name, p.Type)
		for _, l := range resp.Lines {
			fmt.Fprintln(cmd.OutOrStdout(), l)
		}
		return nil
	})
}

// runRemote is prog run PROG against the daemon.
func runRemote(g *globalFlags, sel []string, kw map[string]string, data, ctxIn []byte, repeat uint64) (runResult, error) {
	for _, k := range []string{"engine", "name", "section", "unchecked", "dump-maps"} {
		if _, ok := kw[k]; ok {
			return runResult{}, fmt.Errorf("%s: only for FILE; the daemon's programs are loaded already", k)
		}
	}
	var res runResult
	err := g.withDaemon(func(api pb.AnybpfClient) error {
		p, err := resolveProgram(api, sel[0], sel[1])
		if err != nil {
			return err
		}
		resp, err := api.TestRun(context.Background(), &pb.TestRunRequest{Id: p.Id, DataIn: data, CtxIn: ctxIn, Repeat: uint32(repeat)})
		if err != nil {
			return remoteErr(err)
		}
		res = runResult{retval: uint64(resp.Retval), duration: time.Duration(resp.DurationNs), dataOut: resp.DataOut, ctxOut: resp.CtxOut}
		return nil
	})
	return res, err
}

func newProgLoadCommand(g *globalFlags, all bool) *cobra.Command {
	use, short := "load FILE PATH [type TYPE] [pinmaps DIR]", "Load an object into the daemon and pin its first program at PATH"
	if all {
		use, short = "loadall FILE DIR [type TYPE] [pinmaps DIR]", "Load an object into the daemon and pin every program under DIR"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Long: short + `, as bpftool does: the
daemon verifies and compiles the programs; what is not pinned is unloaded when the command
ends. pinmaps DIR pins every map of the object as DIR/NAME. type TYPE loads the programs
as that type instead of what their sections say (a libbpf section name such as xdp,
socket, tc, cgroup/connect4, sockops, or a type name such as sched_cls). The first
program is the first by name. Paths are /sys/fs/bpf/... or BPF:\...`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := "prog load"
			valued := []string{"type", "pinmaps"}
			if all {
				name = "prog loadall"
			}
			kw, err := keywordArgs(args[2:], valued, nil)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			c, err := g.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			obj, err := os.Open(args[0])
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			defer obj.Close()
			coll, err := c.LoadCollectionWithOptions(obj, args[0], anybpf.RemoteCollectionOptions{ProgramType: kw["type"]})
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			progs := sortedNames(coll.Programs)
			if len(progs) == 0 {
				return fmt.Errorf("%s: %s has no programs", name, args[0])
			}
			if !all {
				p := coll.Programs[progs[0]]
				if err := p.Pin(args[1]); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
			} else {
				for _, n := range progs {
					if err := coll.Programs[n].Pin(strings.TrimRight(args[1], `/\`) + "/" + n); err != nil {
						return fmt.Errorf("%s: %w", name, err)
					}
				}
			}
			if dir, ok := kw["pinmaps"]; ok {
				for _, n := range sortedNames(coll.Maps) {
					if err := coll.Maps[n].Pin(strings.TrimRight(dir, `/\`) + "/" + n); err != nil {
						return fmt.Errorf("%s: pinmaps: %w", name, err)
					}
				}
			}
			return nil
		},
	}
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func newProgPinCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "pin PROG PATH",
		Short: "Pin a program of the daemon at PATH",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withDaemon(func(api pb.AnybpfClient) error {
				kind, value, rest, err := takeSelector(args, "PROG")
				if err != nil {
					return fmt.Errorf("prog pin: %w", err)
				}
				p, err := resolveProgram(api, kind, value)
				if err != nil {
					return fmt.Errorf("prog pin: %w", err)
				}
				_, err = api.Pin(context.Background(), &pb.PinRequest{Id: p.Id, Path: rest[0]})
				return prefixed("prog pin", remoteErr(err))
			})
		},
	}
}

func prefixed(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// countArg reads the optional "count N" of streaming commands (0: until interrupted).
func countArg(args []string) (int, error) {
	kw, err := keywordArgs(args, []string{"count"}, nil)
	if err != nil {
		return 0, err
	}
	if v, ok := kw["count"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("count %q is not a positive number", v)
		}
		return n, nil
	}
	return 0, nil
}

func newProgTracelogCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "tracelog [count N]",
		Short: "Print the daemon's bpf_trace_printk output as it comes",
		Long: `Print the bpf_trace_printk output of the daemon's programs, one line per message,
until interrupted (or until count N lines).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := countArg(args)
			if err != nil {
				return fmt.Errorf("prog tracelog: %w", err)
			}
			return g.withDaemon(func(api pb.AnybpfClient) error {
				ctx, cancel := context.WithCancel(cmd.Context())
				defer cancel()
				st, err := api.TraceLog(ctx, &pb.TraceLogRequest{})
				if err != nil {
					return prefixed("prog tracelog", remoteErr(err))
				}
				for i := 0; n == 0 || i < n; i++ {
					line, err := st.Recv()
					if err != nil {
						return prefixed("prog tracelog", remoteErr(err))
					}
					if g.json {
						g.printJSON(cmd.OutOrStdout(), map[string]string{"line": line.Line})
					} else {
						fmt.Fprintln(cmd.OutOrStdout(), line.Line)
					}
				}
				return nil
			})
		},
	}
}

func newPinCommand(g *globalFlags) *cobra.Command {
	pin := &cobra.Command{Use: "pin", Short: "List and remove the daemon's pins"}
	pin.AddCommand(&cobra.Command{
		Use:     "list [PREFIX]",
		Aliases: []string{"show"},
		Short:   "List the pins (under PREFIX)",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withDaemon(func(api pb.AnybpfClient) error {
				req := &pb.ListPinsRequest{}
				if len(args) > 0 {
					req.Prefix = args[0]
				}
				resp, err := api.ListPins(context.Background(), req)
				if err != nil {
					return prefixed("pin list", remoteErr(err))
				}
				if g.json {
					out := []map[string]any{}
					for _, p := range resp.Pins {
						out = append(out, map[string]any{"path": p.Path, "kind": kindOf(p.Kind), "id": p.Id})
					}
					return g.printJSON(cmd.OutOrStdout(), out)
				}
				for _, p := range resp.Pins {
					fmt.Fprintf(cmd.OutOrStdout(), "%s  %s id %d\n", p.Path, kindOf(p.Kind), p.Id)
				}
				return nil
			})
		},
	}, &cobra.Command{
		Use:     "delete PATH",
		Aliases: []string{"rm"},
		Short:   "Remove a pin (the object goes when nothing else holds it)",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withDaemon(func(api pb.AnybpfClient) error {
				_, err := api.Unpin(context.Background(), &pb.PinPath{Path: args[0]})
				return prefixed("pin delete", remoteErr(err))
			})
		},
	})
	return pin
}

func kindOf(k pb.ObjectKind) string {
	return strings.ToLower(strings.TrimPrefix(k.String(), "OBJECT_KIND_"))
}

// statusMessage returns a daemon error's message without the gRPC decoration.
func statusMessage(err error) (string, bool) {
	st, ok := status.FromError(err)
	if !ok {
		return "", false
	}
	if st.Code() == codes.Unavailable {
		return "the daemon is unavailable: " + st.Message(), true
	}
	return st.Message(), true
}
