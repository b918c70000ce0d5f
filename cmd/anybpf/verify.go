package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf/btf"
	"github.com/spf13/cobra"

	"github.com/anybpf/anybpf"
	"github.com/anybpf/anybpf/progtype"
	"github.com/anybpf/anybpf/verifier"
)

// errRefused makes the command exit non-zero when a program was refused.
var errRefused = errors.New("prog verify: the verifier refused a program")

// verdictJSON is one program's verdict in `prog verify -j`.
type verdictJSON struct {
	Program      string           `json:"program"`
	Type         string           `json:"type"`
	Section      string           `json:"section"`
	Verified     bool             `json:"verified"`
	Error        *verifyErrorJSON `json:"error,omitempty"`
	Instructions int              `json:"instructions"`
	Processed    int              `json:"verified_insns"`
	TimeMS       float64          `json:"time_ms"`
	Warnings     []string         `json:"warnings,omitempty"`
	Returns      string           `json:"r0,omitempty"`
	CalledBy     []string         `json:"called_by,omitempty"`
}

// verifyErrorJSON is where and why a program was refused.
type verifyErrorJSON struct {
	PC      int    `json:"pc"`
	Message string `json:"message"`
	Line    string `json:"line,omitempty"`
}

func newProgVerifyCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "verify FILE [name NAME | section SEC] [type TYPE] [kernel_btf BTF] [verbose] [log]",
		Short: "Prove the programs of an object file safe, or say why not",
		Long: `Run the verifier on every program of an ELF object file (or the one named, or those of
one section), including program types anybpf cannot run yet. A safe program prints
"verified: N instructions, M ms"; a function of .text that is not verifiable alone (its
arguments are only known where it is called) is judged within the programs calling it; a refused one the instruction that could not be proven
safe, the failed condition, the registers involved and the C source line. Exits with
status 1 when a program is refused.

type TYPE verifies the programs as that program type instead of what their sections say;
a file that is not ELF is read as raw bytecode (8-byte little-endian instructions) and
needs it. TYPE is a libbpf section name (xdp, socket, tc, cgroup/connect4, sockops,
fentry/tcp_connect, ...) or a type name (socket_filter, sched_cls, ...). verbose adds the
verifier's warnings (divisions by a value that may be zero, ...) and the range of r0 at
exit. log prints, before the verdicts, the verifier's log: one line per instruction
processed (loop rounds included), with the registers as the analysis knows them before
it, as Linux's verifier log at level 2.

Tracing programs (fentry, fexit, fmod_ret, tp_btf, lsm) read kernel structs through
their arguments: they are checked against the kernel's BTF, by default the running
kernel's (/sys/kernel/btf/vmlinux), which also resolves the CO-RE relocations of the
programs anybpf does not run. kernel_btf BTF takes another kernel's (a raw BTF file such
as a copy of /sys/kernel/btf/vmlinux, or an ELF vmlinux with .BTF), or none.`,
		Args: cobra.RangeArgs(1, 10),
		RunE: func(cmd *cobra.Command, args []string) error {
			kw, err := keywordArgs(args[1:], []string{"name", "section", "type", "kernel_btf"}, []string{"verbose", "log"})
			if err != nil {
				return fmt.Errorf("prog verify: %w", err)
			}
			if kw["name"] != "" && kw["section"] != "" {
				return fmt.Errorf("prog verify: name and section both given: choose one")
			}
			opts := anybpf.VerifyOptions{Name: kw["name"], Section: kw["section"]}
			if t, ok := kw["type"]; ok {
				if opts.Type, opts.AttachType, err = progtype.ParseType(t); err != nil {
					return fmt.Errorf("prog verify: type: %w", err)
				}
				if _, target, ok := strings.Cut(t, "/"); ok && (opts.Type == progtype.Tracing || opts.Type == progtype.LSM) {
					opts.AttachTo = target // type fentry/tcp_connect
				}
			}
			switch path, ok := kw["kernel_btf"]; {
			case !ok:
			case path == "none":
				opts.NoKernelBTF = true
			default:
				if opts.KernelBTF, err = btf.LoadSpec(path); err != nil {
					return fmt.Errorf("prog verify: kernel_btf: %w", err)
				}
			}
			_, verbose := kw["verbose"]
			if _, ok := kw["log"]; ok {
				opts.Log = cmd.OutOrStdout()
				if g.json {
					opts.Log = cmd.ErrOrStderr() // stdout is the JSON
				}
			}
			verdicts, err := anybpf.VerifyFileWith(args[0], opts)
			if err != nil {
				return fmt.Errorf("prog verify: %w", err)
			}
			if len(verdicts) == 0 {
				what := "no programs"
				if opts.Name != "" {
					what = fmt.Sprintf("no program named %q", opts.Name)
				} else if opts.Section != "" {
					what = fmt.Sprintf("no program in section %q", opts.Section)
				}
				return fmt.Errorf("prog verify: %s has %s", args[0], what)
			}
			var list []verdictJSON
			refused := false
			out := cmd.OutOrStdout()
			for _, v := range verdicts {
				ms := float64(v.Duration.Microseconds()) / 1000
				j := verdictJSON{Program: v.Name, Type: v.Type.String(), Section: v.Section, Verified: v.Err == nil,
					Instructions: v.Instructions, Processed: v.Processed, TimeMS: ms, Warnings: v.Warnings, Returns: v.Returns, CalledBy: v.CalledBy}
				if v.Err != nil {
					refused = true
					j.Error = &verifyErrorJSON{PC: -1, Message: v.Err.Error()}
					var ve *verifier.Error
					if errors.As(v.Err, &ve) {
						j.Error.PC, j.Error.Message = ve.Slot, ve.Message
						if ve.State != "" {
							j.Error.Message += " [" + ve.State + "]"
						}
						if ve.Source != nil {
							j.Error.Line = fmt.Sprintf("%s:%d: %s", ve.Source.File, ve.Source.Line, strings.TrimSpace(ve.Source.Text))
						}
					}
				}
				if g.json {
					list = append(list, j)
					continue
				}
				prefix := ""
				if len(verdicts) > 1 || v.Name != "" {
					prefix = fmt.Sprintf("%s (%s, section %s): ", v.Name, v.Type, v.Section)
				}
				if v.Err != nil {
					fmt.Fprintf(out, "%srefused: %v\n", prefix, v.Err)
					continue
				}
				within := ""
				if v.CalledBy != nil {
					within = " as part of " + strings.Join(v.CalledBy, ", ") + " (a function of .text, not verifiable alone)"
				}
				fmt.Fprintf(out, "%sverified%s: %d instructions, %.3f ms (%d processed)\n", prefix, within, v.Instructions, ms, v.Processed)
				if verbose {
					for _, w := range v.Warnings {
						fmt.Fprintf(out, "  warning: %s\n", w)
					}
					fmt.Fprintf(out, "  r0 at exit: %s\n", v.Returns)
				}
			}
			if g.json {
				if err := g.printJSON(out, list); err != nil {
					return err
				}
			}
			if refused {
				return &exitError{code: 1, err: errRefused} // the verdicts above say why
			}
			return nil
		},
	}
}
