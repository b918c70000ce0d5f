//go:build amd64 && linux

package jit_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/engine/interp"
	"github.com/anybpf/anybpf/engine/jit"
	"github.com/anybpf/anybpf/internal/conformance"
	"github.com/anybpf/anybpf/isa"
)

// diffHelpers are the helpers differential programs may call: 1 mixes its arguments,
// 5 is the conformance suite's unwind.
func diffHelpers() map[int32]engine.HelperFunc {
	h := conformance.Helpers()
	h[1] = func(_ *engine.Env, r1, r2, r3, r4, r5 uint64) uint64 {
		return (r1*31 ^ r2) + r3 - r4 ^ r5<<7
	}
	return h
}

// packet is what legacy packet loads read in differential runs.
var packet = func() []byte {
	p := make([]byte, 64)
	for i := range p {
		p[i] = byte(i*37 + 11)
	}
	return p
}()

// sanitize rewrites a decoded program so that it runs safely unchecked and terminates:
// every load and store goes to the stack through r10 at an aligned offset, every jump
// and local call goes forward, nothing writes r10, and the program ends with exit. It
// reports false if the result is still not a valid program.
func sanitize(in []isa.Instruction) ([]isa.Instruction, bool) { return sanitizeMode(in, false) }

// sanitizeMode is sanitize; with checked, it leaves memory operands alone, for checked
// mode faults where a program goes astray.
func sanitizeMode(in []isa.Instruction, checked bool) ([]isa.Instruction, bool) {
	if len(in) == 0 || len(in) > 4096 {
		return nil, false
	}
	insns := append([]isa.Instruction(nil), in...)
	if !insns[len(insns)-1].IsExit() {
		insns = append(insns, isa.Instruction{OpCode: isa.OpExit})
	}
	offs, total := isa.SlotOffsets(insns)
	second := make([]bool, total+1) // the second slots of lddw, where no jump may land
	for i, ins := range insns {
		if ins.IsLDDW() {
			second[offs[i]+1] = true
		}
	}
	for i := range insns {
		ins := &insns[i]
		switch ins.Class() {
		case isa.ClassLDX:
			if checked {
				break
			}
			ins.Src = isa.R10
			ins.Offset = stackOffset(ins.Offset, isa.SizeBytes(ins.OpCode&0x18))
		case isa.ClassST, isa.ClassSTX:
			if checked {
				break
			}
			ins.Dst = isa.R10
			ins.Offset = stackOffset(ins.Offset, isa.SizeBytes(ins.OpCode&0x18))
		}
		if ins.IsJump() || ins.IsLocalCall() {
			remaining := total - offs[i] - 1
			if remaining <= 0 {
				*ins = isa.Instruction{OpCode: isa.OpExit}
				continue
			}
			off := int(uint(ins.JumpOffset()) % uint(remaining))
			if second[offs[i]+1+off] {
				off--
			}
			if ins.OpCode == isa.OpJA32 || ins.IsLocalCall() {
				ins.Constant = int64(off)
			} else {
				ins.Offset = int16(off)
			}
		}
		if r, ok := isa.WrittenRegister(*ins); ok && r == isa.R10 {
			if ins.Class() == isa.ClassSTX {
				ins.Src = isa.R0
			} else {
				ins.Dst = isa.R0
			}
		}
	}
	if !checked {
		// The JIT trusts unchecked code, as it trusts the verifier: an array lookup it
		// inlines must have its key on the stack. A load of the array's handle not
		// followed by exactly "r2 = r10; r2 += -4k; call 1" loads something else.
		for i := range insns {
			if insns[i].IsLDDW() && uint64(insns[i].Constant) == diffArrayHandle && !safeLookup(insns[i:]) {
				insns[i].Constant++
			}
		}
	}
	if isa.Validate(insns) != nil {
		return nil, false
	}
	return insns, true
}

// safeLookup reports whether insns starts with a lookup of diffArray whose key pointer is
// inside the stack frame.
func safeLookup(insns []isa.Instruction) bool {
	if len(insns) < 4 || insns[0].Dst != isa.R1 {
		return false
	}
	mov, add, call := insns[1], insns[2], insns[3]
	return mov.OpCode == uint8(isa.ClassALU64)|isa.AluMov|isa.SrcX && mov.Dst == isa.R2 && mov.Src == isa.R10 && mov.Offset == 0 &&
		add.OpCode == uint8(isa.ClassALU64)|isa.AluAdd && add.Dst == isa.R2 && add.Constant <= -4 && add.Constant >= -engine.StackFrameSize && add.Constant%4 == 0 &&
		call.OpCode == isa.OpCall && call.Src == 0 && call.Constant == 1
}

// stackOffset maps any offset to an aligned one inside the 512-byte frame below r10.
func stackOffset(off int16, size int) int16 {
	k := int(uint16(off)) % (engine.StackFrameSize / size)
	return int16(-(k + 1) * size)
}

// outcome is what a differential run compares.
type outcome struct {
	r0       uint64
	err      string
	stack    []byte
	mem      []byte // the regions of checked mode
	executed uint64 // counted only with a budget or in checked mode
}

// mode is how a differential run compiles: with a budget (0 for none), checked or not.
type mode struct {
	budget  uint64
	checked bool
}

// regions are the memory a checked differential run may access besides the stack: r1
// points to a writable region of 64 bytes, r2 to a read-only one of 32.
type regions struct {
	mem, ro []byte
}

// escaped keeps the last regions on the heap: memory on a goroutine stack moves when the
// stack grows, behind the addresses a program holds.
var escaped *regions

func (rs *regions) reset() {
	for i := range rs.mem {
		rs.mem[i] = byte(i*7 + 1)
	}
	for i := range rs.ro {
		rs.ro[i] = byte(i*13 + 5)
	}
}

// Map references in differential programs: an array of diffArrayLen values diffStride
// bytes apart, which the JIT looks up inline in unchecked code, and a program array whose
// slot 0 holds the program itself (id 1 in the tail table) and slot 1 nothing, which the
// JIT tail calls through within native code.
const (
	diffArrayHandle = 0xffff_a000_0000_0001
	diffProgHandle  = 0xffff_a000_0000_0002
	diffArrayLen    = 5
	diffStride      = 24
)

var (
	diffArray = engine.Memory(diffArrayLen * diffStride)
	diffProgs = []uint32{1, 0}
)

func diffMaps(h uint64) (engine.MapInfo, bool) {
	switch h {
	case diffArrayHandle:
		return engine.MapInfo{ArrayBase: uintptr(unsafe.Pointer(&diffArray[0])), ArrayStride: diffStride, ArrayLen: diffArrayLen}, true
	case diffProgHandle:
		return engine.MapInfo{ProgIDs: uintptr(unsafe.Pointer(&diffProgs[0])), ProgLen: uint32(len(diffProgs))}, true
	}
	return engine.MapInfo{}, false
}

// engineHelpers are diffHelpers with helper 1 also looking diffArray up (when r1 is its
// handle and r2 points into the stack) and helper 12 tail calling self through the
// program array, as the runtime's bpf_map_lookup_elem and bpf_tail_call do.
func engineHelpers(self *engine.Code) map[int32]engine.HelperFunc {
	h := diffHelpers()
	mix := h[1]
	h[1] = func(env *engine.Env, r1, r2, r3, r4, r5 uint64) uint64 {
		if r1 != diffArrayHandle || !env.Check(r2, 4, false) {
			return mix(env, r1, r2, r3, r4, r5)
		}
		k := *(*uint32)(*(*unsafe.Pointer)(unsafe.Pointer(&r2)))
		if k >= diffArrayLen {
			return 0
		}
		return uint64(uintptr(unsafe.Pointer(&diffArray[0]))) + uint64(k)*diffStride
	}
	h[12] = func(env *engine.Env, _, r2, r3, _, _ uint64) uint64 {
		if r2 != diffProgHandle {
			return ^uint64(21) // -EINVAL
		}
		if r3 >= uint64(len(diffProgs)) || diffProgs[r3] == 0 || env.TailCalls >= 33 {
			return ^uint64(1) // -ENOENT
		}
		env.TailCalls++
		env.TailCall(*self)
		return 0
	}
	return h
}

func runEngine(eng engine.Engine, insns []isa.Instruction, env *engine.Env, rs *regions, r1, r2 uint64, m mode) outcome {
	var self engine.Code
	cfg := engine.Config{Helpers: engineHelpers(&self), Budget: m.budget, Checked: m.checked}
	var table *jit.TailTable
	if !m.checked {
		table = jit.NewTailTable(nil)
		cfg.Maps, cfg.Tails = diffMaps, table
	}
	code, err := eng.Compile(insns, cfg)
	if err != nil {
		return outcome{err: "compile: " + err.Error()}
	}
	self = code
	if table != nil {
		table.Set(1, code, 0)
	}
	clear(env.Stack())
	rs.reset()
	env.Packet = packet
	env.TailCalls = 0
	r0, err := code.Run(env, r1, r2)
	o := outcome{r0: r0, stack: append([]byte(nil), env.Stack()...), mem: append(append([]byte(nil), rs.mem...), rs.ro...)}
	if m.budget != 0 || m.checked {
		o.executed = env.Executed
	}
	if err != nil {
		o.err = err.Error()
	}
	return o
}

// differ runs a program on the interpreter and the JIT with the same Env and reports a
// difference in r0, error, stack or region contents, or instructions executed. In
// checked mode r1 and r2 are replaced by the addresses of the regions.
func differ(insns []isa.Instruction, r1, r2 uint64, m mode) (outcome, error) {
	env := engine.NewEnv()
	rs := &regions{mem: make([]byte, 64), ro: make([]byte, 32)}
	escaped = rs
	if m.checked {
		mem, ro := engine.RegionOf("mem", rs.mem, true), engine.RegionOf("ro", rs.ro, false)
		env.AddRegion(mem)
		env.AddRegion(ro)
		r1, r2 = uint64(mem.Addr), uint64(ro.Addr)
	}
	want := runEngine(interp.New(), insns, env, rs, r1, r2, m)
	got := runEngine(jit.New(), insns, env, rs, r1, r2, m)
	return want, compare(got, want)
}

func compare(got, want outcome) error {
	switch {
	case got.err != want.err:
		return fmt.Errorf("error: jit %q, interp %q", got.err, want.err)
	case got.r0 != want.r0:
		return fmt.Errorf("r0: jit %#x, interp %#x", got.r0, want.r0)
	case got.executed != want.executed:
		return fmt.Errorf("executed: jit %d, interp %d", got.executed, want.executed)
	case !bytes.Equal(got.mem, want.mem):
		return fmt.Errorf("regions: jit %x, interp %x", got.mem, want.mem)
	case !bytes.Equal(got.stack, want.stack):
		for i := range got.stack {
			if got.stack[i] != want.stack[i] {
				return fmt.Errorf("stack byte %d (r10%+d): jit %#x, interp %#x", i, i-engine.StackSize, got.stack[i], want.stack[i])
			}
		}
	}
	return nil
}

var (
	aluOps  = []uint8{isa.AluAdd, isa.AluSub, isa.AluMul, isa.AluDiv, isa.AluOr, isa.AluAnd, isa.AluLsh, isa.AluRsh, isa.AluNeg, isa.AluMod, isa.AluXor, isa.AluMov, isa.AluArsh, isa.AluEnd}
	jmpOps  = []uint8{isa.JmpJA, isa.JmpJEQ, isa.JmpJGT, isa.JmpJGE, isa.JmpJSET, isa.JmpJNE, isa.JmpJSGT, isa.JmpJSGE, isa.JmpJLT, isa.JmpJLE, isa.JmpJSLT, isa.JmpJSLE}
	sizes   = []uint8{isa.SizeB, isa.SizeH, isa.SizeW, isa.SizeDW}
	atomics = []int32{isa.AtomicAdd, isa.AtomicOr, isa.AtomicAnd, isa.AtomicXor, isa.AtomicAdd | isa.AtomicFetch, isa.AtomicOr | isa.AtomicFetch, isa.AtomicAnd | isa.AtomicFetch, isa.AtomicXor | isa.AtomicFetch, isa.AtomicXchg, isa.AtomicCmpXchg}
)

// interesting returns a random constant, often one at an edge.
func interesting(r *rand.Rand) int64 {
	edges := []int64{0, 1, -1, 2, 7, 8, 16, 31, 32, 63, 64, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, -0x80000000, 0xffffffff, 1 << 32, -1 << 63}
	if r.IntN(2) == 0 {
		return edges[r.IntN(len(edges))]
	}
	return int64(r.Uint64())
}

// randomInstruction returns a random well-formed instruction; sanitize fixes its memory
// operands and jump targets.
func randomInstruction(r *rand.Rand) isa.Instruction {
	reg := func() isa.Register { return isa.Register(r.IntN(10)) }
	imm := func() int64 { return int64(int32(interesting(r))) }
	for {
		var ins isa.Instruction
		switch k := r.IntN(100); {
		case k < 55:
			class := isa.ClassALU64
			if r.IntN(2) == 0 {
				class = isa.ClassALU
			}
			op := aluOps[r.IntN(len(aluOps))]
			ins = isa.Instruction{OpCode: uint8(class) | op, Dst: reg()}
			x := r.IntN(2) == 0
			switch op {
			case isa.AluNeg:
			case isa.AluEnd:
				ins.Constant = []int64{16, 32, 64}[r.IntN(3)]
				if class == isa.ClassALU && x {
					ins.OpCode |= isa.SrcX
				}
			case isa.AluMov:
				if x {
					ins.OpCode |= isa.SrcX
					ins.Src = reg()
					if r.IntN(3) == 0 {
						ins.Offset = []int16{8, 16, 32}[r.IntN(3)]
					}
				} else {
					ins.Constant = imm()
				}
			default:
				if x {
					ins.OpCode |= isa.SrcX
					ins.Src = reg()
				} else {
					ins.Constant = imm()
				}
				if (op == isa.AluDiv || op == isa.AluMod) && r.IntN(2) == 0 {
					ins.Offset = 1
				}
			}
		case k < 70:
			class := isa.ClassJMP
			if r.IntN(3) == 0 {
				class = isa.ClassJMP32
			}
			op := jmpOps[r.IntN(len(jmpOps))]
			ins = isa.Instruction{OpCode: uint8(class) | op, Dst: reg(), Offset: int16(r.IntN(8))}
			switch {
			case op == isa.JmpJA && class == isa.ClassJMP32:
				ins = isa.Instruction{OpCode: isa.OpJA32, Constant: int64(r.IntN(8))}
			case op == isa.JmpJA:
				ins.Dst = 0
			case r.IntN(2) == 0:
				ins.OpCode |= isa.SrcX
				ins.Src = reg()
			default:
				ins.Constant = imm()
			}
		case k < 78:
			size := sizes[r.IntN(4)]
			mode := isa.ModeMEM
			if size != isa.SizeDW && r.IntN(3) == 0 {
				mode = isa.ModeMEMSX
			}
			ins = isa.Instruction{OpCode: uint8(isa.ClassLDX) | mode | size, Dst: reg(), Src: isa.R10, Offset: int16(r.Uint32())}
		case k < 84:
			ins = isa.Instruction{OpCode: uint8(isa.ClassSTX) | isa.ModeMEM | sizes[r.IntN(4)], Dst: isa.R10, Src: reg(), Offset: int16(r.Uint32())}
		case k < 88:
			ins = isa.Instruction{OpCode: uint8(isa.ClassST) | isa.ModeMEM | sizes[r.IntN(4)], Dst: isa.R10, Offset: int16(r.Uint32()), Constant: imm()}
		case k < 93:
			size := isa.SizeDW
			if r.IntN(2) == 0 {
				size = isa.SizeW
			}
			ins = isa.Instruction{OpCode: uint8(isa.ClassSTX) | isa.ModeATOMIC | size, Dst: isa.R10, Src: reg(), Offset: int16(r.Uint32()), Constant: int64(atomics[r.IntN(len(atomics))])}
		case k < 96:
			ins = isa.Instruction{OpCode: isa.OpLDDW, Dst: reg(), Constant: interesting(r)}
		case k < 98:
			ins = isa.Instruction{OpCode: isa.OpCall, Constant: 1}
		case k < 99:
			ins = isa.Instruction{OpCode: isa.OpCall, Src: isa.Register(isa.CallLocal), Constant: int64(r.IntN(16))}
		default:
			ins = isa.Instruction{OpCode: isa.OpExit}
		}
		if _, err := isa.Decode(ins.Encode(nil)); err == nil {
			return ins
		}
	}
}

// randomProgram returns a program of n random instructions that first sets every
// register to a random value.
func randomProgram(r *rand.Rand, n int) []isa.Instruction {
	var insns []isa.Instruction
	for reg := isa.R0; reg <= isa.R9; reg++ {
		insns = append(insns, isa.Instruction{OpCode: isa.OpLDDW, Dst: reg, Constant: interesting(r)})
	}
	for range n {
		switch r.IntN(100) {
		case 0:
			// An array lookup the JIT inlines: the key is on the stack.
			insns = append(insns,
				isa.Instruction{OpCode: isa.OpLDDW, Dst: isa.R1, Constant: asInt64(diffArrayHandle)},
				isa.Instruction{OpCode: uint8(isa.ClassALU64) | isa.AluMov | isa.SrcX, Dst: isa.R2, Src: isa.R10},
				isa.Instruction{OpCode: uint8(isa.ClassALU64) | isa.AluAdd, Dst: isa.R2, Constant: -int64(4 * (1 + r.IntN(8)))},
				isa.Instruction{OpCode: isa.OpCall, Constant: 1})
			continue
		case 1:
			// A tail call the JIT takes within native code: slot 0 is the program itself,
			// slot 1 is empty, others are out of range.
			insns = append(insns,
				isa.Instruction{OpCode: isa.OpLDDW, Dst: isa.R2, Constant: asInt64(diffProgHandle)},
				isa.Instruction{OpCode: uint8(isa.ClassALU64) | isa.AluMov, Dst: isa.R3, Constant: []int64{0, 0, 1, 2, -1}[r.IntN(5)]},
				isa.Instruction{OpCode: isa.OpCall, Constant: 12})
			continue
		}
		ins := randomInstruction(r)
		if ins.IsJump() && ins.OpCode&0xf0 != isa.JmpJA && r.IntN(3) == 0 {
			// "if cond goto +1; goto L", which the interpreter fuses.
			ins.Offset = 1
			insns = append(insns, ins, isa.Instruction{OpCode: isa.OpJA, Offset: int16(r.IntN(10))})
			continue
		}
		insns = append(insns, ins)
	}
	return insns
}

// spreadMemory points the memory operands of a program at the stack, the regions of
// checked mode (r1, r2), or anywhere, and drops the initial loads of r1 and r2. It also
// replaces most calls, after which checked mode refuses reads of r1..r5.
func spreadMemory(r *rand.Rand, insns []isa.Instruction) []isa.Instruction {
	insns = append(insns[:1], insns[3:]...)
	for i := range insns {
		ins := &insns[i]
		if ins.OpCode == isa.OpCall && r.IntN(4) != 0 {
			*ins = isa.Instruction{OpCode: uint8(isa.ClassALU64) | isa.AluMov, Constant: 1}
			continue
		}
		base := &ins.Dst
		switch ins.Class() {
		case isa.ClassLDX:
			base = &ins.Src
		case isa.ClassST, isa.ClassSTX:
		default:
			continue
		}
		switch k := r.IntN(10); {
		case k < 4:
			*base = isa.R1
			ins.Offset = int16(r.IntN(80) - 8)
		case k < 6:
			*base = isa.R2
			ins.Offset = int16(r.IntN(48) - 8)
		case k < 9:
			*base = isa.R10
			ins.Offset = int16(-r.IntN(520))
		default:
			*base = isa.Register(r.IntN(11))
		}
	}
	return insns
}

func TestDifferential(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 2000
	}
	r := rand.New(rand.NewPCG(1, 2))
	ran, failed := 0, 0
	for i := range n {
		var m mode
		switch i % 4 {
		case 0:
			m.budget = 1 + r.Uint64N(100) // the JIT counts like the interpreter
		case 1:
			m.checked = true
		}
		insns := randomProgram(r, 1+r.IntN(60))
		if m.checked {
			insns = spreadMemory(r, insns)
		}
		prog, ok := sanitizeMode(insns, m.checked)
		if !ok {
			continue
		}
		o, err := differ(prog, r.Uint64(), r.Uint64(), m)
		if err != nil {
			t.Fatalf("program %d (%+v): %v\n%s", i, m, err, isa.Disassemble(prog, isa.SyntaxLLVM))
		}
		ran++
		if o.err != "" {
			failed++
		}
	}
	t.Logf("%d programs agreed, %d of them ending in the same error", ran, failed)
	if ran < n*9/10 || failed > ran/2 {
		t.Errorf("the generator is too weak: %d of %d programs ran, %d failed", ran, n, failed)
	}
}

func FuzzDifferential(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "..", "shared", "corpus", "bpf_conformance", "*.data"))
	for _, file := range files {
		tc, err := conformance.ParseFile(file)
		if err != nil {
			continue
		}
		if prog, err := tc.Program(); err == nil {
			f.Add(prog, uint64(0), uint64(0), uint8(0), true)
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 60 {
		insns := randomProgram(r, 1+r.IntN(40))
		if i%2 == 0 {
			insns = spreadMemory(r, insns)
		}
		f.Add(isa.Encode(insns), r.Uint64(), r.Uint64(), uint8(r.IntN(80)), i%2 == 0)
	}
	// budget, when not 0, runs both engines with that instruction budget; checked runs
	// them in checked mode, where memory operands are left as they are.
	f.Fuzz(func(t *testing.T, program []byte, r1, r2 uint64, budget uint8, checked bool) {
		insns, err := isa.Decode(program)
		if err != nil {
			return
		}
		prog, ok := sanitizeMode(insns, checked)
		if !ok {
			return
		}
		m := mode{budget: uint64(budget), checked: checked}
		if _, err := differ(prog, r1, r2, m); err != nil {
			t.Fatalf("%+v: %v\n%s", m, err, isa.Disassemble(prog, isa.SyntaxLLVM))
		}
	})
}

// asInt64 reinterprets a 64-bit constant as an instruction's signed constant.
func asInt64(v uint64) int64 { return int64(v) }
