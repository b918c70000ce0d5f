package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/anybpf/anybpf/internal/conformance"
)

func newConformancePluginCommand() *cobra.Command {
	var (
		engineName string
		unchecked  bool
		elf        bool
		debug      bool
	)
	cmd := &cobra.Command{
		Use:   "conformance-plugin [MEMORY]",
		Short: "Run one program for the bpf_conformance runner",
		Long: `conformance-plugin speaks the bpf_conformance runner's plugin protocol.

The program arrives on standard input as hex text (two hex digits per byte, separated by
white space, or one compact string); MEMORY, if given, is the input memory in the same
form. The program runs with r1 = pointer to the memory and r2 = its length, and r0 is
printed in hex. Any failure (malformed input, invalid instruction, bad memory access)
exits with status 1 and a message on standard error.

Programs run in checked mode unless --unchecked is given: they are not verified.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if elf {
				return fmt.Errorf("conformance-plugin: --elf input is not supported yet; the ELF loader is not built")
			}
			eng, err := engineByName(engineName)
			if err != nil {
				return fmt.Errorf("conformance-plugin: %w", err)
			}
			input, err := io.ReadAll(cmd.InOrStdin())
			if err != nil {
				return fmt.Errorf("conformance-plugin: read program: %w", err)
			}
			program, err := conformance.ParseHexBytes(string(input))
			if err != nil {
				return fmt.Errorf("conformance-plugin: program: %w", err)
			}
			var mem []byte
			if len(args) == 1 {
				if mem, err = conformance.ParseHexBytes(args[0]); err != nil {
					return fmt.Errorf("conformance-plugin: memory: %w", err)
				}
			}
			if debug {
				fmt.Fprintf(cmd.ErrOrStderr(), "program: %d bytes, memory: %d bytes, engine %s\n", len(program), len(mem), eng.Name())
			}
			r0, err := conformance.Run(eng, program, mem, !unchecked)
			if err != nil {
				return fmt.Errorf("conformance-plugin: %w", err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%x\n", r0)
			return err
		},
	}
	cmd.Flags().StringVar(&engineName, "engine", "auto", "execution engine: "+strings.Join(engineNames, ", "))
	cmd.Flags().BoolVar(&unchecked, "unchecked", false, "run without memory checks (only for trusted programs)")
	cmd.Flags().BoolVar(&elf, "elf", false, "the program is an ELF object (not supported yet)")
	cmd.Flags().BoolVar(&debug, "debug", false, "print what was received on standard error")
	return cmd
}
