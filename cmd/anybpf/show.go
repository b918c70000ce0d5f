package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/anybpf/anybpf/internal/elfload"
	"github.com/anybpf/anybpf/isa"
)

func newProgShowCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "show [FILE | PROG]",
		Aliases: []string{"list"},
		Short:   "List the programs of the daemon, or of an object file",
		Long: `With no argument or a PROG (id N | pinned PATH | name NAME | tag TAG), list the
programs the daemon holds, as bpftool prog show does.

With FILE, list the programs of an ELF object file (name, section, program type,
instruction count, references to maps) and the maps it declares, as the loader sees them;
this needs no daemon.`,
		Args: cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 || isSelector(args[0]) {
				return showRemotePrograms(cmd, g, args)
			}
			if len(args) != 1 {
				return fmt.Errorf("prog show: want FILE or PROG (id N | pinned PATH | name NAME | tag TAG)")
			}
			obj, err := elfload.LoadFile(args[0])
			if err != nil {
				return fmt.Errorf("prog show: %w", err)
			}
			if g.json {
				return g.printJSON(cmd.OutOrStdout(), showJSON(obj))
			}
			return showText(cmd.OutOrStdout(), obj)
		},
	}
}

type progJSON struct {
	Name    string   `json:"name"`
	Section string   `json:"section"`
	Type    string   `json:"type"`
	Attach  string   `json:"attach_type,omitempty"`
	Insns   int      `json:"insns"`
	Maps    []string `json:"maps,omitempty"`
}

type mapJSON struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	KeySize    uint32 `json:"bytes_key"`
	ValueSize  uint32 `json:"bytes_value"`
	MaxEntries uint32 `json:"max_entries"`
	Flags      uint32 `json:"flags"`
}

func showJSON(obj *elfload.Object) map[string]any {
	progs := []progJSON{}
	for _, p := range obj.Programs {
		_, slots := isa.SlotOffsets(p.Instructions)
		pj := progJSON{Name: p.Name, Section: p.Section, Type: p.Type.String(), Insns: slots, Maps: referencedMaps(p)}
		if p.Type == 0 {
			pj.Type = "unknown"
		}
		progs = append(progs, pj)
	}
	ms := []mapJSON{}
	for _, m := range obj.Maps {
		ms = append(ms, mapJSON{Name: m.Name, Type: m.Type.String(), KeySize: m.KeySize, ValueSize: m.ValueSize, MaxEntries: m.MaxEntries, Flags: m.Flags})
	}
	return map[string]any{"license": obj.License, "programs": progs, "maps": ms}
}

func referencedMaps(p *elfload.ProgramSpec) []string {
	var names []string
	seen := map[string]bool{}
	for _, r := range p.References {
		if !seen[r.Map] {
			seen[r.Map] = true
			names = append(names, r.Map)
		}
	}
	return names
}

func showText(w io.Writer, obj *elfload.Object) error {
	for i, p := range obj.Programs {
		_, slots := isa.SlotOffsets(p.Instructions)
		typ := p.Type.String()
		if p.Type == 0 {
			typ = "unknown"
		}
		fmt.Fprintf(w, "%d: %s  name %s  section %s  insns %d", i, typ, p.Name, p.Section, slots)
		if ms := referencedMaps(p); len(ms) > 0 {
			fmt.Fprintf(w, "  maps %s", strings.Join(ms, ","))
		}
		fmt.Fprintln(w)
	}
	for _, m := range obj.Maps {
		fmt.Fprintf(w, "map %s  type %s  key %dB  value %dB  max_entries %d  flags 0x%x\n", m.Name, m.Type, m.KeySize, m.ValueSize, m.MaxEntries, m.Flags)
	}
	if obj.License != "" {
		fmt.Fprintf(w, "license %q\n", obj.License)
	}
	return nil
}
