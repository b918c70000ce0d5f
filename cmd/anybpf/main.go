// Command anybpf loads, verifies and runs eBPF programs outside the Linux kernel. Its
// grammar follows bpftool: anybpf [OPTIONS] OBJECT COMMAND [ARGS].
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/anybpf/anybpf"
	"github.com/anybpf/anybpf/internal/supervisor"
)

// globalFlags are bpftool's global options.
type globalFlags struct {
	json   bool
	pretty bool
	socket string // the daemon's socket
}

func main() {
	// The process "anybpf run" re-executes to put the command under its filter.
	supervisor.MaybeChild()
	if err := newRootCommand(os.Stdin, os.Stdout, os.Stderr).Execute(); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

// exitError carries a specific exit status out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func newRootCommand(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:   "anybpf",
		Short: "Run eBPF programs outside the Linux kernel",
		Long: `anybpf loads eBPF bytecode, checks it and runs it with its own engines.

In-process (no daemon needed): raw bytecode (disasm, prog run FILE), ELF objects (prog
show FILE, prog run FILE, prog dump, prog verify), the bpf_conformance plugin.

Against the daemon (anybpf daemon; --socket): prog show|load|loadall|pin|run|dump|tracelog
with PROG = id N | pinned PATH | name NAME | tag TAG, map show|create|dump|lookup|update|
delete|getnext|freeze|pin|event_pipe, link show|detach|pin, pin list|delete, net attach
xdp PROG|show|detach.

Hooks: net attach xdp (the XDP datapath, in-process with FILE or through the daemon with
PROG), run (a command whose connects, binds and execs programs decide).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().BoolVarP(&g.json, "json", "j", false, "print JSON")
	root.PersistentFlags().BoolVarP(&g.pretty, "pretty", "p", false, "print human-readable JSON (implies --json)")
	root.PersistentFlags().StringVar(&g.socket, "socket", anybpf.DefaultSocket, "the daemon's socket, for commands that use the daemon")
	root.PersistentPreRun = func(*cobra.Command, []string) {
		if g.pretty {
			g.json = true
		}
	}
	root.AddCommand(
		newProgCommand(g),
		newDisasmCommand(g),
		newConformancePluginCommand(),
		newNetCommand(g),
		newRunCommand(g),
		newVersionCommand(g),
		newDaemonCommand(g),
		newMapCommand(g),
		newLinkCommand(g),
		newPinCommand(g),
	)
	return root
}

// printJSON writes v as JSON, indented when --pretty is set.
func (g *globalFlags) printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // messages hold <= and the like; this is not HTML
	if g.pretty {
		enc.SetIndent("", "  ")
	}
	return enc.Encode(v)
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newVersionCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.json {
				return g.printJSON(cmd.OutOrStdout(), map[string]string{"version": version})
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "anybpf %s\n", version)
			return err
		},
	}
}
