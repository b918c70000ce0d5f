//go:build amd64 && linux

package jit

import (
	"unsafe"

	"github.com/anybpf/anybpf/engine"
)

// context is the state native code shares with the Go run loop. It lives on the Go side
// of a run; native code reaches it through r9. Every field is a plain integer, so the
// garbage collector has nothing to trace in it.
type context struct {
	// regs holds r0..r10 while the Go side runs: native code stores them before it
	// returns to Go and loads them when it is entered again.
	regs [11]uint64
	// exit tells the Go side why native code returned (one of the exit* constants).
	exit uint64
	// arg is the exit's operand: a helper index, an aux index or a slot.
	arg uint64
	// resume is the native address the prologue jumps to when native code is entered.
	resume uint64
	// depth is the number of active bpf-to-bpf calls.
	depth uint64
	// tmp is scratch memory for sequences that run out of registers.
	tmp uint64
	// executed counts instructions when the program has a budget; budget is the limit.
	executed uint64
	budget   uint64
	frames   [engine.MaxCallDepth]frame
	// tails counts the run's tail calls (Env.TailCalls while native code runs);
	// stackTop is r10 at the start of the run, which a tail call starts over from;
	// tailed is the address of the tail table entry native code last tail called to,
	// until Go takes it.
	tails    uint64
	stackTop uint64
	tailed   uint64

	// Checked mode: an access of n bytes at a is allowed at once if a-stackBase <=
	// StackSize-n, or a-hotBase <= hotLim[log2 n] (hotW* for stores); otherwise native
	// code asks Go (exitCheck) with the address in tmp.
	stackBase uint64
	hotBase   uint64
	hotWBase  uint64
	hotLim    [4]uint64
	hotWLim   [4]uint64
}

// frame is what a bpf-to-bpf call saves: the callee-saved registers r6..r9, the frame
// pointer r10 and the native return address.
type frame struct {
	saved [5]uint64
	ret   uint64
	_     [2]uint64
}

// Offsets into context for the code generator.
const (
	offRegs      = int32(unsafe.Offsetof(context{}.regs))
	offExit      = int32(unsafe.Offsetof(context{}.exit))
	offArg       = int32(unsafe.Offsetof(context{}.arg))
	offResume    = int32(unsafe.Offsetof(context{}.resume))
	offDepth     = int32(unsafe.Offsetof(context{}.depth))
	offTmp       = int32(unsafe.Offsetof(context{}.tmp))
	offExecuted  = int32(unsafe.Offsetof(context{}.executed))
	offBudget    = int32(unsafe.Offsetof(context{}.budget))
	offStackBase = int32(unsafe.Offsetof(context{}.stackBase))
	offHotBase   = int32(unsafe.Offsetof(context{}.hotBase))
	offHotWBase  = int32(unsafe.Offsetof(context{}.hotWBase))
	offHotLim    = int32(unsafe.Offsetof(context{}.hotLim))
	offHotWLim   = int32(unsafe.Offsetof(context{}.hotWLim))
	offFrames    = int32(unsafe.Offsetof(context{}.frames))
	offTails     = int32(unsafe.Offsetof(context{}.tails))
	offStackTop  = int32(unsafe.Offsetof(context{}.stackTop))
	offTailed    = int32(unsafe.Offsetof(context{}.tailed))
	offFrameRet  = int32(unsafe.Offsetof(frame{}.ret))
	frameSizeLog = 6
)

// The frame layout must match frameSizeLog.
var _ [1]struct{} = [unsafe.Sizeof(frame{}) >> frameSizeLog]struct{}{}

// Why native code returned to Go.
const (
	exitDone   = iota // the program exited; r0 is in regs[0]
	exitHelper        // call helper arg, then resume
	exitCallX         // callx described by aux[arg], then resume
	exitLdAbs         // legacy packet load described by aux[arg], then resume
	exitDepth         // a local call at slot arg exceeded MaxCallDepth
	exitBudget        // the jump at slot arg exceeded the instruction budget
	exitCheck         // check the access described by aux[arg] at address tmp
)

// enter runs native code: it points r9 at ctx and calls the prologue at pc, which loads
// the eBPF registers from ctx and jumps to ctx.resume. It returns when native code
// returns, with ctx.exit set.
//
//go:noescape
func enter(ctx *context, pc uintptr)
