package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/anybpf/anybpf"
)

// errRefused makes the command exit non-zero when a program was refused.
var errRefused = errors.New("prog verify: the verifier refused a program")

func newProgVerifyCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "verify FILE [name NAME]",
		Short: "Prove the programs of an object file safe, or say why not",
		Long: `Run the verifier on every program of an ELF object file (or the one named), including
program types anybpf cannot run yet, and print for each whether it was verified and how
many instructions the analysis processed, or the instruction that could not be proven
safe, the failed condition, the registers involved and the C source line. Exits with
status 1 when a program is refused.`,
		Args: cobra.RangeArgs(1, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			kw, err := keywordArgs(args[1:], []string{"name"}, nil)
			if err != nil {
				return fmt.Errorf("prog verify: %w", err)
			}
			verdicts, err := anybpf.VerifyFile(args[0])
			if err != nil {
				return fmt.Errorf("prog verify: %w", err)
			}
			type verdictJSON struct {
				Name      string `json:"name"`
				Type      string `json:"type"`
				Section   string `json:"section"`
				Verified  bool   `json:"verified"`
				Processed int    `json:"verified_insns,omitempty"`
				Error     string `json:"error,omitempty"`
			}
			var list []verdictJSON
			refused := false
			found := false
			out := cmd.OutOrStdout()
			for _, v := range verdicts {
				if want, ok := kw["name"]; ok && v.Name != want {
					continue
				}
				found = true
				j := verdictJSON{Name: v.Name, Type: v.Type.String(), Section: v.Section, Verified: v.Err == nil, Processed: v.Processed}
				if v.Err != nil {
					j.Error, refused = v.Err.Error(), true
				}
				if g.json {
					list = append(list, j)
					continue
				}
				if v.Err != nil {
					fmt.Fprintf(out, "%s (%s, section %s): refused: %v\n", v.Name, v.Type, v.Section, v.Err)
				} else {
					fmt.Fprintf(out, "%s (%s, section %s): verified, %d instructions processed\n", v.Name, v.Type, v.Section, v.Processed)
				}
			}
			if !found {
				return fmt.Errorf("prog verify: %s has no program named %q", args[0], kw["name"])
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
