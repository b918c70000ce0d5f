package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/anybpf/anybpf/isa"
)

func newDisasmCommand(g *globalFlags) *cobra.Command {
	var syntax string
	cmd := &cobra.Command{
		Use:   "disasm FILE",
		Short: "Disassemble a raw bytecode file",
		Long: `Disassemble a file of raw eBPF bytecode (8-byte little-endian instructions).

--syntax llvm prints llvm-objdump's C-like form ("r0 += r1"); --syntax conformance prints
the bpf_conformance assembler dialect ("add %r0, %r1"), which "anybpf" can assemble back.
ELF object files are not supported yet.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var syn isa.Syntax
			switch syntax {
			case "llvm":
				syn = isa.SyntaxLLVM
			case "conformance":
				syn = isa.SyntaxConformance
			default:
				return fmt.Errorf("disasm: unknown syntax %q (want llvm or conformance)", syntax)
			}
			insns, err := readRawProgram(args[0])
			if err != nil {
				return fmt.Errorf("disasm: %w", err)
			}
			if g.json {
				type row struct {
					PC   int    `json:"pc"`
					Code string `json:"code"`
					Text string `json:"text"`
				}
				offs, _ := isa.SlotOffsets(insns)
				rows := make([]row, len(insns))
				for i, ins := range insns {
					rows[i] = row{PC: offs[i], Code: fmt.Sprintf("%x", ins.Encode(nil)), Text: ins.Format(syn)}
				}
				return g.printJSON(cmd.OutOrStdout(), rows)
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), isa.Disassemble(insns, syn))
			return err
		},
	}
	cmd.Flags().StringVar(&syntax, "syntax", "llvm", "llvm or conformance")
	return cmd
}
