package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"

	"github.com/anybpf/anybpf"
	"github.com/anybpf/anybpf/engine/jit"
)

// kernelPacketMax is the largest input the kernel's XDP test run takes in one buffer
// (a page less headroom and shared info); memcpy and strcmp get their first bytes.
const kernelPacketMax = 3456

// BenchmarkKernelCompute runs each compute benchmark behind an XDP entry point
// (programs/NAME.xdp.o) in the Linux kernel (its JIT, BPF_PROG_TEST_RUN with
// kernel.bpf_stats_enabled=0) and in anybpf's test run with the JIT, the packet being
// the benchmark's input, in the same run, after checking that both return the same
// value. The native build (clang -O2) is run by native/harness when it has been built
// (make -C bench native) and reported as native/NAME. The metric is ns/run.
// ANYBPF_BENCH_PROGRAMS (comma-separated) names the benchmarks to run; programs that
// either verifier refuses are logged and left out.
func BenchmarkKernelCompute(b *testing.B) {
	if !jit.Supported {
		b.Skip("no JIT on this platform")
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		b.Skipf("bpf() not usable: %v", err)
	}
	const stats = "/proc/sys/kernel/bpf_stats_enabled"
	if old, err := os.ReadFile(stats); err == nil && strings.TrimSpace(string(old)) != "0" {
		if err := os.WriteFile(stats, []byte("0"), 0); err != nil {
			b.Logf("kernel.bpf_stats_enabled is on and could not be turned off (%v): the kernel figures include its cost", err)
		} else {
			defer os.WriteFile(stats, old, 0)
		}
	}
	v := os.Getenv("ANYBPF_BENCH_PROGRAMS")
	if v == "" {
		// In their XDP form, log2, primes, switch64 (and crc32, after minutes) exceed
		// the kernel verifier's complexity limit and anybpf's verifier refuses memcpy,
		// strcmp and crc32: nothing is compared yet (docs/benchmarks.md).
		b.Skip("set ANYBPF_BENCH_PROGRAMS=NAME,...: no compute program passes both verifiers in its XDP form yet")
	}
	names := strings.Split(v, ",")
	native := nativeTimes(b)
	for _, name := range names {
		obj := filepath.Join("programs", name+".xdp.o")
		pkt, err := os.ReadFile(filepath.Join("programs", name+".in"))
		if err != nil {
			b.Fatal(err)
		}
		pkt = pkt[:min(len(pkt), kernelPacketMax)]
		kc, err := ebpf.LoadCollection(obj)
		if err != nil {
			var ve *ebpf.VerifierError
			if errors.As(err, &ve) {
				err = fmt.Errorf("the kernel's verifier refuses it: %s", ve.Cause)
			}
			b.Logf("%s: not compared with the kernel: %v", name, err)
			continue
		}
		defer kc.Close()
		oc, err := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig().WithEngine("jit")).LoadCollection(obj)
		if err != nil {
			b.Logf("%s: not compared with the kernel: anybpf's verifier refuses it: %v", name, err)
			continue
		}
		want, err := kc.Programs["bench"].Run(&ebpf.RunOptions{Data: pkt})
		if err != nil {
			b.Fatal(err)
		}
		got, err := oc.Programs["bench"].Run(&anybpf.RunOptions{Data: pkt})
		if err != nil || got != want {
			b.Fatalf("%s: anybpf returned %#x (%v), the kernel %#x", name, got, err, want)
		}
		b.Run("kernel/"+name, func(b *testing.B) {
			_, d, err := kc.Programs["bench"].Benchmark(pkt, max(b.N, 1000), nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(d.Nanoseconds()), "ns/run")
		})
		b.Run("jit/"+name, func(b *testing.B) {
			runtime.GC()
			opts := &anybpf.RunOptions{Data: pkt, Repeat: uint32(max(b.N, 1000))}
			if _, err := oc.Programs["bench"].Run(opts); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(opts.Duration)/float64(time.Nanosecond), "ns/run")
		})
		if ns, ok := native[name]; ok {
			b.Run("native/"+name, func(b *testing.B) { b.ReportMetric(ns, "ns/run") })
		}
	}
}

// nativeTimes runs native/harness, if built, and returns its ns/run by benchmark (on the
// full inputs).
func nativeTimes(tb testing.TB) map[string]float64 {
	out, err := exec.Command(filepath.Join("native", "harness"), "programs").Output()
	if err != nil {
		tb.Logf("native/harness not run (%v): build it with make -C bench native", err)
		return nil
	}
	t := map[string]float64{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 {
			if ns, err := strconv.ParseFloat(f[2], 64); err == nil {
				t[f[0]] = ns
			}
		}
	}
	return t
}
