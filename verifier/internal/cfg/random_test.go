package cfg_test

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/anybpf/anybpf/isa"
	"github.com/anybpf/anybpf/verifier/internal/cfg"
)

// randomProgram returns a single-function program of n instructions with random jumps:
// conditional jumps (which keep the next instruction reachable) and movs mostly, some
// unconditional jumps, lddws and exits, and an exit or jump at the end.
func randomProgram(r *rand.Rand, n int) []isa.Instruction {
	insns := make([]isa.Instruction, n)
	kinds := make([]int, n)
	for i := range insns {
		kinds[i] = r.IntN(10)
		if i == n-1 && kinds[i] < 7 {
			kinds[i] = 9 // exit
		}
	}
	for i, k := range kinds {
		switch {
		case k < 4:
			insns[i] = isa.Instruction{OpCode: uint8(isa.ClassJMP) | isa.JmpJEQ, Dst: isa.R1, Constant: int64(r.IntN(3))}
		case k < 6:
			insns[i] = isa.Instruction{OpCode: uint8(isa.ClassALU64) | isa.AluMov, Dst: isa.R0, Constant: int64(i)}
		case k == 6:
			insns[i] = isa.Instruction{OpCode: isa.OpLDDW, Dst: isa.R2, Constant: 1 << 40}
		case k < 9:
			insns[i] = isa.Instruction{OpCode: isa.OpJA}
		default:
			insns[i] = isa.Instruction{OpCode: isa.OpExit}
		}
	}
	offs, _ := isa.SlotOffsets(insns)
	for i := range insns {
		if insns[i].IsJump() {
			insns[i].Offset = int16(offs[r.IntN(n)] - offs[i] - 1)
		}
	}
	return insns
}

// TestRandomWTO builds random single-function programs, many with irreducible loops, and
// checks that each WTO is a valid weak topological order listing every instruction once.
func TestRandomWTO(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	built, loops := 0, 0
	for trial := 0; trial < 5000; trial++ {
		insns := randomProgram(r, 2+r.IntN(40))
		p, err := cfg.Build(insns)
		if errors.Is(err, cfg.ErrUnreachable) {
			continue
		}
		if err != nil {
			t.Fatalf("Build: %v\n%v", err, insns)
		}
		built++
		if len(p.Funcs[0].WTO.Heads()) > 0 {
			loops++
		}
		checkWTO(t, p)
	}
	t.Logf("%d programs built, %d with loops", built, loops)
	if built < 500 || loops < 200 {
		t.Errorf("only %d programs built, %d with loops: the generator needs adjusting", built, loops)
	}
}
