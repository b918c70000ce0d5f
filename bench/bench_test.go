// Package bench holds anybpf's cross-engine benchmarks: compute-heavy C programs compiled
// to eBPF (programs/*.bin, rebuilt by the Makefile with clang) and natively (native/).
package bench

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/engine/interp"
	"github.com/anybpf/anybpf/engine/jit"
	"github.com/anybpf/anybpf/isa"
)

// programs are the compute benchmarks; each has NAME.bin (raw bytecode, r1 = input,
// r2 = length), NAME.in (input) and NAME.expect (the native build's result) in programs/.
var programs = []string{"log2", "primes", "memcpy", "strcmp", "switch64", "crc32"}

type program struct {
	name   string
	insns  []isa.Instruction
	input  []byte
	expect uint64
}

func load(tb testing.TB, name string) program {
	tb.Helper()
	read := func(ext string) []byte {
		b, err := os.ReadFile(filepath.Join("programs", name+ext))
		if err != nil {
			tb.Fatal(err)
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
	return program{name: name, insns: insns, input: read(".in"), expect: expect}
}

// runner runs one compiled program repeatedly on a private copy of its input, restoring
// the input before each run so that programs that write (memcpy) see the same data.
type runner struct {
	code     engine.Code
	env      *engine.Env
	pristine []byte
	buf      []byte
	r1       uint64
}

func newRunner(tb testing.TB, p program, checked bool) *runner {
	return newRunnerWith(tb, interp.New(), p, checked)
}

func newRunnerWith(tb testing.TB, eng engine.Engine, p program, checked bool) *runner {
	code, err := eng.Compile(p.insns, engine.Config{Checked: checked})
	if err != nil {
		tb.Fatalf("%s: %v", p.name, err)
	}
	r := &runner{code: code, env: engine.NewEnv(), pristine: p.input, buf: append([]byte(nil), p.input...)}
	reg := engine.RegionOf("input", r.buf, true)
	r.env.AddRegion(reg)
	r.r1 = uint64(reg.Addr)
	return r
}

func (r *runner) run() (uint64, error) {
	copy(r.buf, r.pristine)
	r0, err := r.code.Run(r.env, r.r1, uint64(len(r.buf)))
	runtime.KeepAlive(r.buf)
	return r0, err
}

// TestResults checks every benchmark program, on every engine, against the result of
// its native build.
func TestResults(t *testing.T) {
	for _, name := range programs {
		p := load(t, name)
		for _, c := range testEngines() {
			checked := c.checked
			r := newRunnerWith(t, c.eng, p, checked)
			got, err := r.run()
			if err != nil {
				t.Fatalf("%s (%s, checked=%v): %v", name, c.eng.Name(), checked, err)
			}
			if got != p.expect {
				t.Errorf("%s (%s, checked=%v): r0 = %#x, native result %#x", name, c.eng.Name(), checked, got, p.expect)
			}
			if checked && c.eng.Name() == "interp" {
				t.Logf("%s: %d instructions executed", name, r.env.Executed)
			}
		}
	}
}

// engineMode is an engine and whether it runs checked.
type engineMode struct {
	eng     engine.Engine
	checked bool
}

// testEngines are the engines and modes TestResults runs: the interpreter and, where it
// exists, the JIT, each unchecked and checked.
func testEngines() []engineMode {
	engines := []engine.Engine{interp.New()}
	if jit.Supported {
		engines = append(engines, jit.New())
	}
	var out []engineMode
	for _, e := range engines {
		out = append(out, engineMode{e, false}, engineMode{e, true})
	}
	return out
}

// BenchmarkJITCompile measures the JIT's compile time per program and per 1000
// instructions.
func BenchmarkJITCompile(b *testing.B) {
	if !jit.Supported {
		b.Skip("no JIT on this platform")
	}
	for _, name := range programs {
		p := load(b, name)
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

// BenchmarkJIT reports ns per run of the JIT's code for every program, unchecked and
// checked (after checking its result against the native build's).
func BenchmarkJIT(b *testing.B) {
	if !jit.Supported {
		b.Skip("no JIT on this platform")
	}
	for _, checked := range []bool{false, true} {
		for _, name := range programs {
			p := load(b, name)
			r := newRunnerWith(b, jit.New(), p, checked)
			if got, err := r.run(); err != nil || got != p.expect {
				b.Fatalf("%s: r0 = %#x (%v), native result %#x", name, got, err, p.expect)
			}
			restore := restoreCost(r)
			b.Run(fmt.Sprintf("checked=%v/%s", checked, name), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					if _, err := r.run(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)-restore, "ns/run")
			})
		}
	}
}

// BenchmarkInterp reports ns per run and ns per executed eBPF instruction for every
// program, unchecked and checked, and the geometric mean of ns/insn over the programs.
func BenchmarkInterp(b *testing.B) {
	for _, mode := range []struct {
		name    string
		checked bool
	}{{"unchecked", false}, {"checked", true}} {
		logSum := 0.0
		for _, name := range programs {
			p := load(b, name)
			executed := float64(countInstructions(b, p))
			r := newRunner(b, p, mode.checked)
			restore := restoreCost(r)
			var perInsn float64
			b.Run(mode.name+"/"+name, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					if _, err := r.run(); err != nil {
						b.Fatal(err)
					}
				}
				perRun := float64(b.Elapsed().Nanoseconds())/float64(b.N) - restore
				perInsn = perRun / executed
				b.ReportMetric(perRun, "ns/run")
				b.ReportMetric(perInsn, "ns/insn")
				b.ReportMetric(executed, "insns/run")
			})
			logSum += math.Log(perInsn)
		}
		b.Run(mode.name+"/geomean", func(b *testing.B) {
			b.ReportMetric(math.Exp(logSum/float64(len(programs))), "ns/insn")
		})
	}
}

// countInstructions runs p once in checked mode, which counts every instruction.
func countInstructions(tb testing.TB, p program) uint64 {
	r := newRunner(tb, p, true)
	if _, err := r.run(); err != nil {
		tb.Fatal(err)
	}
	return r.env.Executed
}

// restoreCost is the time one input restore takes, which is not the program's.
func restoreCost(r *runner) float64 {
	const n = 100000
	start := time.Now()
	for i := 0; i < n; i++ {
		copy(r.buf, r.pristine)
	}
	return float64(time.Since(start).Nanoseconds()) / n
}

// TestNativeResults builds the native harness with clang and checks that the native build
// of every program computes the committed .expect value, which TestResults holds the
// eBPF build to.
func TestNativeResults(t *testing.T) {
	clang, err := exec.LookPath("clang")
	if err != nil {
		t.Skip("clang not installed: cannot build the native reference")
	}
	bin := filepath.Join(t.TempDir(), "harness")
	out, err := exec.Command(clang, "-O2", "-I/usr/include/x86_64-linux-gnu", "-o", bin, filepath.Join("native", "harness.c")).CombinedOutput()
	if err != nil {
		t.Fatalf("build native harness: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "-check", "programs").CombinedOutput()
	if err != nil {
		t.Fatalf("native results differ from programs/*.expect: %v\n%s", err, out)
	}
}
