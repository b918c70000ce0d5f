package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"

	"github.com/anybpf/anybpf"
	"github.com/anybpf/anybpf/engine/jit"
)

// xdpPrograms are the compute benchmarks written for both verifiers
// (xdpcompute/NAME.h, behind the XDP entry point of xdpcompute/xdp.c in NAME.xdp.o).
var xdpPrograms = []string{"crc32", "fnv1a", "popcount", "sort", "sieve", "matmul"}

// xdpPacket is the input of the XDP compute benchmarks: 2048 pseudo-random bytes (the
// kernel's XDP test run takes up to 3456 in one buffer).
func xdpPacket() []byte {
	pkt := make([]byte, 2048)
	x := uint64(0x9e3779b97f4a7c15)
	for i := range pkt {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		pkt[i] = byte(x >> 24)
	}
	return pkt
}

// computeFigures are one benchmark's figures in ns/run, 0 where not measured.
type computeFigures struct{ kernel, jit, interp, native float64 }

// BenchmarkKernelCompute runs each XDP compute benchmark (xdpcompute/, or the programs
// ANYBPF_BENCH_PROGRAMS names, comma-separated) in the Linux kernel (its JIT,
// BPF_PROG_TEST_RUN with kernel.bpf_stats_enabled=0), in anybpf's test run with the JIT
// and with the interpreter, and natively (the same C built with clang -O2 by the
// benchmark, when clang is there), all on the same packet in the same run, after
// checking that all four return the same value. The kernel and anybpf run 7 alternating
// rounds of ANYBPF_BENCH_REPEAT (default 2000, at least 1000) repetitions each, the
// native harness 7 batches of at least 20 ms. anybpf and the native harness are timed in
// the CPU time of their thread, as the kernel's test run stops its clock while it is
// scheduled out; each sub-benchmark reports the median in
// ns/run (whatever b.N is: run it with -benchtime 1x), and the table of the four side by
// side, with the JIT's ratios to the kernel and to native code, is logged at the end.
func BenchmarkKernelCompute(b *testing.B) {
	if !jit.Supported {
		b.Skip("no JIT on this platform")
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		b.Skipf("bpf() not usable: %v", err)
	}
	defer bpfStatsOff(b)()
	names := xdpPrograms
	if v := os.Getenv("ANYBPF_BENCH_PROGRAMS"); v != "" {
		names = strings.Split(v, ",")
	}
	repeat, rounds := 2000, 7
	if v, err := strconv.Atoi(os.Getenv("ANYBPF_BENCH_REPEAT")); err == nil && v >= 1000 {
		repeat = v
	}
	pkt := xdpPacket()
	native := nativeXDP(b, pkt)
	figures := map[string]*computeFigures{}
	for _, name := range names {
		obj := filepath.Join("xdpcompute", name+".xdp.o")
		kc, err := ebpf.LoadCollection(obj)
		if errors.Is(err, os.ErrPermission) {
			b.Skipf("bpf() not permitted: %v", err)
		}
		if err != nil {
			var ve *ebpf.VerifierError
			if errors.As(err, &ve) {
				err = fmt.Errorf("the kernel's verifier refuses it: %s", ve.Cause)
			}
			b.Fatalf("%s: %v", name, err)
		}
		defer kc.Close()
		want, err := kc.Programs["bench"].Run(&ebpf.RunOptions{Data: pkt})
		if err != nil {
			b.Fatal(err)
		}
		f := &computeFigures{}
		figures[name] = f
		var progs []*anybpf.Program
		for _, eng := range []string{"jit", "interp"} {
			oc, err := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig().WithEngine(eng)).LoadCollection(obj)
			if err != nil {
				b.Fatalf("%s: anybpf refuses it: %v", name, err)
			}
			defer oc.Close()
			prog := oc.Programs["bench"]
			if got, err := prog.Run(&anybpf.RunOptions{Data: pkt}); err != nil || got != want {
				b.Fatalf("%s: anybpf (%s) returned %#x (%v), the kernel %#x", name, eng, got, err, want)
			}
			progs = append(progs, prog)
		}
		// Rounds alternate between the kernel and the engines, so that a change in the
		// machine's load affects all of them alike; each figure is the median.
		var kernelNs, jitNs, interpNs []float64
		runtime.GC()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for range rounds {
			_, d, err := kc.Programs["bench"].Benchmark(pkt, repeat, nil)
			if err != nil {
				b.Fatal(err)
			}
			kernelNs = append(kernelNs, float64(d.Nanoseconds()))
			for i, prog := range progs {
				opts := &anybpf.RunOptions{Data: pkt, Repeat: uint32(repeat)}
				t0 := threadTime()
				if _, err := prog.Run(opts); err != nil {
					b.Fatal(err)
				}
				ns := float64(threadTime()-t0) / float64(repeat)
				if i == 0 {
					jitNs = append(jitNs, ns)
				} else {
					interpNs = append(interpNs, ns)
				}
			}
		}
		f.kernel, f.jit, f.interp = median(kernelNs), median(jitNs), median(interpNs)
		report := func(what string, ns float64) {
			b.Run(what+"/"+name, func(b *testing.B) { b.ReportMetric(ns, "ns/run") })
		}
		report("kernel", f.kernel)
		report("jit", f.jit)
		report("interp", f.interp)
		if n, ok := native[name]; ok {
			if n.result != uint32(want) {
				b.Fatalf("%s: the native build returned %#x, the kernel %#x", name, n.result, want)
			}
			f.native = n.ns
			report("native", n.ns)
		}
	}
	var sb strings.Builder
	w := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "program\tkernel JIT\tanybpf JIT\tinterpreter\tnative\tJIT/kernel\tJIT/native\t")
	ratio := func(a, b float64) string {
		if a == 0 || b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f×", a/b)
	}
	for _, name := range names {
		f := figures[name]
		if f == nil {
			continue
		}
		fmt.Fprintf(w, "%s\t%.0f\t%.0f\t%.0f\t%.0f\t%s\t%s\t\n", name, f.kernel, f.jit, f.interp, f.native, ratio(f.jit, f.kernel), ratio(f.jit, f.native))
	}
	w.Flush()
	b.Logf("ns/run, same run:\n%s", sb.String())
}

// nativeResult is what the native build of an XDP compute benchmark returned and took.
type nativeResult struct {
	result uint32
	ns     float64
}

// nativeXDP builds xdpcompute/native.c with clang -O2 and runs it on pkt. It returns
// nil, after logging why, when clang is not there.
func nativeXDP(tb testing.TB, pkt []byte) map[string]nativeResult {
	clang, err := exec.LookPath(os.Getenv("CLANG"))
	if os.Getenv("CLANG") == "" {
		clang, err = exec.LookPath("clang")
	}
	if err != nil {
		tb.Logf("native builds not measured: no clang (%v)", err)
		return nil
	}
	dir := tb.TempDir()
	bin, in := filepath.Join(dir, "native"), filepath.Join(dir, "packet")
	if out, err := exec.Command(clang, "-O2", "-I/usr/include/x86_64-linux-gnu", "-o", bin, filepath.Join("xdpcompute", "native.c")).CombinedOutput(); err != nil {
		tb.Fatalf("building the native harness: %v\n%s", err, out)
	}
	if err := os.WriteFile(in, pkt, 0o600); err != nil {
		tb.Fatal(err)
	}
	out, err := exec.Command(bin, in).Output()
	if err != nil {
		tb.Fatalf("native harness: %v", err)
	}
	res := map[string]nativeResult{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		r, err1 := strconv.ParseUint(f[1], 0, 32)
		ns, err2 := strconv.ParseFloat(f[2], 64)
		if err1 != nil || err2 != nil {
			tb.Fatalf("native harness printed %q", line)
		}
		res[f[0]] = nativeResult{uint32(r), ns}
	}
	return res
}

// TestXDPCompute checks that both anybpf engines accept every XDP compute benchmark and
// return what its native build returns, and what the Linux kernel returns when bpf() is
// usable.
func TestXDPCompute(t *testing.T) {
	pkt := xdpPacket()
	native := nativeXDP(t, pkt)
	kernel := rlimit.RemoveMemlock() == nil
	for _, name := range xdpPrograms {
		obj := filepath.Join("xdpcompute", name+".xdp.o")
		var results []uint64
		for _, eng := range []string{"jit", "interp"} {
			if eng == "jit" && !jit.Supported {
				continue
			}
			oc, err := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig().WithEngine(eng)).LoadCollection(obj)
			if err != nil {
				t.Fatalf("%s (%s): %v", name, eng, err)
			}
			got, err := oc.Programs["bench"].Run(&anybpf.RunOptions{Data: pkt})
			oc.Close()
			if err != nil {
				t.Fatalf("%s (%s): %v", name, eng, err)
			}
			results = append(results, uint64(got))
		}
		if n, ok := native[name]; ok {
			results = append(results, uint64(n.result))
		}
		if kernel {
			if kc, err := ebpf.LoadCollection(obj); errors.Is(err, os.ErrPermission) {
				t.Logf("not compared with the kernel: %v", err)
				kernel = false
			} else if err != nil {
				t.Errorf("%s: the kernel refuses it: %v", name, err)
			} else {
				got, err := kc.Programs["bench"].Run(&ebpf.RunOptions{Data: pkt})
				kc.Close()
				if err != nil {
					t.Fatalf("%s: kernel test run: %v", name, err)
				}
				results = append(results, uint64(got))
			}
		}
		for _, r := range results[1:] {
			if r != results[0] {
				t.Errorf("%s: results differ (anybpf JIT, interpreter, native, kernel): %#x", name, results)
			}
		}
	}
}

// median returns the median of xs (the upper one for an even count).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
