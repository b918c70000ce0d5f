package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/anybpf/anybpf"
)

// hexBytes formats bytes as bpftool's JSON does: ["0x01", "0x02"].
func hexBytes(b []byte) []string {
	out := make([]string, len(b))
	for i, c := range b {
		out[i] = fmt.Sprintf("0x%02x", c)
	}
	return out
}

func mapsJSON(ms map[string][]anybpf.Entry) map[string]any {
	out := map[string]any{}
	for name, entries := range ms {
		out[name] = entriesJSON(entries)
	}
	return out
}

// entriesJSON is a map dump as bpftool's JSON gives it: [{"key": [...], "value": [...]}],
// per-CPU values as "values": [{"cpu": N, "value": [...]}].
func entriesJSON(entries []anybpf.Entry) []map[string]any {
	list := []map[string]any{}
	for _, e := range entries {
		item := map[string]any{"key": hexBytes(e.Key)}
		if e.Values != nil {
			var vals []map[string]any
			for cpu, v := range e.Values {
				vals = append(vals, map[string]any{"cpu": cpu, "value": hexBytes(v)})
			}
			item["values"] = vals
		} else {
			item["value"] = hexBytes(e.Value)
		}
		list = append(list, item)
	}
	return list
}

func spaced(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = fmt.Sprintf("%02x", c)
	}
	return strings.Join(parts, " ")
}

func printMaps(w io.Writer, ms map[string][]anybpf.Entry) {
	names := make([]string, 0, len(ms))
	for n := range ms {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "map %s:\n", n)
		printEntries(w, ms[n])
	}
}

// printEntries prints map elements as bpftool's map dump does.
func printEntries(w io.Writer, entries []anybpf.Entry) {
	for _, e := range entries {
		if e.Values != nil {
			fmt.Fprintf(w, "key: %s\n", spaced(e.Key))
			for cpu, v := range e.Values {
				fmt.Fprintf(w, "  value (CPU %02d): %s\n", cpu, spaced(v))
			}
			continue
		}
		fmt.Fprintf(w, "key: %s  value: %s\n", spaced(e.Key), spaced(e.Value))
	}
}

func newProgDumpCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "dump xlated|jited FILE [name NAME] | dump xlated|jited PROG",
		Short: "Print programs as they run: relocated, context accesses rewritten",
		Long: `Print the programs of an ELF object as anybpf runs them, like bpftool prog dump
xlated: relocated, map references resolved (shown as map[NAME]), context accesses
rewritten to the runtime's layout, helper calls named. "dump jited" compiles them with the
JIT (linux/amd64) and shows the x86-64 code each instruction became.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] != "xlated" && args[0] != "jited" {
				return fmt.Errorf("prog dump: %q: want xlated or jited", args[0])
			}
			jited := args[0] == "jited"
			if isSelector(args[1]) {
				return dumpRemote(cmd, g, args[1:], jited)
			}
			cfg := anybpf.NewRuntimeConfig()
			if jited {
				cfg = cfg.WithEngine("jit")
			}
			kw, err := keywordArgs(args[2:], []string{"name"}, nil)
			if err != nil {
				return fmt.Errorf("prog dump: %w", err)
			}
			coll, err := anybpf.NewRuntime(context.Background(), cfg).LoadCollection(args[1])
			if err != nil {
				return fmt.Errorf("prog dump: %w", err)
			}
			var names []string
			for n := range coll.Programs {
				if want, ok := kw["name"]; !ok || n == want {
					names = append(names, n)
				}
			}
			if len(names) == 0 {
				return fmt.Errorf("prog dump: %s has no program named %q", args[1], kw["name"])
			}
			sort.Strings(names)
			out := cmd.OutOrStdout()
			if g.json {
				progs := map[string][]string{}
				for _, n := range names {
					lines, err := dumpLines(coll.Programs[n], jited)
					if err != nil {
						return fmt.Errorf("prog dump: %w", err)
					}
					progs[n] = lines
				}
				return g.printJSON(out, progs)
			}
			for _, n := range names {
				p := coll.Programs[n]
				fmt.Fprintf(out, "%s (%s, section %s):\n", n, p.Type, p.Section)
				lines, err := dumpLines(p, jited)
				if err != nil {
					return fmt.Errorf("prog dump: %w", err)
				}
				if len(lines) == 0 {
					fmt.Fprintln(out, "   (cannot run: not loaded)")
				}
				for _, l := range lines {
					fmt.Fprintln(out, l)
				}
			}
			return nil
		},
	}
}

// dumpLines is what prog dump prints for a program.
func dumpLines(p *anybpf.Program, jited bool) ([]string, error) {
	if !jited {
		return p.Xlated(), nil
	}
	return p.JITed()
}
