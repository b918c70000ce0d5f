//go:build amd64 && linux

package jit

import (
	"fmt"
	"testing"

	"golang.org/x/sys/cpu"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/engine/interp"
	"github.com/anybpf/anybpf/isa"
)

// TestShiftByRegister checks shifts by a register, with and without BMI2, against the
// interpreter, for every pair of a few registers (r4 lives in rcx, the register the
// shifts without BMI2 need) and counts past the width.
func TestShiftByRegister(t *testing.T) {
	modes := []bool{false}
	if cpu.X86.HasBMI2 {
		modes = append(modes, true)
	} else {
		t.Log("no BMI2 on this CPU: only the cl forms are tested")
	}
	defer func(old bool) { useBMI2 = old }(useBMI2)
	regs := []int{0, 1, 4, 5, 6, 9}
	for _, bmi2 := range modes {
		useBMI2 = bmi2
		for _, op := range []string{"lsh", "rsh", "arsh"} {
			for _, w := range []string{"", "32"} {
				for _, d := range regs {
					for _, s := range regs {
						for _, count := range []int64{0, 1, 31, 33, 63, 64, 100} {
							src := fmt.Sprintf("lddw %%r%d, 0x8765432112345678\nmov %%r%d, %d\n%s%s %%r%d, %%r%d\nmov %%r0, %%r%d\nexit", d, s, count, op, w, d, s, d)
							if d == s {
								src = fmt.Sprintf("lddw %%r%d, 0x876543211234567f\n%s%s %%r%d, %%r%d\nmov %%r0, %%r%d\nexit", d, op, w, d, s, d)
							}
							insns, err := isa.Assemble(src)
							if err != nil {
								t.Fatalf("%s: %v", src, err)
							}
							want, err := interp.New().Compile(insns, engine.Config{})
							if err != nil {
								t.Fatal(err)
							}
							got, err := Compile(insns, engine.Config{})
							if err != nil {
								t.Fatal(err)
							}
							env := engine.NewEnv()
							w0, _ := want.Run(env, 0, 0)
							g0, _ := got.Run(env, 0, 0)
							if g0 != w0 {
								t.Errorf("bmi2=%v:\n%s\nJIT %#x, interpreter %#x", bmi2, src, g0, w0)
							}
						}
					}
				}
			}
		}
	}
}
