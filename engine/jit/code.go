//go:build amd64 && linux

package jit

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/engine/internal/initcheck"
	"github.com/anybpf/anybpf/isa"
)

// Supported reports whether the JIT exists for this platform.
const Supported = true

// yieldInterval is how many instructions counting code runs between returns to the Go
// scheduler.
const yieldInterval = 1 << 22

// Code is a program compiled to native code. Its executable memory (see pool.go) is
// released by Close, or when the Code becomes unreachable.
type Code struct {
	text    *mapping
	base    uintptr // address of the code; the prologue starts there
	size    int     // bytes of code
	slots   []int32 // native offset of each slot, -1 where no instruction starts
	helpers []engine.HelperFunc
	byID    map[int32]engine.HelperFunc
	aux     []aux
	budget  uint64 // 0: no budget, no counting
	checked bool
}

// Compile validates and translates a program into native code.
func Compile(insns []isa.Instruction, cfg engine.Config) (*Code, error) {
	if err := isa.Validate(insns); err != nil {
		return nil, err
	}
	if cfg.Checked {
		if err := initcheck.Check(insns); err != nil {
			return nil, err
		}
	}
	c := &compiler{insns: insns, byID: cfg.Helpers, checked: cfg.Checked, counting: cfg.Checked || cfg.Budget != 0, maps: cfg.Maps, tailClass: cfg.TailClass + 1}
	c.tails, _ = cfg.Tails.(*TailTable)
	s := c.takeScratch()
	defer c.putScratch(s)
	c.offs, c.bySlot = isa.SlotIndexInto(insns, c.offs, c.bySlot)
	bySlot := c.bySlot
	if err := c.compile(); err != nil {
		return nil, err
	}
	code := &Code{helpers: c.helpers, byID: cfg.Helpers, aux: c.aux, budget: cfg.Budget, checked: cfg.Checked}
	if c.counting && code.budget == 0 {
		code.budget = ^uint64(0)
	}
	code.slots = make([]int32, len(bySlot)-1)
	for slot := range code.slots {
		code.slots[slot] = -1
		if bySlot[slot] >= 0 {
			code.slots[slot] = int32(c.a.labels[c.slotLabel(slot)])
		}
	}
	m, err := codePool.alloc(c.a.b)
	if err != nil {
		return nil, err
	}
	code.text = m
	code.size = len(c.a.b)
	code.base = uintptr(unsafe.Pointer(unsafe.SliceData(m.mem)))
	runtime.AddCleanup(code, (*mapping).free, code.text)
	return code, nil
}

// mapping is a program's executable memory: a block of the code pool, or pages of its
// own. It is freed once.
type mapping struct {
	mem []byte // the read-execute view
	// pooled is the block of pool p when class >= 0.
	p      *pool
	pooled block
	class  int
	used   int // bytes of the block the code took
	// closed is set, once, before the memory is freed.
	closed atomic.Bool
}

// liveMappings counts the mappings made (pool.alloc, mapOwn) and not yet freed, for
// tests.
var liveMappings atomic.Int64

func (m *mapping) free() {
	if !m.closed.CompareAndSwap(false, true) {
		return
	}
	if m.class >= 0 {
		m.p.put(m.pooled, m.class, m.used)
	} else {
		syscall.Munmap(m.mem)
	}
	liveMappings.Add(-1)
}

// Close releases the native code now instead of when the Code becomes unreachable.
// It must not be called while a run of the Code is in progress, nor while a tail-call
// table names it: its memory may hold another program's code afterwards. Runs started
// after it fail with ErrClosed.
func (c *Code) Close() error {
	c.text.free()
	return nil
}

// tailEntry returns the address a tail call within native code enters the program at,
// if it can: the code must be unchecked and without a budget, as its callers are.
func (c *Code) tailEntry() (uint64, bool) {
	if c == nil || c.checked || c.budget != 0 || c.text.closed.Load() {
		return 0, false
	}
	return uint64(c.base) + uint64(c.slots[0]), true
}

// Native returns a copy of the program's machine code and, for each 8-byte slot of the
// program, the offset in it of the slot's first native instruction, or -1 for the second
// slot of an lddw. The code before the first slot's offset is the entry sequence, and
// the code after the last instruction's is shared exit sequences. It returns nil after
// Close.
func (c *Code) Native() (text []byte, slots []int) {
	if c.text.closed.Load() {
		return nil, nil
	}
	slots = make([]int, len(c.slots))
	for i, o := range c.slots {
		slots[i] = int(o)
	}
	return append([]byte(nil), c.text.mem[:c.size]...), slots
}

// Run executes the program with r1 and r2 set and returns r0.
func (c *Code) Run(env *engine.Env, r1, r2 uint64) (uint64, error) {
	return c.run(env, 0, r1, r2, 0, 0, 0)
}

// RunAt executes the function starting at slot entry (a bpf_loop or for_each_map_elem
// callback) with r1..r5 set and returns its r0.
func (c *Code) RunAt(env *engine.Env, entry int, r1, r2, r3, r4, r5 uint64) (uint64, error) {
	if entry < 0 || entry >= len(c.slots) || c.slots[entry] < 0 {
		return 0, fmt.Errorf("%w: no function at slot %d", engine.ErrInvalidEntry, entry)
	}
	return c.run(env, entry, r1, r2, r3, r4, r5)
}

func (c *Code) run(env *engine.Env, entry int, r1, r2, r3, r4, r5 uint64) (uint64, error) {
	if c.text.closed.Load() {
		return 0, ErrClosed
	}
	stack := env.Stack()
	top := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(stack)))) + engine.StackSize
	var cx context
	cx.regs[1], cx.regs[2], cx.regs[3], cx.regs[4], cx.regs[5] = r1, r2, r3, r4, r5
	cx.regs[10] = top
	// budget is the run's: the first program's, as in the interpreter, unless only a
	// tail-called program counts.
	budget := c.budget
	cx.budget = min(budget, yieldInterval)
	if c.checked {
		cx.setRegions(env, top-engine.StackSize)
	}
	code := c
	cx.resume = uint64(code.base) + uint64(code.slots[entry])
	cx.stackTop = top
	cx.tails = env.TailCalls
	defer func() { env.Executed, env.TailCalls = cx.executed, cx.tails }()
	for {
		enter(&cx, code.base)
		if cx.tailed != 0 {
			// Native code tail called: what it exited from is the target's code.
			e := (*tailEntry)(ptrOf(cx.tailed))
			code, cx.tailed = e.code.Load(), 0
			env.Tailed = uint32(e.id.Load())
		}
		env.TailCalls = cx.tails
		switch cx.exit {
		case exitDone:
			runtime.KeepAlive(code)
			runtime.KeepAlive(stack)
			return cx.regs[0], nil
		case exitCheck:
			x := &code.aux[cx.arg]
			addr := cx.tmp
			if x.atomic && addr%uint64(x.size) != 0 || !env.Check(addr, uint64(x.size), x.write) {
				cx.executed += uint64(x.pending)
				return 0, &engine.RuntimeError{PC: x.slot, Err: engine.ErrMemoryAccess, Addr: addr, Size: x.size, Write: x.write}
			}
			continue
		case exitBudget:
			if cx.executed > budget {
				return 0, &engine.RuntimeError{PC: int(cx.arg), Err: fmt.Errorf("%w (%d)", engine.ErrBudgetExceeded, budget)}
			}
			// Only a point to yield at: let the scheduler and the collector in.
			runtime.Gosched()
			cx.budget = min(budget, cx.executed+yieldInterval)
			continue
		case exitHelper:
			cx.regs[0] = code.helpers[cx.arg](env, cx.regs[1], cx.regs[2], cx.regs[3], cx.regs[4], cx.regs[5])
		case exitCallX:
			x := &code.aux[cx.arg]
			id := int32(cx.regs[x.reg])
			fn := code.byID[id]
			if fn == nil {
				return 0, &engine.RuntimeError{PC: x.slot, Err: fmt.Errorf("%w: callx to helper %d", engine.ErrUnknownHelper, id)}
			}
			cx.regs[0] = fn(env, cx.regs[1], cx.regs[2], cx.regs[3], cx.regs[4], cx.regs[5])
		case exitLdAbs:
			x := &code.aux[cx.arg]
			off := int64(x.imm)
			if x.op&0xe0 == isa.ModeIND {
				off = int64(int32(uint32(cx.regs[x.reg]) + uint32(x.imm)))
			}
			v, ok := loadPacket(env.Packet, off, accessSize(x.op))
			if !ok {
				// Linux semantics: an out-of-bounds legacy packet load ends the program with 0.
				return 0, nil
			}
			cx.regs[0] = v
			continue
		case exitDepth:
			return 0, &engine.RuntimeError{PC: int(cx.arg), Err: fmt.Errorf("%w", engine.ErrCallDepth)}
		default:
			return 0, fmt.Errorf("jit: internal error: exit code %d", cx.exit)
		}
		cx.tails = env.TailCalls
		if env.Stopped() {
			if next, ok := env.TailTarget().(*Code); ok {
				// A tail call to JIT code: switch programs here, keeping r1 (the
				// context) and starting over on a fresh stack.
				env.TakeStop()
				env.TakeTailCall()
				runtime.KeepAlive(code)
				if next.text.closed.Load() {
					return 0, ErrClosed
				}
				code = next
				cx.depth = 0
				cx.regs[10] = top
				if budget == 0 && code.budget != 0 {
					budget = code.budget
					cx.budget = min(budget, cx.executed+yieldInterval)
				}
				if code.checked {
					cx.setRegions(env, top-engine.StackSize)
				}
				cx.resume = uint64(code.base) + uint64(code.slots[0])
				continue
			}
			runtime.KeepAlive(code)
			return env.TakeStop()
		}
	}
}

// ptrOf turns an address that native code stored into a pointer.
func ptrOf(addr uint64) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&addr)) }

func loadPacket(pkt []byte, off int64, size int) (uint64, bool) {
	if off < 0 || off+int64(size) > int64(len(pkt)) {
		return 0, false
	}
	switch size {
	case 1:
		return uint64(pkt[off]), true
	case 2:
		return uint64(binary.BigEndian.Uint16(pkt[off:])), true
	}
	return uint64(binary.BigEndian.Uint32(pkt[off:])), true
}
