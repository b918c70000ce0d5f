package interp

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"sync/atomic"
	"unsafe"

	"github.com/anybpf/anybpf/engine"
)

// ptr turns an address held in an eBPF register into a pointer without a uintptr
// conversion, so that the race detector's pointer checks do not reject it. The memory
// behind it belongs to the runtime and stays reachable while the program runs.
func ptr(addr uint64) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(&addr))
}

type frame struct {
	ret        int
	blockStart int
	saved      [4]uint64 // r6..r9
	fp         uint64
}

// state is the part of a run that the dispatch loop touches rarely. Keeping it in one
// struct keeps it in memory, so that the loop's few hot variables stay in registers.
type state struct {
	stackBase uint64
	// The hot region gets an inline bounds check in checked mode: the first registered
	// region if it is at least 8 bytes, else the stack again; hotW* is its writable twin.
	hotBase, hotSize   uint64
	hotWBase, hotWSize uint64
	budget             uint64
	counting           bool   // count instructions: checked mode or a budget
	executed           uint64 // instructions executed before blockStart
	blockStart, from   int    // start of the current block; source of the last jump
	depth              int
	frames             [engine.MaxCallDepth]frame
	fault              engine.RuntimeError
	env                *engine.Env
	code               *Code
	// pc and base are saved here around calls, so that the loop's copies need not
	// live across them.
	pc   int
	base unsafe.Pointer
}

// Run executes the program with r1 and r2 set and returns r0.
func (c *Code) Run(env *engine.Env, r1, r2 uint64) (uint64, error) {
	return c.run(env, 0, r1, r2, 0, 0, 0)
}

// RunAt executes the function starting at slot entry (a bpf_loop or for_each_map_elem
// callback) with r1..r5 set and returns its r0.
func (c *Code) RunAt(env *engine.Env, entry int, r1, r2, r3, r4, r5 uint64) (uint64, error) {
	if entry < 0 || entry >= len(c.insns) || c.insns[entry].op == opInvalid {
		return 0, fmt.Errorf("%w: no function at slot %d", engine.ErrInvalidEntry, entry)
	}
	return c.run(env, entry, r1, r2, r3, r4, r5)
}

func (c *Code) run(env *engine.Env, entry int, r1, r2, r3, r4, r5 uint64) (uint64, error) {
	var s state
	stack := env.Stack()
	s.stackBase = uint64(uintptr(unsafe.Pointer(unsafe.SliceData(stack))))
	s.hotBase, s.hotSize = s.stackBase, engine.StackSize
	s.hotWBase, s.hotWSize = s.stackBase, engine.StackSize
	if rs := env.Regions(); len(rs) > 0 && rs[0].Size >= 8 {
		s.hotBase, s.hotSize = uint64(rs[0].Addr), uint64(rs[0].Size)
		if rs[0].Writable {
			s.hotWBase, s.hotWSize = s.hotBase, s.hotSize
		}
	}
	s.budget = c.budget
	s.counting = c.counting
	s.env, s.code = env, c

	var regs [16]uint64
	regs[1], regs[2], regs[3], regs[4], regs[5] = r1, r2, r3, r4, r5
	regs[10] = s.stackBase + engine.StackSize

	base := unsafe.Pointer(unsafe.SliceData(c.insns))
	s.base = base
	pc := entry
	s.blockStart = entry

	for {
		in := (*inst)(unsafe.Add(base, uintptr(pc)*unsafe.Sizeof(inst{})))
		pc++
		switch in.op {
		case opAdd64K:
			regs[in.dst&15] += in.imm
		case opAdd64X:
			regs[in.dst&15] += regs[in.src&15]
		case opAdd32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) + uint32(in.imm))
		case opAdd32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) + uint32(regs[in.src&15]))
		case opSub64K:
			regs[in.dst&15] -= in.imm
		case opSub64X:
			regs[in.dst&15] -= regs[in.src&15]
		case opSub32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) - uint32(in.imm))
		case opSub32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) - uint32(regs[in.src&15]))
		case opMul64K:
			regs[in.dst&15] *= in.imm
		case opMul64X:
			regs[in.dst&15] *= regs[in.src&15]
		case opMul32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) * uint32(in.imm))
		case opMul32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) * uint32(regs[in.src&15]))
		case opOr64K:
			regs[in.dst&15] |= in.imm
		case opOr64X:
			regs[in.dst&15] |= regs[in.src&15]
		case opOr32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) | uint32(in.imm))
		case opOr32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) | uint32(regs[in.src&15]))
		case opAnd64K:
			regs[in.dst&15] &= in.imm
		case opAnd64X:
			regs[in.dst&15] &= regs[in.src&15]
		case opAnd32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) & uint32(in.imm))
		case opAnd32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) & uint32(regs[in.src&15]))
		case opXor64K:
			regs[in.dst&15] ^= in.imm
		case opXor64X:
			regs[in.dst&15] ^= regs[in.src&15]
		case opXor32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) ^ uint32(in.imm))
		case opXor32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) ^ uint32(regs[in.src&15]))
		case opLsh64K:
			regs[in.dst&15] <<= in.imm
		case opLsh64X:
			regs[in.dst&15] <<= regs[in.src&15] & 63
		case opLsh32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) << in.imm)
		case opLsh32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) << (regs[in.src&15] & 31))
		case opRsh64K:
			regs[in.dst&15] >>= in.imm
		case opRsh64X:
			regs[in.dst&15] >>= regs[in.src&15] & 63
		case opRsh32K:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) >> in.imm)
		case opRsh32X:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) >> (regs[in.src&15] & 31))
		case opArsh64K:
			regs[in.dst&15] = uint64(int64(regs[in.dst&15]) >> in.imm)
		case opArsh64X:
			regs[in.dst&15] = uint64(int64(regs[in.dst&15]) >> (regs[in.src&15] & 63))
		case opArsh32K:
			regs[in.dst&15] = uint64(uint32(int32(regs[in.dst&15]) >> in.imm))
		case opArsh32X:
			regs[in.dst&15] = uint64(uint32(int32(regs[in.dst&15]) >> (regs[in.src&15] & 31)))
		case opMov64K:
			regs[in.dst&15] = in.imm
		case opMov64X:
			regs[in.dst&15] = regs[in.src&15]
		case opMov32K:
			regs[in.dst&15] = in.imm
		case opMov32X:
			regs[in.dst&15] = uint64(uint32(regs[in.src&15]))
		case opDiv64K:
			if d := in.imm; d != 0 {
				regs[in.dst&15] /= d
			} else {
				regs[in.dst&15] = 0
			}
		case opDiv32K:
			if d := uint32(in.imm); d != 0 {
				regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) / d)
			} else {
				regs[in.dst&15] = 0
			}
		case opSDiv64K:
			if d := int64(in.imm); d != 0 {
				regs[in.dst&15] = uint64(int64(regs[in.dst&15]) / d)
			} else {
				regs[in.dst&15] = 0
			}
		case opSDiv32K:
			if d := int32(uint32(in.imm)); d != 0 {
				regs[in.dst&15] = uint64(uint32(int32(regs[in.dst&15]) / d))
			} else {
				regs[in.dst&15] = 0
			}
		case opMod64K:
			if d := in.imm; d != 0 {
				regs[in.dst&15] %= d
			}
		case opMod32K:
			if d := uint32(in.imm); d != 0 {
				regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) % d)
			} else {
				regs[in.dst&15] = uint64(uint32(regs[in.dst&15]))
			}
		case opSMod64K:
			if d := int64(in.imm); d != 0 {
				regs[in.dst&15] = uint64(int64(regs[in.dst&15]) % d)
			}
		case opSMod32K:
			if d := int32(uint32(in.imm)); d != 0 {
				regs[in.dst&15] = uint64(uint32(int32(regs[in.dst&15]) % d))
			} else {
				regs[in.dst&15] = uint64(uint32(regs[in.dst&15]))
			}
		case opDiv64X:
			if d := regs[in.src&15]; d != 0 {
				regs[in.dst&15] /= d
			} else {
				regs[in.dst&15] = 0
			}
		case opDiv32X:
			if d := uint32(regs[in.src&15]); d != 0 {
				regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) / d)
			} else {
				regs[in.dst&15] = 0
			}
		case opSDiv64X:
			if d := int64(regs[in.src&15]); d != 0 {
				regs[in.dst&15] = uint64(int64(regs[in.dst&15]) / d)
			} else {
				regs[in.dst&15] = 0
			}
		case opSDiv32X:
			if d := int32(uint32(regs[in.src&15])); d != 0 {
				regs[in.dst&15] = uint64(uint32(int32(regs[in.dst&15]) / d))
			} else {
				regs[in.dst&15] = 0
			}
		case opMod64X:
			if d := regs[in.src&15]; d != 0 {
				regs[in.dst&15] %= d
			}
		case opMod32X:
			if d := uint32(regs[in.src&15]); d != 0 {
				regs[in.dst&15] = uint64(uint32(regs[in.dst&15]) % d)
			} else {
				regs[in.dst&15] = uint64(uint32(regs[in.dst&15]))
			}
		case opSMod64X:
			if d := int64(regs[in.src&15]); d != 0 {
				regs[in.dst&15] = uint64(int64(regs[in.dst&15]) % d)
			}
		case opSMod32X:
			if d := int32(uint32(regs[in.src&15])); d != 0 {
				regs[in.dst&15] = uint64(uint32(int32(regs[in.dst&15]) % d))
			} else {
				regs[in.dst&15] = uint64(uint32(regs[in.dst&15]))
			}
		case opNeg64:
			regs[in.dst&15] = -regs[in.dst&15]
		case opNeg32:
			regs[in.dst&15] = uint64(-uint32(regs[in.dst&15]))
		case opMovSX8to64:
			regs[in.dst&15] = uint64(int64(int8(regs[in.src&15])))
		case opMovSX16to64:
			regs[in.dst&15] = uint64(int64(int16(regs[in.src&15])))
		case opMovSX32to64:
			regs[in.dst&15] = uint64(int64(int32(regs[in.src&15])))
		case opMovSX8to32:
			regs[in.dst&15] = uint64(uint32(int32(int8(regs[in.src&15]))))
		case opMovSX16to32:
			regs[in.dst&15] = uint64(uint32(int32(int16(regs[in.src&15]))))
		case opSwap16:
			regs[in.dst&15] = swap16(regs[in.dst&15])
		case opSwap32:
			regs[in.dst&15] = swap32(regs[in.dst&15])
		case opSwap64:
			regs[in.dst&15] = bits.ReverseBytes64(regs[in.dst&15])
		case opZext16:
			regs[in.dst&15] = uint64(uint16(regs[in.dst&15]))
		case opZext32:
			regs[in.dst&15] = uint64(uint32(regs[in.dst&15]))
		case opNop:

		case opJEQ64K:
			if regs[in.dst&15] == in.imm {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJEQ64X:
			if regs[in.dst&15] == regs[in.src&15] {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJEQ32K:
			if uint32(regs[in.dst&15]) == uint32(in.imm) {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJEQ32X:
			if uint32(regs[in.dst&15]) == uint32(regs[in.src&15]) {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJNE64K:
			if regs[in.dst&15] != in.imm {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJNE64X:
			if regs[in.dst&15] != regs[in.src&15] {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJNE32K:
			if uint32(regs[in.dst&15]) != uint32(in.imm) {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJNE32X:
			if uint32(regs[in.dst&15]) != uint32(regs[in.src&15]) {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJGT64K:
			if regs[in.dst&15] > in.imm {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJGT64X:
			if regs[in.dst&15] > regs[in.src&15] {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJGT32K:
			if uint32(regs[in.dst&15]) > uint32(in.imm) {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJGT32X:
			if uint32(regs[in.dst&15]) > uint32(regs[in.src&15]) {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJGE64K:
			if regs[in.dst&15] >= in.imm {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJGE64X:
			if regs[in.dst&15] >= regs[in.src&15] {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJGE32K:
			if uint32(regs[in.dst&15]) >= uint32(in.imm) {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJGE32X:
			if uint32(regs[in.dst&15]) >= uint32(regs[in.src&15]) {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJLT64K:
			if regs[in.dst&15] < in.imm {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJLT64X:
			if regs[in.dst&15] < regs[in.src&15] {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJLT32K:
			if uint32(regs[in.dst&15]) < uint32(in.imm) {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJLT32X:
			if uint32(regs[in.dst&15]) < uint32(regs[in.src&15]) {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJLE64K:
			if regs[in.dst&15] <= in.imm {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJLE64X:
			if regs[in.dst&15] <= regs[in.src&15] {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJLE32K:
			if uint32(regs[in.dst&15]) <= uint32(in.imm) {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJLE32X:
			if uint32(regs[in.dst&15]) <= uint32(regs[in.src&15]) {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJSGT64K:
			if int64(regs[in.dst&15]) > int64(in.imm) {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJSGT64X:
			if int64(regs[in.dst&15]) > int64(regs[in.src&15]) {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJSGT32K:
			if int32(regs[in.dst&15]) > int32(in.imm) {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJSGT32X:
			if int32(regs[in.dst&15]) > int32(regs[in.src&15]) {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJSGE64K:
			if int64(regs[in.dst&15]) >= int64(in.imm) {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJSGE64X:
			if int64(regs[in.dst&15]) >= int64(regs[in.src&15]) {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJSGE32K:
			if int32(regs[in.dst&15]) >= int32(in.imm) {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJSGE32X:
			if int32(regs[in.dst&15]) >= int32(regs[in.src&15]) {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJSLT64K:
			if int64(regs[in.dst&15]) < int64(in.imm) {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJSLT64X:
			if int64(regs[in.dst&15]) < int64(regs[in.src&15]) {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJSLT32K:
			if int32(regs[in.dst&15]) < int32(in.imm) {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJSLT32X:
			if int32(regs[in.dst&15]) < int32(regs[in.src&15]) {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJSLE64K:
			if int64(regs[in.dst&15]) <= int64(in.imm) {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJSLE64X:
			if int64(regs[in.dst&15]) <= int64(regs[in.src&15]) {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJSLE32K:
			if int32(regs[in.dst&15]) <= int32(in.imm) {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJSLE32X:
			if int32(regs[in.dst&15]) <= int32(regs[in.src&15]) {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJSET64K:
			if regs[in.dst&15]&in.imm != 0 {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJSET64X:
			if regs[in.dst&15]&regs[in.src&15] != 0 {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJSET32K:
			if uint32(regs[in.dst&15])&uint32(in.imm) != 0 {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opJSET32X:
			if uint32(regs[in.dst&15])&uint32(regs[in.src&15]) != 0 {
				s.from = pc
				pc = int(in.off)
				goto jump
			}
		case opAdd64K3:
			regs[in.dst&15] = regs[in.a&15] + in.imm
			pc++
		case opAdd64X3:
			regs[in.dst&15] = regs[in.a&15] + regs[in.src&15]
			pc++
		case opAdd32K3:
			regs[in.dst&15] = uint64(uint32(regs[in.a&15]) + uint32(in.imm))
			pc++
		case opAdd32X3:
			regs[in.dst&15] = uint64(uint32(regs[in.a&15]) + uint32(regs[in.src&15]))
			pc++
		case opSub64K3:
			regs[in.dst&15] = regs[in.a&15] - in.imm
			pc++
		case opSub64X3:
			regs[in.dst&15] = regs[in.a&15] - regs[in.src&15]
			pc++
		case opSub32K3:
			regs[in.dst&15] = uint64(uint32(regs[in.a&15]) - uint32(in.imm))
			pc++
		case opSub32X3:
			regs[in.dst&15] = uint64(uint32(regs[in.a&15]) - uint32(regs[in.src&15]))
			pc++
		case opMul64K3:
			regs[in.dst&15] = regs[in.a&15] * in.imm
			pc++
		case opMul64X3:
			regs[in.dst&15] = regs[in.a&15] * regs[in.src&15]
			pc++
		case opMul32K3:
			regs[in.dst&15] = uint64(uint32(regs[in.a&15]) * uint32(in.imm))
			pc++
		case opMul32X3:
			regs[in.dst&15] = uint64(uint32(regs[in.a&15]) * uint32(regs[in.src&15]))
			pc++
		case opOr64K3:
			regs[in.dst&15] = regs[in.a&15] | in.imm
			pc++
		case opOr64X3:
			regs[in.dst&15] = regs[in.a&15] | regs[in.src&15]
			pc++
		case opOr32K3:
			regs[in.dst&15] = uint64(uint32(regs[in.a&15]) | uint32(in.imm))
			pc++
		case opOr32X3:
			regs[in.dst&15] = uint64(uint32(regs[in.a&15]) | uint32(regs[in.src&15]))
			pc++
		case opAnd64K3:
			regs[in.dst&15] = regs[in.a&15] & in.imm
			pc++
		case opAnd64X3:
			regs[in.dst&15] = regs[in.a&15] & regs[in.src&15]
			pc++
		case opAnd32K3:
			regs[in.dst&15] = uint64(uint32(regs[in.a&15]) & uint32(in.imm))
			pc++
		case opAnd32X3:
			regs[in.dst&15] = uint64(uint32(regs[in.a&15]) & uint32(regs[in.src&15]))
			pc++
		case opLsh64K3:
			regs[in.dst&15] = regs[in.a&15] << in.imm
			pc++
		case opLsh64X3:
			regs[in.dst&15] = regs[in.a&15] << (regs[in.src&15] & 63)
			pc++
		case opLsh32K3:
			regs[in.dst&15] = uint64(uint32(regs[in.a&15]) << in.imm)
			pc++
		case opLsh32X3:
			regs[in.dst&15] = uint64(uint32(regs[in.a&15]) << (regs[in.src&15] & 31))
			pc++
		case opRsh64K3:
			regs[in.dst&15] = regs[in.a&15] >> in.imm
			pc++
		case opRsh64X3:
			regs[in.dst&15] = regs[in.a&15] >> (regs[in.src&15] & 63)
			pc++
		case opRsh32K3:
			regs[in.dst&15] = uint64(uint32(regs[in.a&15]) >> in.imm)
			pc++
		case opRsh32X3:
			regs[in.dst&15] = uint64(uint32(regs[in.a&15]) >> (regs[in.src&15] & 31))
			pc++
		case opXor64K3:
			regs[in.dst&15] = regs[in.a&15] ^ in.imm
			pc++
		case opXor64X3:
			regs[in.dst&15] = regs[in.a&15] ^ regs[in.src&15]
			pc++
		case opXor32K3:
			regs[in.dst&15] = uint64(uint32(regs[in.a&15]) ^ uint32(in.imm))
			pc++
		case opXor32X3:
			regs[in.dst&15] = uint64(uint32(regs[in.a&15]) ^ uint32(regs[in.src&15]))
			pc++
		case opArsh64K3:
			regs[in.dst&15] = uint64(int64(regs[in.a&15]) >> in.imm)
			pc++
		case opArsh64X3:
			regs[in.dst&15] = uint64(int64(regs[in.a&15]) >> (regs[in.src&15] & 63))
			pc++
		case opArsh32K3:
			regs[in.dst&15] = uint64(uint32(int32(regs[in.a&15]) >> in.imm))
			pc++
		case opArsh32X3:
			regs[in.dst&15] = uint64(uint32(int32(regs[in.a&15]) >> (regs[in.src&15] & 31)))
			pc++
		case opDiv64K3:
			if d := in.imm; d != 0 {
				regs[in.dst&15] = regs[in.a&15] / d
			} else {
				regs[in.dst&15] = 0
			}
			pc++
		case opDiv64X3:
			if d := regs[in.src&15]; d != 0 {
				regs[in.dst&15] = regs[in.a&15] / d
			} else {
				regs[in.dst&15] = 0
			}
			pc++
		case opDiv32K3:
			if d := uint32(in.imm); d != 0 {
				regs[in.dst&15] = uint64(uint32(regs[in.a&15]) / d)
			} else {
				regs[in.dst&15] = 0
			}
			pc++
		case opDiv32X3:
			if d := uint32(regs[in.src&15]); d != 0 {
				regs[in.dst&15] = uint64(uint32(regs[in.a&15]) / d)
			} else {
				regs[in.dst&15] = 0
			}
			pc++
		case opSDiv64K3:
			if d := int64(in.imm); d != 0 {
				regs[in.dst&15] = uint64(int64(regs[in.a&15]) / d)
			} else {
				regs[in.dst&15] = 0
			}
			pc++
		case opSDiv64X3:
			if d := int64(regs[in.src&15]); d != 0 {
				regs[in.dst&15] = uint64(int64(regs[in.a&15]) / d)
			} else {
				regs[in.dst&15] = 0
			}
			pc++
		case opSDiv32K3:
			if d := int32(uint32(in.imm)); d != 0 {
				regs[in.dst&15] = uint64(uint32(int32(regs[in.a&15]) / d))
			} else {
				regs[in.dst&15] = 0
			}
			pc++
		case opSDiv32X3:
			if d := int32(uint32(regs[in.src&15])); d != 0 {
				regs[in.dst&15] = uint64(uint32(int32(regs[in.a&15]) / d))
			} else {
				regs[in.dst&15] = 0
			}
			pc++
		case opMod64K3:
			if d := in.imm; d != 0 {
				regs[in.dst&15] = regs[in.a&15] % d
			} else {
				regs[in.dst&15] = regs[in.a&15]
			}
			pc++
		case opMod64X3:
			if d := regs[in.src&15]; d != 0 {
				regs[in.dst&15] = regs[in.a&15] % d
			} else {
				regs[in.dst&15] = regs[in.a&15]
			}
			pc++
		case opMod32K3:
			if d := uint32(in.imm); d != 0 {
				regs[in.dst&15] = uint64(uint32(regs[in.a&15]) % d)
			} else {
				regs[in.dst&15] = uint64(uint32(regs[in.a&15]))
			}
			pc++
		case opMod32X3:
			if d := uint32(regs[in.src&15]); d != 0 {
				regs[in.dst&15] = uint64(uint32(regs[in.a&15]) % d)
			} else {
				regs[in.dst&15] = uint64(uint32(regs[in.a&15]))
			}
			pc++
		case opSMod64K3:
			if d := int64(in.imm); d != 0 {
				regs[in.dst&15] = uint64(int64(regs[in.a&15]) % d)
			} else {
				regs[in.dst&15] = regs[in.a&15]
			}
			pc++
		case opSMod64X3:
			if d := int64(regs[in.src&15]); d != 0 {
				regs[in.dst&15] = uint64(int64(regs[in.a&15]) % d)
			} else {
				regs[in.dst&15] = regs[in.a&15]
			}
			pc++
		case opSMod32K3:
			if d := int32(uint32(in.imm)); d != 0 {
				regs[in.dst&15] = uint64(uint32(int32(regs[in.a&15]) % d))
			} else {
				regs[in.dst&15] = uint64(uint32(regs[in.a&15]))
			}
			pc++
		case opSMod32X3:
			if d := int32(uint32(regs[in.src&15])); d != 0 {
				regs[in.dst&15] = uint64(uint32(int32(regs[in.a&15]) % d))
			} else {
				regs[in.dst&15] = uint64(uint32(regs[in.a&15]))
			}
			pc++
		case opJEQ64KJA:
			if regs[in.dst&15] == in.imm {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJEQ64XJA:
			if regs[in.dst&15] == regs[in.src&15] {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJEQ32KJA:
			if uint32(regs[in.dst&15]) == uint32(in.imm) {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJEQ32XJA:
			if uint32(regs[in.dst&15]) == uint32(regs[in.src&15]) {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJGT64KJA:
			if regs[in.dst&15] > in.imm {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJGT64XJA:
			if regs[in.dst&15] > regs[in.src&15] {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJGT32KJA:
			if uint32(regs[in.dst&15]) > uint32(in.imm) {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJGT32XJA:
			if uint32(regs[in.dst&15]) > uint32(regs[in.src&15]) {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJGE64KJA:
			if regs[in.dst&15] >= in.imm {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJGE64XJA:
			if regs[in.dst&15] >= regs[in.src&15] {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJGE32KJA:
			if uint32(regs[in.dst&15]) >= uint32(in.imm) {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJGE32XJA:
			if uint32(regs[in.dst&15]) >= uint32(regs[in.src&15]) {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJSET64KJA:
			if regs[in.dst&15]&in.imm != 0 {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJSET64XJA:
			if regs[in.dst&15]&regs[in.src&15] != 0 {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJSET32KJA:
			if uint32(regs[in.dst&15])&uint32(in.imm) != 0 {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJSET32XJA:
			if uint32(regs[in.dst&15])&uint32(regs[in.src&15]) != 0 {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJNE64KJA:
			if regs[in.dst&15] != in.imm {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJNE64XJA:
			if regs[in.dst&15] != regs[in.src&15] {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJNE32KJA:
			if uint32(regs[in.dst&15]) != uint32(in.imm) {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJNE32XJA:
			if uint32(regs[in.dst&15]) != uint32(regs[in.src&15]) {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJSGT64KJA:
			if int64(regs[in.dst&15]) > int64(in.imm) {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJSGT64XJA:
			if int64(regs[in.dst&15]) > int64(regs[in.src&15]) {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJSGT32KJA:
			if int32(regs[in.dst&15]) > int32(in.imm) {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJSGT32XJA:
			if int32(regs[in.dst&15]) > int32(regs[in.src&15]) {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJSGE64KJA:
			if int64(regs[in.dst&15]) >= int64(in.imm) {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJSGE64XJA:
			if int64(regs[in.dst&15]) >= int64(regs[in.src&15]) {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJSGE32KJA:
			if int32(regs[in.dst&15]) >= int32(in.imm) {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJSGE32XJA:
			if int32(regs[in.dst&15]) >= int32(regs[in.src&15]) {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJLT64KJA:
			if regs[in.dst&15] < in.imm {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJLT64XJA:
			if regs[in.dst&15] < regs[in.src&15] {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJLT32KJA:
			if uint32(regs[in.dst&15]) < uint32(in.imm) {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJLT32XJA:
			if uint32(regs[in.dst&15]) < uint32(regs[in.src&15]) {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJLE64KJA:
			if regs[in.dst&15] <= in.imm {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJLE64XJA:
			if regs[in.dst&15] <= regs[in.src&15] {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJLE32KJA:
			if uint32(regs[in.dst&15]) <= uint32(in.imm) {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJLE32XJA:
			if uint32(regs[in.dst&15]) <= uint32(regs[in.src&15]) {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJSLT64KJA:
			if int64(regs[in.dst&15]) < int64(in.imm) {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJSLT64XJA:
			if int64(regs[in.dst&15]) < int64(regs[in.src&15]) {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJSLT32KJA:
			if int32(regs[in.dst&15]) < int32(in.imm) {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJSLT32XJA:
			if int32(regs[in.dst&15]) < int32(regs[in.src&15]) {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJSLE64KJA:
			if int64(regs[in.dst&15]) <= int64(in.imm) {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJSLE64XJA:
			if int64(regs[in.dst&15]) <= int64(regs[in.src&15]) {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJSLE32KJA:
			if int32(regs[in.dst&15]) <= int32(in.imm) {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJSLE32XJA:
			if int32(regs[in.dst&15]) <= int32(regs[in.src&15]) {
				s.from = pc
				pc++
			} else {
				s.from = pc + 1
				pc = int(in.off)
			}
			goto jump
		case opJA:
			s.from = pc
			pc = int(in.off)
			goto jump
		case opLDDW:
			regs[in.dst&15] = in.imm
			pc++

		// Unchecked memory access: the program was verified.
		case opLdxB:
			regs[in.dst&15] = uint64(*(*uint8)(ptr(regs[in.src&15] + in.imm)))
		case opLdxH:
			regs[in.dst&15] = uint64(*(*uint16)(ptr(regs[in.src&15] + in.imm)))
		case opLdxW:
			regs[in.dst&15] = uint64(*(*uint32)(ptr(regs[in.src&15] + in.imm)))
		case opLdxDW:
			regs[in.dst&15] = *(*uint64)(ptr(regs[in.src&15] + in.imm))
		case opLdxSB:
			regs[in.dst&15] = uint64(int64(*(*int8)(ptr(regs[in.src&15] + in.imm))))
		case opLdxSH:
			regs[in.dst&15] = uint64(int64(*(*int16)(ptr(regs[in.src&15] + in.imm))))
		case opLdxSW:
			regs[in.dst&15] = uint64(int64(*(*int32)(ptr(regs[in.src&15] + in.imm))))
		case opStB:
			*(*uint8)(ptr(regs[in.dst&15] + uint64(int64(in.off)))) = uint8(in.imm)
		case opStH:
			*(*uint16)(ptr(regs[in.dst&15] + uint64(int64(in.off)))) = uint16(in.imm)
		case opStW:
			*(*uint32)(ptr(regs[in.dst&15] + uint64(int64(in.off)))) = uint32(in.imm)
		case opStDW:
			*(*uint64)(ptr(regs[in.dst&15] + uint64(int64(in.off)))) = in.imm
		case opStxB:
			*(*uint8)(ptr(regs[in.dst&15] + in.imm)) = uint8(regs[in.src&15])
		case opStxH:
			*(*uint16)(ptr(regs[in.dst&15] + in.imm)) = uint16(regs[in.src&15])
		case opStxW:
			*(*uint32)(ptr(regs[in.dst&15] + in.imm)) = uint32(regs[in.src&15])
		case opStxDW:
			*(*uint64)(ptr(regs[in.dst&15] + in.imm)) = regs[in.src&15]

		// Checked memory access: the stack and the hot region inline, the rest in Env.Check.
		case opLdxBChecked:
			d := in.dst & 15
			a := regs[in.src&15] + in.imm
			if a-s.stackBase > engine.StackSize-1 && a-s.hotBase > s.hotSize-1 {
				s.pc = pc
				ok := s.env.Check(a, 1, false)
				pc, base = s.pc, s.base
				if !ok {
					s.fault = engine.RuntimeError{Addr: a, Size: 1}
					goto memFault
				}
			}
			regs[d] = uint64(*(*uint8)(ptr(a)))
		case opLdxHChecked:
			d := in.dst & 15
			a := regs[in.src&15] + in.imm
			if a-s.stackBase > engine.StackSize-2 && a-s.hotBase > s.hotSize-2 {
				s.pc = pc
				ok := s.env.Check(a, 2, false)
				pc, base = s.pc, s.base
				if !ok {
					s.fault = engine.RuntimeError{Addr: a, Size: 2}
					goto memFault
				}
			}
			regs[d] = uint64(*(*uint16)(ptr(a)))
		case opLdxWChecked:
			d := in.dst & 15
			a := regs[in.src&15] + in.imm
			if a-s.stackBase > engine.StackSize-4 && a-s.hotBase > s.hotSize-4 {
				s.pc = pc
				ok := s.env.Check(a, 4, false)
				pc, base = s.pc, s.base
				if !ok {
					s.fault = engine.RuntimeError{Addr: a, Size: 4}
					goto memFault
				}
			}
			regs[d] = uint64(*(*uint32)(ptr(a)))
		case opLdxDWChecked:
			d := in.dst & 15
			a := regs[in.src&15] + in.imm
			if a-s.stackBase > engine.StackSize-8 && a-s.hotBase > s.hotSize-8 {
				s.pc = pc
				ok := s.env.Check(a, 8, false)
				pc, base = s.pc, s.base
				if !ok {
					s.fault = engine.RuntimeError{Addr: a, Size: 8}
					goto memFault
				}
			}
			regs[d] = *(*uint64)(ptr(a))
		case opLdxSBChecked:
			d := in.dst & 15
			a := regs[in.src&15] + in.imm
			if a-s.stackBase > engine.StackSize-1 && a-s.hotBase > s.hotSize-1 {
				s.pc = pc
				ok := s.env.Check(a, 1, false)
				pc, base = s.pc, s.base
				if !ok {
					s.fault = engine.RuntimeError{Addr: a, Size: 1}
					goto memFault
				}
			}
			regs[d] = uint64(int64(*(*int8)(ptr(a))))
		case opLdxSHChecked:
			d := in.dst & 15
			a := regs[in.src&15] + in.imm
			if a-s.stackBase > engine.StackSize-2 && a-s.hotBase > s.hotSize-2 {
				s.pc = pc
				ok := s.env.Check(a, 2, false)
				pc, base = s.pc, s.base
				if !ok {
					s.fault = engine.RuntimeError{Addr: a, Size: 2}
					goto memFault
				}
			}
			regs[d] = uint64(int64(*(*int16)(ptr(a))))
		case opLdxSWChecked:
			d := in.dst & 15
			a := regs[in.src&15] + in.imm
			if a-s.stackBase > engine.StackSize-4 && a-s.hotBase > s.hotSize-4 {
				s.pc = pc
				ok := s.env.Check(a, 4, false)
				pc, base = s.pc, s.base
				if !ok {
					s.fault = engine.RuntimeError{Addr: a, Size: 4}
					goto memFault
				}
			}
			regs[d] = uint64(int64(*(*int32)(ptr(a))))
		case opStBChecked:
			v := in.imm
			a := regs[in.dst&15] + uint64(int64(in.off))
			if a-s.stackBase > engine.StackSize-1 && a-s.hotWBase > s.hotWSize-1 {
				s.pc = pc
				ok := s.env.Check(a, 1, true)
				pc, base = s.pc, s.base
				if !ok {
					s.fault = engine.RuntimeError{Addr: a, Size: 1, Write: true}
					goto memFault
				}
			}
			*(*uint8)(ptr(a)) = uint8(v)
		case opStHChecked:
			v := in.imm
			a := regs[in.dst&15] + uint64(int64(in.off))
			if a-s.stackBase > engine.StackSize-2 && a-s.hotWBase > s.hotWSize-2 {
				s.pc = pc
				ok := s.env.Check(a, 2, true)
				pc, base = s.pc, s.base
				if !ok {
					s.fault = engine.RuntimeError{Addr: a, Size: 2, Write: true}
					goto memFault
				}
			}
			*(*uint16)(ptr(a)) = uint16(v)
		case opStWChecked:
			v := in.imm
			a := regs[in.dst&15] + uint64(int64(in.off))
			if a-s.stackBase > engine.StackSize-4 && a-s.hotWBase > s.hotWSize-4 {
				s.pc = pc
				ok := s.env.Check(a, 4, true)
				pc, base = s.pc, s.base
				if !ok {
					s.fault = engine.RuntimeError{Addr: a, Size: 4, Write: true}
					goto memFault
				}
			}
			*(*uint32)(ptr(a)) = uint32(v)
		case opStDWChecked:
			v := in.imm
			a := regs[in.dst&15] + uint64(int64(in.off))
			if a-s.stackBase > engine.StackSize-8 && a-s.hotWBase > s.hotWSize-8 {
				s.pc = pc
				ok := s.env.Check(a, 8, true)
				pc, base = s.pc, s.base
				if !ok {
					s.fault = engine.RuntimeError{Addr: a, Size: 8, Write: true}
					goto memFault
				}
			}
			*(*uint64)(ptr(a)) = v
		case opStxBChecked:
			v := regs[in.src&15]
			a := regs[in.dst&15] + in.imm
			if a-s.stackBase > engine.StackSize-1 && a-s.hotWBase > s.hotWSize-1 {
				s.pc = pc
				ok := s.env.Check(a, 1, true)
				pc, base = s.pc, s.base
				if !ok {
					s.fault = engine.RuntimeError{Addr: a, Size: 1, Write: true}
					goto memFault
				}
			}
			*(*uint8)(ptr(a)) = uint8(v)
		case opStxHChecked:
			v := regs[in.src&15]
			a := regs[in.dst&15] + in.imm
			if a-s.stackBase > engine.StackSize-2 && a-s.hotWBase > s.hotWSize-2 {
				s.pc = pc
				ok := s.env.Check(a, 2, true)
				pc, base = s.pc, s.base
				if !ok {
					s.fault = engine.RuntimeError{Addr: a, Size: 2, Write: true}
					goto memFault
				}
			}
			*(*uint16)(ptr(a)) = uint16(v)
		case opStxWChecked:
			v := regs[in.src&15]
			a := regs[in.dst&15] + in.imm
			if a-s.stackBase > engine.StackSize-4 && a-s.hotWBase > s.hotWSize-4 {
				s.pc = pc
				ok := s.env.Check(a, 4, true)
				pc, base = s.pc, s.base
				if !ok {
					s.fault = engine.RuntimeError{Addr: a, Size: 4, Write: true}
					goto memFault
				}
			}
			*(*uint32)(ptr(a)) = uint32(v)
		case opStxDWChecked:
			v := regs[in.src&15]
			a := regs[in.dst&15] + in.imm
			if a-s.stackBase > engine.StackSize-8 && a-s.hotWBase > s.hotWSize-8 {
				s.pc = pc
				ok := s.env.Check(a, 8, true)
				pc, base = s.pc, s.base
				if !ok {
					s.fault = engine.RuntimeError{Addr: a, Size: 8, Write: true}
					goto memFault
				}
			}
			*(*uint64)(ptr(a)) = v

		case opAtomic32, opAtomic64:
			size := uint64(8)
			if in.op == opAtomic32 {
				size = 4
			}
			a := regs[in.dst&15] + in.imm
			ins := *in
			s.pc = pc
			if s.code.checked && (a%size != 0 || !s.env.Check(a, size, true)) {
				s.fault = engine.RuntimeError{Addr: a, Size: int(size), Write: true}
				goto memFault
			}
			if ins.op == opAtomic32 {
				atomic32(&ins, &regs, (*uint32)(ptr(a)))
			} else {
				atomic64(&ins, &regs, (*uint64)(ptr(a)))
			}
			pc, base = s.pc, s.base

		case opLdAbsB, opLdAbsH, opLdAbsW, opLdIndB, opLdIndH, opLdIndW:
			off := int64(int32(uint32(in.imm)))
			if in.op >= opLdIndB {
				off = int64(int32(uint32(regs[in.src&15]) + uint32(in.imm)))
			}
			s.pc = pc
			v, ok := loadPacket(s.env.Packet, off, in.op)
			pc, base = s.pc, s.base
			if !ok {
				// Linux semantics: an out-of-bounds legacy packet load ends the program with 0.
				s.env.Executed = s.executed + uint64(pc-s.blockStart)
				return 0, nil
			}
			regs[0] = v

		case opCall:
			s.pc = pc
			regs[0] = s.code.helpers[in.imm](s.env, regs[1], regs[2], regs[3], regs[4], regs[5])
			pc, base = s.pc, s.base
			if s.env.Stopped() {
				if next, ok := s.env.TailTarget().(*Code); ok {
					// A tail call to interpreter code: switch programs here, keeping r1
					// (the context) and starting over on a fresh stack.
					s.env.TakeStop()
					s.env.TakeTailCall()
					s.executed += uint64(pc - s.blockStart)
					s.code, s.depth, s.blockStart = next, 0, 0
					base = unsafe.Pointer(unsafe.SliceData(next.insns))
					s.base, pc = base, 0
					regs[10] = s.stackBase + engine.StackSize
					continue
				}
				s.env.Executed = s.executed + uint64(pc-s.blockStart)
				return s.env.TakeStop()
			}
		case opCallX:
			s.pc = pc
			id := int32(regs[in.dst&15])
			fn := s.code.byID[id]
			if fn == nil {
				return s.fail(s.pc, "%w: callx to helper %d", engine.ErrUnknownHelper, id)
			}
			regs[0] = fn(s.env, regs[1], regs[2], regs[3], regs[4], regs[5])
			pc, base = s.pc, s.base
			if s.env.Stopped() {
				s.env.Executed = s.executed + uint64(pc-s.blockStart)
				return s.env.TakeStop()
			}
		case opCallLocal:
			if s.depth+1 >= engine.MaxCallDepth {
				return s.fail(pc, "%w", engine.ErrCallDepth)
			}
			f := &s.frames[s.depth]
			f.ret = pc
			f.saved = [4]uint64{regs[6], regs[7], regs[8], regs[9]}
			f.fp = regs[10]
			s.depth++
			regs[10] -= engine.StackFrameSize
			s.from = pc
			pc = int(in.off)
			goto jump
		case opExit:
			if s.depth == 0 {
				s.env.Executed = s.executed + uint64(pc-s.blockStart)
				return regs[0], nil
			}
			s.depth--
			f := &s.frames[s.depth]
			regs[6], regs[7], regs[8], regs[9] = f.saved[0], f.saved[1], f.saved[2], f.saved[3]
			regs[10] = f.fp
			s.from = pc
			pc = f.ret
			goto jump
		default: // opInvalid and the unused values above opCount
			return s.fail(pc, "internal error: operation %d", in.op)
		}
		continue

	jump:
		// A control transfer from s.from to pc ends a straight-line block: account for
		// it against the budget.
		if !s.counting {
			continue
		}
		s.executed += uint64(s.from - s.blockStart)
		s.blockStart = pc
		if s.executed > s.budget {
			s.blockStart = s.from
			return s.fail(s.from, "%w (%d)", engine.ErrBudgetExceeded, s.budget)
		}
		continue

	memFault:
		// Every jump here has saved pc in s.pc.
		s.fault.PC = s.pc - 1
		s.fault.Err = engine.ErrMemoryAccess
		s.env.Executed = s.executed + uint64(s.pc-s.blockStart)
		fault := s.fault
		return 0, &fault
	}
}

// fail ends a run with an error at the instruction before pc.
func (s *state) fail(pc int, format string, args ...any) (uint64, error) {
	s.env.Executed = s.executed + uint64(pc-s.blockStart)
	return 0, &engine.RuntimeError{PC: pc - 1, Err: fmt.Errorf(format, args...)}
}

func loadPacket(pkt []byte, off int64, op uint8) (uint64, bool) {
	size := int64(1)
	switch op {
	case opLdAbsH, opLdIndH:
		size = 2
	case opLdAbsW, opLdIndW:
		size = 4
	}
	if off < 0 || off+size > int64(len(pkt)) {
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

func atomic64(in *inst, regs *[16]uint64, p *uint64) {
	src := &regs[in.src&15]
	var old uint64
	switch in.off {
	case 0x00, 0x01: // add
		old = atomic.AddUint64(p, *src) - *src
	case 0x40, 0x41: // or
		old = atomic.OrUint64(p, *src)
	case 0x50, 0x51: // and
		old = atomic.AndUint64(p, *src)
	case 0xa0, 0xa1: // xor
		for {
			old = atomic.LoadUint64(p)
			if atomic.CompareAndSwapUint64(p, old, old^*src) {
				break
			}
		}
	case 0xe1: // xchg
		*src = atomic.SwapUint64(p, *src)
		return
	case 0xf1: // cmpxchg
		for {
			old = atomic.LoadUint64(p)
			if old != regs[0] || atomic.CompareAndSwapUint64(p, old, *src) {
				break
			}
		}
		regs[0] = old
		return
	}
	if in.off&1 != 0 {
		*src = old
	}
}

func atomic32(in *inst, regs *[16]uint64, p *uint32) {
	src := &regs[in.src&15]
	s := uint32(*src)
	var old uint32
	switch in.off {
	case 0x00, 0x01:
		old = atomic.AddUint32(p, s) - s
	case 0x40, 0x41:
		old = atomic.OrUint32(p, s)
	case 0x50, 0x51:
		old = atomic.AndUint32(p, s)
	case 0xa0, 0xa1:
		for {
			old = atomic.LoadUint32(p)
			if atomic.CompareAndSwapUint32(p, old, old^s) {
				break
			}
		}
	case 0xe1:
		*src = uint64(atomic.SwapUint32(p, s))
		return
	case 0xf1:
		for {
			old = atomic.LoadUint32(p)
			if old != uint32(regs[0]) || atomic.CompareAndSwapUint32(p, old, s) {
				break
			}
		}
		regs[0] = uint64(old)
		return
	}
	if in.off&1 != 0 {
		*src = uint64(old)
	}
}
