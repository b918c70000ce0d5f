package isa_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/anybpf/anybpf/internal/conformance"
	"github.com/anybpf/anybpf/isa"
)

// addCorpusSeeds adds every conformance program (as bytes and as text) to a fuzz corpus.
func addCorpusSeeds(f *testing.F, asText bool) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "shared", "corpus", "bpf_conformance", "*.data"))
	for _, file := range files {
		tc, err := conformance.ParseFile(file)
		if err != nil {
			continue
		}
		if asText {
			f.Add(tc.Asm)
			continue
		}
		if prog, err := tc.Program(); err == nil {
			f.Add(prog)
		}
	}
}

// FuzzDecode: decoding never panics; what decodes re-encodes to the same bytes, formats in
// both syntaxes and validates without panicking.
func FuzzDecode(f *testing.F) {
	addCorpusSeeds(f, false)
	f.Fuzz(func(t *testing.T, code []byte) {
		insns, err := isa.Decode(code)
		if err != nil {
			return
		}
		if !bytes.Equal(isa.Encode(insns), code) {
			t.Fatalf("%x re-encodes as %x", code, isa.Encode(insns))
		}
		_ = isa.Validate(insns)
		for _, ins := range insns {
			_ = ins.Format(isa.SyntaxLLVM)
			text := ins.Format(isa.SyntaxConformance)
			if ins.IsLDDW() && ins.Src != 0 {
				continue
			}
			again, err := isa.Assemble(text)
			if err != nil {
				t.Fatalf("Assemble(%q): %v", text, err)
			}
			if !bytes.Equal(isa.Encode(again), ins.Encode(nil)) {
				t.Fatalf("%q assembles to %x, want %x", text, isa.Encode(again), ins.Encode(nil))
			}
		}
	})
}

// FuzzAssemble: the assembler never panics, and what it accepts encodes to instructions
// that decode.
func FuzzAssemble(f *testing.F) {
	addCorpusSeeds(f, true)
	f.Fuzz(func(t *testing.T, src string) {
		insns, err := isa.Assemble(src)
		if err != nil {
			return
		}
		code := isa.Encode(insns)
		if _, err := isa.Decode(code); err != nil {
			t.Fatalf("assembled %q to %x, which does not decode: %v", src, code, err)
		}
	})
}
