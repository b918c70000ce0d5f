package interp

import (
	"bytes"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/internal/conformance"
	"github.com/anybpf/anybpf/internal/testutil"
	"github.com/anybpf/anybpf/isa"
)

// runBoth runs a program with and without instruction fusion on copies of mem and
// reports whether r0, the error, the instruction count and the memory agree.
func runBoth(t *testing.T, insns []isa.Instruction, mem []byte) {
	t.Helper()
	type result struct {
		r0       uint64
		err      string
		executed uint64
		mem      []byte
	}
	var res [2]result
	// Both runs use the same buffer and stack, so that programs that compute with
	// addresses see the same values.
	buf := make([]byte, len(mem))
	env := engine.NewEnv()
	var r1 uint64
	if len(buf) > 0 {
		reg := engine.RegionOf("mem", buf, true)
		env.AddRegion(reg)
		r1 = uint64(reg.Addr)
	}
	for i, fused := range []bool{false, true} {
		fusion = fused
		code, err := Compile(insns, engine.Config{Checked: true, Budget: 100000, Helpers: conformance.Helpers()})
		fusion = true
		if err != nil {
			return
		}
		copy(buf, mem)
		clear(env.Stack())
		r0, err := code.Run(env, r1, uint64(len(buf)))
		runtime.KeepAlive(buf)
		res[i] = result{r0: r0, executed: env.Executed, mem: append([]byte(nil), buf...)}
		if err != nil {
			res[i].err = err.Error()
		}
	}
	if res[0].r0 != res[1].r0 || res[0].err != res[1].err || res[0].executed != res[1].executed || !bytes.Equal(res[0].mem, res[1].mem) {
		t.Fatalf("fusion changes the result:\nunfused r0=%#x err=%q executed=%d\nfused   r0=%#x err=%q executed=%d\n%s",
			res[0].r0, res[0].err, res[0].executed, res[1].r0, res[1].err, res[1].executed, isa.Disassemble(insns, isa.SyntaxLLVM))
	}
}

func TestFusionConformance(t *testing.T) {
	tests, err := conformance.LoadDir(testutil.CorpusDir(t, "bpf_conformance"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		insns, err := tc.Instructions()
		if err != nil {
			t.Fatal(err)
		}
		runBoth(t, insns, tc.Mem)
	}
}

// TestFusionRandom generates programs dense in fusible pairs (mov + ALU, conditional
// jump over goto or over mov) and checks that fusion never changes what they compute.
func TestFusionRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for n := 0; n < 3000; n++ {
		runBoth(t, randomProgram(rng), randomMem(rng))
	}
}

func randomMem(rng *rand.Rand) []byte {
	mem := make([]byte, 64)
	for i := range mem {
		mem[i] = byte(rng.Uint32())
	}
	return mem
}

var aluOps = []uint8{isa.AluAdd, isa.AluSub, isa.AluMul, isa.AluDiv, isa.AluOr, isa.AluAnd, isa.AluLsh,
	isa.AluRsh, isa.AluMod, isa.AluXor, isa.AluArsh}

func randomProgram(rng *rand.Rand) []isa.Instruction {
	reg := func() isa.Register { return isa.Register(rng.IntN(6)) }
	var p []isa.Instruction
	// Initialise r0 and r3..r5 so that checked mode accepts the program.
	for _, r := range []isa.Register{0, 3, 4, 5} {
		p = append(p, isa.Instruction{OpCode: uint8(isa.ClassALU64) | isa.AluMov, Dst: r, Constant: int64(rng.Int32())})
	}
	p = append(p, isa.Instruction{OpCode: uint8(isa.ClassLDX) | isa.ModeMEM | isa.SizeDW, Dst: 3, Src: 1, Offset: int16(rng.IntN(7) * 8)})
	body := 20 + rng.IntN(20)
	for len(p) < body {
		class := isa.ClassALU64
		if rng.IntN(2) == 0 {
			class = isa.ClassALU
		}
		dst := isa.Register(rng.IntN(6))
		if dst == 1 || dst == 2 {
			dst = 0
		}
		switch rng.IntN(4) {
		case 0, 1: // mov + op on the same register
			movClass := isa.ClassALU64
			if rng.IntN(3) == 0 {
				movClass = isa.ClassALU
			}
			p = append(p, isa.Instruction{OpCode: uint8(movClass) | isa.AluMov | isa.SrcX, Dst: dst, Src: reg()})
			op := aluOps[rng.IntN(len(aluOps))]
			ins := isa.Instruction{OpCode: uint8(class) | op, Dst: dst}
			if rng.IntN(2) == 0 {
				ins.OpCode |= isa.SrcX
				ins.Src = reg()
			} else {
				ins.Constant = int64(rng.Int32N(70) - 5)
			}
			if (op == isa.AluDiv || op == isa.AluMod) && rng.IntN(2) == 0 {
				ins.Offset = 1
			}
			p = append(p, ins)
		case 2: // if c goto +1; goto +k (forward, inside the body)
			jop := []uint8{isa.JmpJEQ, isa.JmpJGT, isa.JmpJGE, isa.JmpJSET, isa.JmpJNE, isa.JmpJSGT,
				isa.JmpJSGE, isa.JmpJLT, isa.JmpJLE, isa.JmpJSLT, isa.JmpJSLE}[rng.IntN(11)]
			jclass := isa.ClassJMP
			if rng.IntN(2) == 0 {
				jclass = isa.ClassJMP32
			}
			j := isa.Instruction{OpCode: uint8(jclass) | jop, Dst: reg(), Offset: 1, Constant: int64(rng.Int32N(8) - 2)}
			if rng.IntN(2) == 0 {
				j.OpCode |= isa.SrcX
				j.Src, j.Constant = reg(), 0
			}
			if rng.IntN(2) == 0 {
				p = append(p, j, isa.Instruction{OpCode: isa.OpJA, Offset: int16(rng.IntN(3))})
			} else { // conditional move
				p = append(p, j, isa.Instruction{OpCode: uint8(isa.ClassALU64) | isa.AluMov | isa.SrcX, Dst: dst, Src: reg()})
			}
		case 3:
			p = append(p, isa.Instruction{OpCode: uint8(class) | isa.AluAdd, Dst: dst, Constant: int64(rng.Int32())})
		}
	}
	// Store a few registers so memory shows the results too, then exit with a mix.
	for r := isa.Register(3); r <= 5; r++ {
		p = append(p, isa.Instruction{OpCode: uint8(isa.ClassSTX) | isa.ModeMEM | isa.SizeDW, Dst: 1, Src: r, Offset: int16(8 * r)})
	}
	p = append(p,
		isa.Instruction{OpCode: uint8(isa.ClassALU64) | isa.AluXor | isa.SrcX, Dst: 0, Src: 3},
		isa.Instruction{OpCode: uint8(isa.ClassALU64) | isa.AluXor | isa.SrcX, Dst: 0, Src: 4},
		isa.Instruction{OpCode: isa.OpExit})
	// Forward gotos may point past the stores; keep them inside the program.
	offs, total := isa.SlotOffsets(p)
	for i := range p {
		if p[i].OpCode == isa.OpJA && offs[i]+1+int(p[i].Offset) >= total {
			p[i].Offset = 0
		}
	}
	return p
}

// FuzzFusion: random bytes as program and memory, fused and unfused, must agree.
func FuzzFusion(f *testing.F) {
	f.Add(isa.Encode(randomProgram(rand.New(rand.NewPCG(1, 1)))), make([]byte, 64))
	f.Fuzz(func(t *testing.T, program, mem []byte) {
		insns, err := isa.Decode(program)
		if err != nil {
			return
		}
		runBoth(t, insns, mem)
	})
}
