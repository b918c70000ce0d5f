//go:build amd64 && linux

package jit

import (
	"fmt"
	"slices"
	"sync"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/isa"
)

// regMap assigns each eBPF register a host register. r6..r9 and r10 sit in registers
// that the division and shift sequences leave alone. r9 (host) points at the context;
// r10 and r11 (host) are scratch.
var regMap = [11]int{rax, rdi, rsi, rdx, rcx, r8, rbx, r13, r14, r15, r12}

// calleeSaved are the host registers of r6..r9 and r10, in frame order.
var calleeSaved = [5]int{rbx, r13, r14, r15, r12}

// aux describes an operation the Go side performs for native code.
type aux struct {
	slot int
	op   uint8 // opcode of a legacy packet load
	reg  int   // callx: register holding the helper id; LD_IND: index register
	imm  int32
	// A checked access: its size, kind, and the instructions executed in the current
	// block that are not counted yet (the access included).
	size          int
	write, atomic bool
	pending       int
}

type compiler struct {
	a       asm
	insns   []isa.Instruction
	offs    []int
	bySlot  []int
	exit    int // label of the shared exit sequence
	saveRet int // label of the sequence that stores the registers and returns to Go
	helpers []engine.HelperFunc
	ids     []helperRef // the entries of helpers that are a helper id's function
	byID    map[int32]engine.HelperFunc
	aux     []aux

	maps       func(uint64) (engine.MapInfo, bool)
	tails      *TailTable
	tailClass  uint32 // the class tail table entries of this program carry (TailClass+1)
	checked    bool   // check memory accesses
	counting   bool   // count instructions against a budget
	blockStart int    // first slot not yet counted
	targets    []bool // slots that jumps land on, when counting
	taken      []takenJump
}

// scratch is the compiler's working memory, kept between compilations so that a small
// program's compilation allocates little more than its Code.
type scratch struct {
	b      []byte
	labels []int
	fixups []fixup
	ids    []helperRef
	offs   []int
	bySlot []int
}

// helperRef says which entry of a program's helpers is helper id's function.
type helperRef struct {
	id  int32
	idx int
}

// maxScratch is the largest code buffer kept for the next compilation.
const maxScratch = 1 << 20

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// grow returns s with room for n elements.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, 0, n)
	}
	return s
}

// takeScratch gives the compiler the pool's working memory.
func (c *compiler) takeScratch() *scratch {
	s := scratchPool.Get().(*scratch)
	c.a.b, c.a.labels, c.a.fixups, c.ids = s.b, s.labels, s.fixups, s.ids[:0]
	c.offs, c.bySlot = s.offs, s.bySlot
	return s
}

// putScratch hands the working memory back, once the code has been copied out.
func (c *compiler) putScratch(s *scratch) {
	if cap(c.a.b) > maxScratch {
		return
	}
	s.b, s.labels, s.fixups, s.ids = c.a.b[:0], c.a.labels[:0], c.a.fixups[:0], c.ids[:0]
	s.offs, s.bySlot = c.offs[:0], c.bySlot[:0]
	c.a = asm{}
	scratchPool.Put(s)
}

// slotLabel returns the label of a slot; labels 0..total-1 are the slots.
func (c *compiler) slotLabel(slot int) int { return slot }

func (c *compiler) compile() error {
	total := len(c.bySlot) - 1
	a := &c.a
	a.b = grow(a.b[:0], 16*total+512)
	a.labels = grow(a.labels[:0], total+total/2+8)[:total]
	for i := range a.labels {
		a.labels[i] = -1
	}
	a.fixups = grow(a.fixups[:0], total+8)
	c.exit = a.newLabel()
	c.saveRet = a.newLabel()
	fixed := fixedCode()
	copy(a.room(len(fixed.prologue)), fixed.prologue)

	if c.counting {
		c.targets = jumpTargets(c.insns, c.offs, total)
	}
	// Fusing "if cond goto +1; goto L" into "if !cond goto L", as the interpreter does,
	// was tried: it made bench/programs/switch64 four times slower on AMD EPYC and
	// crc32 no faster, so jumps are translated one by one.
	for i, ins := range c.insns {
		slot := c.offs[i]
		if c.counting && c.targets[slot] {
			c.countTo(slot)
		}
		a.bind(c.slotLabel(slot))
		if err := c.translate(ins, slot); err != nil {
			return fmt.Errorf("slot %d (%s): %w", slot, ins, err)
		}
	}
	if c.counting {
		c.stubs()
	} else {
		// The stubs of code that does not count are the same for every program and
		// position-independent: copy them and bind their labels.
		off := len(a.b)
		copy(a.room(len(fixed.stubs)), fixed.stubs)
		a.labels[c.exit] = off + fixed.exit
		a.labels[c.saveRet] = off + fixed.saveRet
	}
	c.takenStubs()
	if !a.resolve() {
		return fmt.Errorf("jit: internal error: unbound label")
	}
	return nil
}

// fixed is the code every program that does not count instructions starts and ends
// with, assembled once: the entry sequence and the shared exit sequences, with the
// offsets of the exit and save-and-return labels in the latter.
type fixed struct {
	prologue, stubs []byte
	exit, saveRet   int
}

var fixedCode = sync.OnceValue(func() fixed {
	var p compiler
	p.prologue()
	var s compiler
	s.exit = s.a.newLabel()
	s.saveRet = s.a.newLabel()
	s.stubs()
	if !s.a.resolve() {
		panic("jit: internal error: unbound label in the exit sequences")
	}
	return fixed{prologue: p.a.b, stubs: s.a.b, exit: s.a.labels[s.exit], saveRet: s.a.labels[s.saveRet]}
})

// prologue emits the entry sequence: load the eBPF registers from the context and
// jump to the resume address.
func (c *compiler) prologue() {
	a := &c.a
	for i, r := range regMap {
		a.load(s64, r, at(r9, offRegs+int32(8*i)))
	}
	a.jmpMem(at(r9, offResume))
}

// stubs emits the shared sequences that end a function or return to Go.
func (c *compiler) stubs() {
	a := &c.a
	// Exit: return from a bpf-to-bpf call, or end the program.
	a.bind(c.exit)
	top := a.newLabel()
	a.load(s64, r11, at(r9, offDepth))
	a.testRR(s64, r11, r11)
	a.jcc(ccE, top)
	if c.counting {
		c.checkBudget(-1) // a return counts as a taken jump
		a.load(s64, r11, at(r9, offDepth))
	}
	a.aluRI(s64, aluSub, r11, 1)
	a.store(s64, at(r9, offDepth), r11)
	a.shiftRI(s64, shShl, r11, frameSizeLog)
	for i, r := range calleeSaved {
		a.load(s64, r, mem{base: r9, index: r11, scale: 1, disp: offFrames + int32(8*i)})
	}
	a.jmpMem(mem{base: r9, index: r11, scale: 1, disp: offFrames + offFrameRet})
	a.bind(top)
	a.storeImm(s64, at(r9, offExit), exitDone)
	a.store(s64, at(r9, offRegs), rax)
	a.ret()

	// Save every register and return to Go.
	a.bind(c.saveRet)
	for i, r := range regMap {
		a.store(s64, at(r9, offRegs+int32(8*i)), r)
	}
	a.ret()
}

// exitToGo emits a return to Go with an exit code and operand; Go enters native code
// again right after it.
func (c *compiler) exitToGo(code int32, arg int) {
	a := &c.a
	a.storeImm(s64, at(r9, offExit), code)
	a.storeImm(s64, at(r9, offArg), int32(arg))
	cont := a.newLabel()
	a.leaLabel(r11, cont)
	a.store(s64, at(r9, offResume), r11)
	a.jmp(c.saveRet)
	a.bind(cont)
}

func (c *compiler) translate(ins isa.Instruction, slot int) error {
	switch ins.Class() {
	case isa.ClassALU, isa.ClassALU64:
		return c.alu(ins)
	case isa.ClassJMP, isa.ClassJMP32:
		return c.jump(ins, slot)
	case isa.ClassLD:
		return c.ld(ins, slot)
	case isa.ClassLDX:
		return c.ldx(ins, slot)
	case isa.ClassST, isa.ClassSTX:
		return c.store(ins, slot)
	}
	return fmt.Errorf("%w: %#02x", isa.ErrInvalidOpcode, ins.OpCode)
}

// accessSize maps the size bits of a load or store opcode to bytes.
func accessSize(code uint8) int {
	switch code & 0x18 {
	case isa.SizeB:
		return s8
	case isa.SizeH:
		return s16
	case isa.SizeW:
		return s32
	}
	return s64
}

func (c *compiler) ld(ins isa.Instruction, slot int) error {
	if ins.IsLDDW() {
		if ins.Src != isa.Register(isa.PseudoNone) {
			return fmt.Errorf("%w: lddw with src %d must be resolved by the loader", engine.ErrUnresolved, ins.Src)
		}
		c.a.movRI(regMap[ins.Dst], uint64(ins.Constant))
		return nil
	}
	c.aux = append(c.aux, aux{slot: slot, op: ins.OpCode, reg: int(ins.Src), imm: ins.Imm()})
	c.countTo(slot + 1)
	c.exitToGo(exitLdAbs, len(c.aux)-1)
	return nil
}

func (c *compiler) ldx(ins isa.Instruction, slot int) error {
	dst := regMap[ins.Dst]
	size := accessSize(ins.OpCode)
	m := c.checkedAddress(slot, regMap[ins.Src], ins.Offset, size, false, false)
	if ins.OpCode&0xe0 == isa.ModeMEMSX {
		c.a.loadSX(size, dst, m)
	} else {
		c.a.load(size, dst, m)
	}
	return nil
}

func (c *compiler) store(ins isa.Instruction, slot int) error {
	a := &c.a
	dst := regMap[ins.Dst]
	size := accessSize(ins.OpCode)
	atomic := ins.Class() == isa.ClassSTX && ins.OpCode&0xe0 == isa.ModeATOMIC
	if !atomic {
		m := c.checkedAddress(slot, dst, ins.Offset, size, true, false)
		if ins.Class() == isa.ClassST {
			a.storeImm(size, m, ins.Imm())
		} else {
			a.store(size, m, regMap[ins.Src])
		}
		return nil
	}
	src := regMap[ins.Src]
	// The address goes to r11 first: dst may be rax, which cmpxchg uses.
	m := at(r11, 0)
	if c.checked {
		m = c.checkedAddress(slot, dst, ins.Offset, size, true, true)
	} else {
		a.lea(r11, at(dst, int32(ins.Offset)))
	}
	op := ins.Imm()
	var aluOp int
	switch op &^ isa.AtomicFetch {
	case isa.AtomicAdd:
		aluOp = aluAdd
	case isa.AtomicOr:
		aluOp = aluOr
	case isa.AtomicAnd:
		aluOp = aluAnd
	case isa.AtomicXor:
		aluOp = aluXor
	}
	switch {
	case op == isa.AtomicXchg:
		a.xchg(size, m, src)
	case op == isa.AtomicCmpXchg:
		a.cmpxchg(size, m, src)
		if size == s32 {
			a.movRR(s32, rax, rax) // a successful 32-bit cmpxchg leaves rax's upper half
		}
	case op&isa.AtomicFetch == 0:
		a.aluMR(size, aluOp, m, src, true)
	case op == isa.AtomicAdd|isa.AtomicFetch:
		a.xadd(size, m, src)
	default:
		// or, and, xor with fetch: a compare-and-exchange loop on rax.
		a.store(s64, at(r9, offTmp), rax)
		a.load(size, rax, m)
		loop := a.newLabel()
		a.bind(loop)
		a.movRR(s64, r10, rax)
		if src == rax {
			a.aluRM(size, aluOp, r10, at(r9, offTmp))
		} else {
			a.aluRR(size, aluOp, r10, src)
		}
		a.cmpxchg(size, m, r10)
		a.jcc(ccNE, loop)
		if src != rax {
			a.movRR(size, src, rax)
			a.load(s64, rax, at(r9, offTmp))
		}
	}
	return nil
}

// jumpCC maps a jump operation (opcode bits 4-7) to its condition code; 0 marks the
// operations that are not conditional jumps.
var jumpCC = [16]byte{
	isa.JmpJEQ >> 4: ccE, isa.JmpJNE >> 4: ccNE, isa.JmpJSET >> 4: ccNE,
	isa.JmpJGT >> 4: ccA, isa.JmpJGE >> 4: ccAE, isa.JmpJLT >> 4: ccB, isa.JmpJLE >> 4: ccBE,
	isa.JmpJSGT >> 4: ccG, isa.JmpJSGE >> 4: ccGE, isa.JmpJSLT >> 4: ccL, isa.JmpJSLE >> 4: ccLE,
}

func (c *compiler) jump(ins isa.Instruction, slot int) error {
	a := &c.a
	op := ins.OpCode & 0xf0
	target := slot + 1 + ins.JumpOffset()
	c.countTo(slot + 1)
	switch op {
	case isa.JmpJA:
		c.checkBudget(slot)
		a.jmp(c.slotLabel(target))
		return nil
	case isa.JmpExit:
		if c.counting {
			a.storeImm(s64, at(r9, offArg), int32(slot))
		}
		a.jmp(c.exit)
		return nil
	case isa.JmpCall:
		return c.call(ins, slot, target)
	}
	if jumpCC[op>>4] == 0 {
		return fmt.Errorf("%w: jump operation %#x", isa.ErrInvalidOpcode, op)
	}
	c.condJump(ins, c.jumpTo(slot, target))
	return nil
}

// condJump emits a conditional jump to label l.
func (c *compiler) condJump(ins isa.Instruction, l int) {
	a := &c.a
	op := ins.OpCode & 0xf0
	cc := jumpCC[op>>4]
	size := s64
	if ins.Class() == isa.ClassJMP32 {
		size = s32
	}
	dst := regMap[ins.Dst]
	switch {
	case ins.OpCode&isa.SrcX != 0 && op == isa.JmpJSET:
		a.testRR(size, dst, regMap[ins.Src])
	case ins.OpCode&isa.SrcX != 0:
		a.aluRR(size, aluCmp, dst, regMap[ins.Src])
	case op == isa.JmpJSET:
		a.testRI(size, dst, ins.Imm())
	case ins.Imm() == 0:
		a.testRR(size, dst, dst)
	default:
		a.aluRI(size, aluCmp, dst, ins.Imm())
	}
	a.jcc(cc, l)
}

func (c *compiler) call(ins isa.Instruction, slot, target int) error {
	a := &c.a
	if ins.OpCode == isa.OpCallX {
		c.aux = append(c.aux, aux{slot: slot, reg: int(ins.Dst)})
		c.exitToGo(exitCallX, len(c.aux)-1)
		return nil
	}
	switch uint8(ins.Src) {
	case isa.CallHelper:
		id := ins.Imm()
		fn, ok := c.byID[id]
		if !ok || fn == nil {
			return fmt.Errorf("%w: helper %d", engine.ErrUnknownHelper, id)
		}
		if c.specialised(id, slot) {
			return nil
		}
		i := slices.IndexFunc(c.ids, func(r helperRef) bool { return r.id == id })
		var idx int
		if i >= 0 {
			idx = c.ids[i].idx
		} else {
			idx = len(c.helpers)
			c.ids = append(c.ids, helperRef{id, idx})
			c.helpers = append(c.helpers, fn)
		}
		c.exitToGo(exitHelper, idx)
		return nil
	case isa.CallLocal:
		ok := a.newLabel()
		a.load(s64, r11, at(r9, offDepth))
		a.aluRI(s64, aluCmp, r11, engine.MaxCallDepth-1)
		a.jcc(ccB, ok)
		a.storeImm(s64, at(r9, offExit), exitDepth)
		a.storeImm(s64, at(r9, offArg), int32(slot))
		a.jmp(c.saveRet)
		a.bind(ok)
		a.lea(r10, at(r11, 1))
		a.store(s64, at(r9, offDepth), r10)
		a.shiftRI(s64, shShl, r11, frameSizeLog)
		for i, r := range calleeSaved {
			a.store(s64, mem{base: r9, index: r11, scale: 1, disp: offFrames + int32(8*i)}, r)
		}
		ret := a.newLabel()
		a.leaLabel(r10, ret)
		a.store(s64, mem{base: r9, index: r11, scale: 1, disp: offFrames + offFrameRet}, r10)
		a.aluRI(s64, aluSub, r12, engine.StackFrameSize)
		c.checkBudget(slot)
		a.jmp(c.slotLabel(target))
		a.bind(ret)
		return nil
	}
	return fmt.Errorf("%w: kfunc call (BTF id %d)", engine.ErrUnknownHelper, ins.Imm())
}
