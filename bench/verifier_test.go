package bench

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/rlimit"

	"github.com/anybpf/anybpf/isa"
	"github.com/anybpf/anybpf/progtype"
	"github.com/anybpf/anybpf/verifier"
)

// diamonds returns an XDP program of n if-else diamonds, each branching on a packet byte
// and both arms writing the stack: 2^n paths for a verifier that walks them one by one,
// the shape of the PREVAIL paper's scaling experiment.
func diamonds(n int) []isa.Instruction {
	var b strings.Builder
	b.WriteString("ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 64\njgt %r4, %r3, out\nmov %r0, 0\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "ldxb %%r5, [%%r2+%d]\njeq %%r5, %d, a%d\nstdw [%%r10-8], %d\nadd %%r0, 1\nja b%d\na%d:\nstdw [%%r10-8], %d\nadd %%r0, 2\nb%d:\n", i%64, i, i, i, i, i, i+1, i)
	}
	b.WriteString("ldxdw %r5, [%r10-8]\nadd %r0, %r5\nexit\nout:\nmov %r0, 1\nexit\n")
	insns, err := isa.Assemble(b.String())
	if err != nil {
		panic(err)
	}
	return insns
}

// BenchmarkVerifierScaling times anybpf's verifier and the Linux kernel's (loading the
// same program with BPF_PROG_LOAD) on programs of n branch diamonds. The metric is
// ms/verify; the kernel side is skipped where bpf() is not available.
func BenchmarkVerifierScaling(b *testing.B) {
	kernelOK := rlimit.RemoveMemlock() == nil
	for _, n := range []int{10, 100, 1000, 4000} {
		insns := diamonds(n)
		b.Run(fmt.Sprintf("anybpf/n=%d", n), func(b *testing.B) {
			p := &verifier.Program{Instructions: insns, Type: progtype.XDP}
			var total time.Duration
			for i := 0; i < b.N; i++ {
				start := time.Now()
				if _, err := verifier.Verify(p, nil); err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/verify")
		})
		if !kernelOK {
			continue
		}
		b.Run(fmt.Sprintf("kernel/n=%d", n), func(b *testing.B) {
			var ki asm.Instructions
			r := bytes.NewReader(isa.Encode(insns))
			for r.Len() > 0 {
				var ins asm.Instruction
				if err := ins.Unmarshal(r, binary.LittleEndian, "linux"); err != nil {
					b.Fatal(err)
				}
				ki = append(ki, ins)
			}
			spec := &ebpf.ProgramSpec{Type: ebpf.XDP, Instructions: ki, License: "GPL"}
			var total time.Duration
			for i := 0; i < b.N; i++ {
				start := time.Now()
				prog, err := ebpf.NewProgramWithOptions(spec, ebpf.ProgramOptions{LogDisabled: true})
				if err != nil {
					b.Skipf("kernel refused n=%d: %v", n, err)
				}
				total += time.Since(start)
				prog.Close()
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/verify")
		})
	}
}
