//go:build amd64 && linux

package jit_test

import (
	"testing"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/engine/interp"
	"github.com/anybpf/anybpf/engine/jit"
	"github.com/anybpf/anybpf/isa"
)

// BenchmarkHelperCall measures a helper round trip: native code to Go and back.
func BenchmarkHelperCall(b *testing.B) {
	insns, err := isa.Assemble("mov %r6, 1000\nloop:\nmov %r1, %r6\ncall 1\nsub %r6, 1\njne %r6, 0, loop\nexit")
	if err != nil {
		b.Fatal(err)
	}
	helpers := map[int32]engine.HelperFunc{1: func(_ *engine.Env, r1, _, _, _, _ uint64) uint64 { return r1 }}
	for _, eng := range []engine.Engine{jit.New(), interp.New()} {
		code, err := eng.Compile(insns, engine.Config{Helpers: helpers})
		if err != nil {
			b.Fatal(err)
		}
		env := engine.NewEnv()
		b.Run(eng.Name(), func(b *testing.B) {
			for b.Loop() {
				if _, err := code.Run(env, 0, 0); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/call")
		})
	}
}

// BenchmarkCompileSmall measures the fixed cost of a compilation: a two-instruction
// program, compiled and dropped.
func BenchmarkCompileSmall(b *testing.B) {
	insns, err := isa.Assemble("mov %r0, 3\nexit")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := jit.Compile(insns, engine.Config{}); err != nil {
			b.Fatal(err)
		}
	}
}
