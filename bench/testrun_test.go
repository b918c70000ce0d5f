package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"

	"github.com/anybpf/anybpf"
	"github.com/anybpf/anybpf/engine/jit"
)

// testRunEngines are the anybpf engines BenchmarkTestRun measures: the
// ANYBPF_BENCH_ENGINES environment variable (comma-separated, e.g. "jit"), or the
// interpreter and, where it exists, the JIT.
func testRunEngines() []string {
	if v := os.Getenv("ANYBPF_BENCH_ENGINES"); v != "" {
		return strings.Split(v, ",")
	}
	if jit.Supported {
		return []string{"interp", "jit"}
	}
	return []string{"interp"}
}

// BenchmarkTestRun compares one program invocation in anybpf (each engine of
// testRunEngines, programs verified and so compiled unchecked) with the Linux kernel
// (its JIT, through BPF_PROG_TEST_RUN), all test-running the same object (ops/ops.o) on
// the same 64-byte frame in the same run. The metric is ns/run; the kernel side is
// skipped where bpf() is not available.
func BenchmarkTestRun(b *testing.B) {
	pkt := make([]byte, 64)
	pkt[12], pkt[13] = 0x08, 0x00
	ops := []string{"empty", "array_lookup", "hash_lookup", "hash_update", "lru_update", "lpm_lookup/1K", "lpm_lookup/1M", "tail_call", "ringbuf_output", "prandom"}

	engines := testRunEngines()
	ours := map[string]*anybpf.Collection{}
	kernel := map[int]*ebpf.Collection{}
	kernelOK := rlimit.RemoveMemlock() == nil
	defer bpfStatsOff(b)()
	for _, routes := range []int{1 << 10, 1 << 20} {
		for _, eng := range engines {
			oc, err := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig().WithEngine(eng)).LoadCollection("ops/ops.o")
			if err != nil {
				b.Fatal(err)
			}
			fill(b, routes, func(k, v []byte) error { return oc.Maps["lpm"].Update(k, v, 0) })
			oc.Maps["hash"].Update(uint32(7), uint64(1), 0)
			ours[fmt.Sprint(eng, routes)] = oc
		}
		if !kernelOK {
			continue
		}
		spec, err := ebpf.LoadCollectionSpec("ops/ops.o")
		if err != nil {
			b.Fatal(err)
		}
		kc, err := ebpf.NewCollection(spec)
		if err != nil {
			kernelOK = false
			continue
		}
		defer kc.Close()
		fill(b, routes, func(k, v []byte) error { return kc.Maps["lpm"].Put(k, v) })
		kc.Maps["hash"].Put(uint32(7), uint64(1))
		kernel[routes] = kc
	}
	for _, op := range ops {
		prog, routes := op, 1<<10
		if op == "lpm_lookup/1M" {
			prog, routes = "lpm_lookup", 1<<20
		} else if op == "lpm_lookup/1K" {
			prog = "lpm_lookup"
		}
		if kernelOK {
			b.Run("kernel/"+op, func(b *testing.B) {
				_, d, err := kernel[routes].Programs[prog].Benchmark(pkt, b.N, nil)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(d.Nanoseconds()), "ns/run")
			})
		}
		for _, eng := range engines {
			b.Run(eng+"/"+op, func(b *testing.B) {
				runtime.GC() // the 1M-route maps leave the collector work that would land here
				opts := &anybpf.RunOptions{Data: pkt, Repeat: uint32(b.N)}
				if _, err := ours[fmt.Sprint(eng, routes)].Programs[prog].Run(opts); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(opts.Duration)/float64(time.Nanosecond), "ns/run")
			})
		}
	}
}

// fill adds n /24 routes and a /24 route covering the address the program looks up.
func fill(b *testing.B, n int, put func(k, v []byte) error) {
	key := make([]byte, 8)
	val := make([]byte, 8)
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint32(key, 24)
		binary.BigEndian.PutUint32(key[4:], uint32(i)<<8|0x80000000)
		if err := put(key, val); err != nil {
			b.Fatalf("route %d: %v", i, err)
		}
	}
	binary.LittleEndian.PutUint32(key, 24)
	binary.BigEndian.PutUint32(key[4:], 0x0a0b0c00)
	if err := put(key, val); err != nil {
		b.Fatal(err)
	}
}

// bpfStatsOff turns kernel.bpf_stats_enabled off for a benchmark and returns what turns
// it back: with it on the kernel times every program run, which adds tens of
// nanoseconds to each; the kernel is measured as deployed, with the statistics off.
func bpfStatsOff(b *testing.B) (restore func()) {
	const stats = "/proc/sys/kernel/bpf_stats_enabled"
	old, err := os.ReadFile(stats)
	if err != nil || strings.TrimSpace(string(old)) == "0" {
		return func() {}
	}
	if err := os.WriteFile(stats, []byte("0"), 0); err != nil {
		b.Logf("kernel.bpf_stats_enabled is on and could not be turned off (%v): the kernel figures include its cost", err)
		return func() {}
	}
	return func() { os.WriteFile(stats, old, 0) }
}
