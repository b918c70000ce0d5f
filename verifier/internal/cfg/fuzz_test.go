package cfg_test

import (
	"testing"

	"github.com/anybpf/anybpf/isa"
	"github.com/anybpf/anybpf/verifier/internal/cfg"
)

// FuzzBuild builds the graphs of arbitrary decodable bytecode: Build must never panic, and
// whatever it accepts must have valid WTOs.
func FuzzBuild(f *testing.F) {
	for _, src := range []string{
		"mov %r0, 0\nexit",
		"jeq %r1, 0, +1\nja -2\nexit",
		"call local +1\nexit\nmov %r0, 1\njlt %r0, 5, -2\nexit",
		"lddw %r1, 1\nja32 -3\nexit",
		"exit\nexit\nja -3",
	} {
		insns, err := isa.Assemble(src)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(isa.Encode(insns))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		insns, err := isa.Decode(b)
		if err != nil {
			return
		}
		for _, o := range []cfg.Options{{}, {AllowUnreachable: true}} {
			p, err := o.Build(insns)
			if err != nil {
				continue
			}
			checkWTO(t, p)
			_ = p.BottomUp()
			for _, fn := range p.Funcs {
				_ = fn.BackEdges()
				_ = fn.WTO.String()
			}
		}
	})
}
