package progtype

import "fmt"

// Context descriptors of Linux's tracing program types (kprobe, tracepoint, raw
// tracepoint, perf event) and of BPF_PROG_TYPE_SYSCALL. anybpf cannot attach these
// programs, but the verifier judges them with the same access rules as Linux's
// *_is_valid_access functions (kernel/trace/bpf_trace.c, kernel/bpf/syscall.c). Their
// contexts are read-only (syscall programs excepted) and the runtime would give each as
// an image in Linux's layout, so RealOffset and RealSize equal Offset and Size.

// PtRegsSize is the size of x86-64's struct pt_regs (21 registers of 8 bytes).
const PtRegsSize = 168

// ptRegsNames are the members of x86-64's struct pt_regs in order, with the names of
// the UAPI header (asm/ptrace.h).
var ptRegsNames = []string{
	"r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8",
	"rax", "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss",
}

// sameLayout returns f with RealOffset and RealSize equal to Offset and Size.
func sameLayout(f Field) Field {
	f.RealOffset, f.RealSize = f.Offset, f.Size
	return f
}

// ptRegsFields returns the registers of struct pt_regs, their names prefixed with
// prefix, narrow or not.
func ptRegsFields(prefix string, narrow bool) []Field {
	var fs []Field
	for i, n := range ptRegsNames {
		fs = append(fs, sameLayout(Field{Name: prefix + n, Offset: 8 * i, Size: 8, Narrow: narrow}))
	}
	return fs
}

// KprobeContext is x86-64's struct pt_regs, for KPROBE programs (kprobes, kretprobes,
// uprobes). As kprobe_prog_is_valid_access, it allows reads of 1, 2, 4 or 8 bytes at
// any offset aligned to their size inside the 168 bytes, and no writes.
var KprobeContext = &Context{
	Name: "pt_regs", Size: PtRegsSize, RealSize: PtRegsSize,
	Fields: ptRegsFields("", true),
}

// PerfMaxTraceSize is PERF_MAX_TRACE_SIZE of Linux 6.x: the largest tracepoint record
// a TRACEPOINT program may read.
const PerfMaxTraceSize = 8192

// TracepointContext is the record of a tracepoint, for TRACEPOINT programs. Its layout
// depends on the tracepoint (the format file under tracefs/events); Linux's
// tp_prog_is_valid_access checks only that a read is aligned to its size, lies inside
// PERF_MAX_TRACE_SIZE bytes and does not touch the first 8 (the common_type,
// common_flags, common_preempt_count and common_pid fields of struct trace_entry), and
// the kernel checks the furthest offset read against the event's size when the program
// is attached. The descriptor is therefore one record of the maximum size: every aligned
// read of 1, 2, 4 or 8 bytes from offset 8 to 8192 passes; stores do not.
var TracepointContext = &Context{
	Name: "tracepoint record", Size: PerfMaxTraceSize, RealSize: PerfMaxTraceSize,
	Fields: []Field{sameLayout(Field{Name: "record", Offset: 8, Size: PerfMaxTraceSize - 8, Narrow: true})},
}

// MaxBPFFuncArgs is MAX_BPF_FUNC_ARGS: the number of u64 arguments a raw tracepoint
// program sees.
const MaxBPFFuncArgs = 12

// rawTracepointContext returns struct bpf_raw_tracepoint_args: args[0] to args[11],
// read in any part aligned to its size (bpf_tracing_ctx_access); when first is not
// Scalar, args[0] is a pointer of that kind, read whole.
func rawTracepointContext(name string, first FieldKind) *Context {
	c := &Context{Name: name, Size: 8 * MaxBPFFuncArgs, RealSize: 8 * MaxBPFFuncArgs}
	for i := 0; i < MaxBPFFuncArgs; i++ {
		f := sameLayout(Field{Name: fmt.Sprintf("args[%d]", i), Offset: 8 * i, Size: 8, Narrow: true})
		if i == 0 && first != Scalar {
			f.Kind, f.Narrow = first, false
		}
		c.Fields = append(c.Fields, f)
	}
	return c
}

// RawTracepointContext is struct bpf_raw_tracepoint_args, for RAW_TRACEPOINT programs:
// the tracepoint's arguments as 12 u64 values, read in any part aligned to its size and
// never written (raw_tp_prog_is_valid_access, bpf_tracing_ctx_access).
var RawTracepointContext = rawTracepointContext("bpf_raw_tracepoint_args", Scalar)

// RawTracepointWritableContext is struct bpf_raw_tracepoint_args for
// RAW_TRACEPOINT_WRITABLE programs: like RawTracepointContext, but args[0] is a pointer
// to the tracepoint's writable buffer (Linux's PTR_TO_TP_BUFFER), of Kind KernelPointer,
// read as 8 bytes (raw_tp_writable_prog_is_valid_access).
var RawTracepointWritableContext = rawTracepointContext("bpf_raw_tracepoint_args (writable)", KernelPointer)

// PerfEventContextSize is the size of struct bpf_perf_event_data on x86-64.
const PerfEventContextSize = PtRegsSize + 16

// PerfEventContext is struct bpf_perf_event_data {struct pt_regs regs; u64
// sample_period; u64 addr;}, for PERF_EVENT programs. As pe_prog_is_valid_access, the
// registers are read whole (8 bytes), sample_period and addr also in aligned parts;
// nothing is written.
var PerfEventContext = &Context{
	Name: "bpf_perf_event_data", Size: PerfEventContextSize, RealSize: PerfEventContextSize,
	Fields: append(ptRegsFields("regs.", false),
		sameLayout(Field{Name: "sample_period", Offset: PtRegsSize, Size: 8, Narrow: true}),
		sameLayout(Field{Name: "addr", Offset: PtRegsSize + 8, Size: 8, Narrow: true}),
	),
}

// SyscallContextSize bounds the context of SYSCALL programs: U16_MAX.
const SyscallContextSize = 0xffff

// SyscallContext is the context of SYSCALL programs: memory of the size given to
// BPF_PROG_RUN, which the program reads and writes freely. syscall_prog_is_valid_access
// allows any access aligned to its size that starts below U16_MAX (65535), so the
// descriptor spans 65536 bytes: an aligned access may end there, only a 1-byte access at
// 65535 is refused. A program must still stay inside the context it is run with, which
// the runtime checks at run time.
var SyscallContext = &Context{
	Name: "syscall ctx", Size: SyscallContextSize + 1, RealSize: SyscallContextSize + 1,
	Fields: []Field{
		sameLayout(Field{Name: "ctx", Offset: 0, Size: SyscallContextSize - 1, Writable: true, Narrow: true}),
		// The aligned accesses that end at 65536 and start below 65535.
		sameLayout(Field{Name: "ctx", Offset: SyscallContextSize - 7, Size: 8, Writable: true}),
		sameLayout(Field{Name: "ctx", Offset: SyscallContextSize - 3, Size: 4, Writable: true}),
		sameLayout(Field{Name: "ctx", Offset: SyscallContextSize - 1, Size: 2, Writable: true}),
		sameLayout(Field{Name: "ctx", Offset: SyscallContextSize - 1, Size: 1, Writable: true}),
	},
}
