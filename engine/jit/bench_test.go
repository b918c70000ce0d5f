//go:build amd64 && linux

package jit_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/engine/interp"
	"github.com/anybpf/anybpf/engine/jit"
	"github.com/anybpf/anybpf/internal/testutil"
	"github.com/anybpf/anybpf/isa"
)

// benchPrograms are the compute benchmarks of bench/programs: NAME.bin (r1 = input,
// r2 = length), NAME.in and NAME.expect.
var benchPrograms = []string{"log2", "primes", "memcpy", "strcmp", "switch64", "crc32"}

type benchProgram struct {
	name   string
	insns  []isa.Instruction
	input  []byte
	expect uint64
}

func loadBench(tb testing.TB, name string) benchProgram {
	tb.Helper()
	dir := filepath.Join(testutil.RepoRoot(tb), "bench", "programs")
	read := func(ext string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name+ext))
		if err != nil {
			tb.Skipf("benchmark program: %v", err)
		}
		return b
	}
	insns, err := isa.Decode(read(".bin"))
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	expect, err := strconv.ParseUint(strings.TrimSpace(string(read(".expect"))), 0, 64)
	if err != nil {
		tb.Fatalf("%s.expect: %v", name, err)
	}
	return benchProgram{name: name, insns: insns, input: read(".in"), expect: expect}
}

// benchRunner runs a compiled program on a private copy of its input, restored before
// each run.
type benchRunner struct {
	code     engine.Code
	env      *engine.Env
	pristine []byte
	buf      []byte
}

func newBenchRunner(tb testing.TB, eng engine.Engine, p benchProgram, checked bool) *benchRunner {
	code, err := eng.Compile(p.insns, engine.Config{Checked: checked})
	if err != nil {
		tb.Fatalf("%s: %v", p.name, err)
	}
	r := &benchRunner{code: code, env: engine.NewEnv(), pristine: p.input, buf: append([]byte(nil), p.input...)}
	r.env.AddRegion(engine.RegionOf("input", r.buf, true))
	return r
}

func (r *benchRunner) run() (uint64, error) {
	copy(r.buf, r.pristine)
	r0, err := r.code.Run(r.env, uint64(engine.RegionOf("input", r.buf, true).Addr), uint64(len(r.buf)))
	runtime.KeepAlive(r.buf)
	return r0, err
}

func TestBenchPrograms(t *testing.T) {
	for _, name := range benchPrograms {
		p := loadBench(t, name)
		for _, checked := range []bool{false, true} {
			got, err := newBenchRunner(t, jit.New(), p, checked).run()
			if err != nil {
				t.Fatalf("%s (checked=%v): %v", name, checked, err)
			}
			if got != p.expect {
				t.Errorf("%s (checked=%v): r0 = %#x, native result %#x", name, checked, got, p.expect)
			}
		}
	}
}

// BenchmarkPrograms reports ns per run of every benchmark program on the JIT and on
// the interpreter, unchecked and checked.
func BenchmarkPrograms(b *testing.B) {
	for _, name := range benchPrograms {
		p := loadBench(b, name)
		for _, c := range []struct {
			eng     engine.Engine
			checked bool
		}{{jit.New(), false}, {interp.New(), false}, {jit.New(), true}, {interp.New(), true}} {
			r := newBenchRunner(b, c.eng, p, c.checked)
			mode := "unchecked"
			if c.checked {
				mode = "checked"
			}
			b.Run(name+"/"+c.eng.Name()+"/"+mode, func(b *testing.B) {
				for b.Loop() {
					if _, err := r.run(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/run")
			})
		}
	}
}

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

// BenchmarkCompile measures compile time per program.
func BenchmarkCompile(b *testing.B) {
	for _, name := range benchPrograms {
		p := loadBench(b, name)
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := jit.Compile(p.insns, engine.Config{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(p.insns))*1000, "ns/1000insns")
		})
	}
}
