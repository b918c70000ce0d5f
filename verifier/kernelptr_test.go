package verifier_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/rlimit"

	"github.com/anybpf/anybpf/internal/elfload"
	"github.com/anybpf/anybpf/internal/objverify"
	"github.com/anybpf/anybpf/internal/testutil"
	"github.com/anybpf/anybpf/isa"
	"github.com/anybpf/anybpf/progtype"
	"github.com/anybpf/anybpf/verifier"
)

// kernelSpec returns the running kernel's BTF or skips the test.
func kernelSpec(t *testing.T) *btf.Spec {
	t.Helper()
	spec, err := elfload.RunningKernelBTF()
	if err != nil {
		t.Skipf("no kernel BTF (/sys/kernel/btf/vmlinux): %v", err)
	}
	return spec
}

// kernelOffset returns the byte offset of a member path ("__sk_common.skc_family") in
// the kernel's struct name, looking into anonymous members as C does.
func kernelOffset(t *testing.T, spec *btf.Spec, name, path string) int {
	t.Helper()
	var st *btf.Struct
	if err := spec.TypeByName(name, &st); err != nil {
		t.Fatalf("struct %s: %v", name, err)
	}
	var typ btf.Type = st
	off := 0
	for _, field := range strings.Split(path, ".") {
		moff, mt, ok := findKernelMember(typ, field)
		if !ok {
			t.Fatalf("struct %s has no %s", name, path)
		}
		off += moff
		typ = mt
	}
	return off
}

func findKernelMember(t btf.Type, name string) (int, btf.Type, bool) {
	var members []btf.Member
	switch c := btf.UnderlyingType(t).(type) {
	case *btf.Struct:
		members = c.Members
	case *btf.Union:
		members = c.Members
	}
	for _, m := range members {
		if m.Name == name {
			return int(m.Offset.Bytes()), m.Type, true
		}
		if m.Name == "" {
			if off, mt, ok := findKernelMember(m.Type, name); ok {
				return int(m.Offset.Bytes()) + off, mt, true
			}
		}
	}
	return 0, nil, false
}

// kernelSize returns the size of the kernel's struct name.
func kernelSize(t *testing.T, spec *btf.Spec, name string) int {
	t.Helper()
	var st *btf.Struct
	if err := spec.TypeByName(name, &st); err != nil {
		t.Fatal(err)
	}
	return int(st.Size)
}

// TestKernelPointers: tracing programs read kernel structs through the pointers their
// arguments and helpers give, at constant offsets inside the structs, as Linux lets them;
// stores, reads outside a struct or member, variable or negative offsets, kernel pointers
// where helpers want memory, and kernel pointers in program types anybpf runs are refused
// with what went wrong.
func TestKernelPointers(t *testing.T) {
	spec := kernelSpec(t)
	off := map[string]int{
		"FAMILY":   kernelOffset(t, spec, "sock", "__sk_common.skc_family"),
		"NET":      kernelOffset(t, spec, "sock", "__sk_common.skc_net.net"),
		"INUM":     kernelOffset(t, spec, "net", "ns.inum"),
		"SOCKSIZE": kernelSize(t, spec, "sock"),
		"SRTT":     kernelOffset(t, spec, "tcp_sock", "srtt_us"),
		"PID":      kernelOffset(t, spec, "task_struct", "pid"),
		"MM":       kernelOffset(t, spec, "task_struct", "mm"),
		"TOTALVM":  kernelOffset(t, spec, "mm_struct", "total_vm"),
	}
	lsm, _ := spec.AnyTypesByName("bpf_lsm_file_open")
	if len(lsm) > 0 {
		off["FFLAGS"] = kernelOffset(t, spec, "file", "f_flags")
	}
	expand := func(src string) string {
		for k, v := range off {
			src = strings.ReplaceAll(src, k, fmt.Sprint(v))
		}
		return src
	}
	const sk = "ldxdw %r7, [%r1+0]\n" // fentry/tcp_connect's struct sock *sk
	const ret0 = "\nmov %r0, 0\nexit"
	fentry := func(body string) string { return sk + body + ret0 }
	type prog struct {
		typ    progtype.Type
		attach progtype.AttachType
		target string
		noBTF  bool
	}
	fe := prog{progtype.Tracing, progtype.AttachTraceFentry, "tcp_connect", false}
	for _, tc := range []struct {
		name string
		p    prog
		src  string
		want string // "" when the program must verify, else part of the error
	}{
		{"fentry reads a member", fe, fentry("ldxh %r2, [%r7+FAMILY]"), ""},
		{"pointer chain sk->__sk_common.skc_net.net->ns.inum", fe, fentry("ldxdw %r2, [%r7+NET]\nldxw %r3, [%r2+INUM]"), ""},
		{"test against NULL, then read", fe, sk + "jeq %r7, 0, out\nldxh %r2, [%r7+FAMILY]\nout:" + ret0, ""},
		{"pointer moved by a constant, then read", fe, fentry("add %r7, FAMILY\nldxh %r2, [%r7+0]"), ""},
		{"spilled and filled", fe, fentry("stxdw [%r10-8], %r7\nldxdw %r6, [%r10-8]\nldxh %r2, [%r6+FAMILY]"), ""},
		{"copied with bpf_probe_read_kernel", fe, fentry("mov %r1, %r10\nadd %r1, -8\nmov %r2, 8\nmov %r3, %r7\ncall 113\nldxdw %r2, [%r10-8]"), ""},
		{"fexit reads the return value", prog{progtype.Tracing, progtype.AttachTraceFexit, "tcp_connect", false}, fentry("ldxdw %r2, [%r1+8]\nldxh %r3, [%r7+FAMILY]"), ""},
		{"fmod_ret reads the return value", prog{progtype.Tracing, progtype.AttachModifyReturn, "tcp_connect", false}, fentry("ldxw %r2, [%r1+8]"), ""},
		{"tp_btf task->mm, tested, then read", prog{progtype.Tracing, progtype.AttachTraceRawTP, "sched_switch", false},
			"ldxdw %r7, [%r1+16]\nldxw %r2, [%r7+PID]\nldxdw %r6, [%r7+MM]\njeq %r6, 0, out\nldxdw %r2, [%r6+TOTALVM]\nout:" + ret0, ""},
		{"tp_btf scalar argument", prog{progtype.Tracing, progtype.AttachTraceRawTP, "sched_switch", false}, "ldxb %r2, [%r1+0]\nldxw %r3, [%r1+24]" + ret0, ""},
		{"bpf_skc_to_tcp_sock checked for NULL", fe, fentry("mov %r1, %r7\ncall 137\njeq %r0, 0, out\nldxw %r2, [%r0+SRTT]\nout:"), ""},
		{"bpf_get_current_task_btf", fe, "call 158\nldxw %r2, [%r0+PID]" + ret0, ""},
		{"lsm hook's argument and return value", prog{progtype.LSM, progtype.AttachLSMMac, "file_open", false}, "ldxdw %r7, [%r1+0]\nldxw %r2, [%r7+FFLAGS]\nldxw %r3, [%r1+8]" + ret0, ""},
		{"lsm hook's argument written", prog{progtype.LSM, progtype.AttachLSMMac, "file_open", false}, "ldxdw %r7, [%r1+0]\nstw [%r7+FFLAGS], 0" + ret0, "r7=kptr(struct file)+0"},

		{"store through a kernel pointer", fe, fentry("mov %r2, 0\nstxh [%r7+FAMILY], %r2"), "write through a kernel pointer"},
		{"immediate store through a kernel pointer", fe, fentry("sth [%r7+FAMILY], 1"), "write through a kernel pointer"},
		{"atomic add through a kernel pointer", fe, fentry("mov %r2, 1\nlock add [%r7+0], %r2"), "write through a kernel pointer"},
		{"diagnostics name the struct", fe, fentry("sth [%r7+0], 1"), "r7=kptr(struct sock)+0"},
		{"read past the struct", fe, fentry("ldxb %r2, [%r7+SOCKSIZE]"), "past the end of struct sock"},
		{"read across a pointer member", fe, fentry("ldxw %r2, [%r7+NET]"), "not the whole of pointer member net"},
		{"variable offset", fe, fentry("call 5\nand %r0, 7\nadd %r7, %r0\nldxb %r2, [%r7+0]"), "variable offset"},
		{"negative offset", fe, fentry("add %r7, -8\nldxdw %r2, [%r7+0]"), "negative offset -8 of struct sock"},
		{"32-bit arithmetic", fe, fentry("add32 %r7, 1"), "32-bit arithmetic on a pointer"},
		{"multiplication", fe, fentry("mul %r7, 2"), "on a pointer is not allowed"},
		{"as a map key", fe, fentry("lddw %r1, 0xabcd0000\nmov %r2, %r7\ncall 1"), "a kernel pointer is not memory a helper may use"},
		{"as memory a helper fills", fe, fentry("mov %r1, %r7\nmov %r2, 16\ncall 16"), "write through a kernel pointer"},
		{"as the stack pointer of bpf_loop", fe, fentry("mov %r1, 1\nlddw %r2, 0\nmov %r3, %r7\nmov %r4, 0\ncall 181"), "argument 2 of bpf_loop"},
		// Linux loads tracing programs for privileged users only, and lets them leak
		// pointers; a program anybpf runs may not.
		{"stored into a map value", fe, sk + "stw [%r10-4], 0\nlddw %r1, 0xabcd0000\nmov %r2, %r10\nadd %r2, -4\ncall 1\njeq %r0, 0, out\nstxdw [%r0+0], %r7\nout:" + ret0, ""},
		{"XDP program stores its context into a map value", prog{progtype.XDP, progtype.AttachNone, "", false}, "mov %r7, %r1\nstw [%r10-4], 0\nlddw %r1, 0xabcd0000\nmov %r2, %r10\nadd %r2, -4\ncall 1\njeq %r0, 0, out\nstxdw [%r0+0], %r7\nout:" + ret0, "would leak an address"},
		{"pointer argument read in part", fe, "ldxw %r7, [%r1+0]" + ret0, "pointers are read whole"},
		{"argument the function does not have", fe, "ldxdw %r7, [%r1+8]" + ret0, "tcp_connect has no argument 1 (it takes 1)"},
		{"context read at a variable offset", fe, "mov %r6, %r1\ncall 5\nand %r0, 8\nadd %r6, %r0\nldxdw %r7, [%r6+0]" + ret0, "variable offset"},
		{"bpf_skc_to_tcp_sock result not checked", fe, fentry("mov %r1, %r7\ncall 137\nldxw %r2, [%r0+SRTT]"), "may be NULL"},
		{"bpf_skc_to_tcp_sock of a task", fe, "call 158\nmov %r1, %r0\ncall 137" + ret0, "must be a pointer to a struct sock_common (or to a struct starting with one), not to struct task_struct"},
		{"bpf_skc_to_tcp_sock of a member", fe, fentry("add %r7, 8\nmov %r1, %r7\ncall 137"), "not into one"},
		{"no kernel BTF", prog{progtype.Tracing, progtype.AttachTraceFentry, "tcp_connect", true}, fentry("ldxh %r2, [%r7+16]"),
			"fentry/tcp_connect: argument 0 may be a kernel pointer; anybpf needs the kernel's BTF to check it (not available here)"},
		{"function the kernel does not have", prog{progtype.Tracing, progtype.AttachTraceFentry, "anybpf_no_such_function", false}, "mov %r0, 0\nexit",
			"the kernel has no function anybpf_no_such_function"},
		{"tracepoint the kernel does not have", prog{progtype.Tracing, progtype.AttachTraceRawTP, "anybpf_no_such_tp", false}, "mov %r0, 0\nexit",
			"the kernel has no tracepoint anybpf_no_such_tp"},
		{"no attach target", prog{progtype.Tracing, progtype.AttachTraceFentry, "", false}, fentry(""), "name the kernel function they attach to"},
		{"fentry has no return value slot", fe, "ldxdw %r2, [%r1+8]" + ret0, "has no argument 1"},

		// Program types anybpf runs never get kernel pointers, whatever they are given.
		{"XDP program given the kernel's BTF", prog{progtype.XDP, progtype.AttachTraceFentry, "tcp_connect", false}, fentry("ldxh %r2, [%r7+16]"), "is not a field"},
		{"kprobe argument is a number", prog{progtype.Kprobe, progtype.AttachNone, "tcp_connect", false}, "ldxdw %r7, [%r1+112]\nldxh %r2, [%r7+16]" + ret0, "access through a number"},
		{"tc program: bpf_skc_to_tcp_sock of a looked-up socket", prog{progtype.SchedCls, progtype.AttachNone, "", false}, `
			stdw [%r10-16], 0
			stdw [%r10-8], 0
			mov %r2, %r10
			add %r2, -16
			mov %r3, 12
			mov %r4, -1
			mov %r5, 0
			call 84
			jeq %r0, 0, out
			mov %r6, %r0
			mov %r1, %r0
			call 137
			jeq %r0, 0, release
			ldxw %r2, [%r0+0]
		release:
			mov %r1, %r6
			call 86
		out:` + ret0, "a kernel_ptr cannot be dereferenced"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.p.typ == progtype.LSM && len(lsm) == 0 {
				t.Skip("the kernel has no BPF LSM hooks")
			}
			p := assemble(t, expand(tc.src))
			p.Type, p.AttachType, p.AttachTo = tc.p.typ, tc.p.attach, tc.p.target
			if !tc.p.noBTF {
				p.KernelBTF = spec
			}
			_, err := verifier.Verify(p, nil)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Errorf("verified, want an error with %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Errorf("error %q, want one with %q", err, tc.want)
			case tc.want != "" && !errors.Is(err, verifier.ErrUnverifiable):
				t.Errorf("error %v does not wrap ErrUnverifiable", err)
			}
			if tc.p.noBTF && !errors.Is(err, verifier.ErrNoKernelBTF) {
				t.Errorf("error %v does not wrap ErrNoKernelBTF", err)
			}
		})
	}
}

// TestKernelPointerObjects: the C tracing programs of testdata/kptr.c (fentry and fexit
// on tcp_connect, tp_btf/sched_switch; CO-RE against the kernel's BTF) verify, and the
// running kernel's verifier accepts them too (when the test may load programs).
func TestKernelPointerObjects(t *testing.T) {
	kernelSpec(t)
	path := filepath.Join("testdata", "kptr.o")
	obj, err := elfload.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"connect_entry", "connect_exit", "on_switch", "connect_task"}
	for _, name := range want {
		ps := obj.Program(name)
		if ps == nil {
			t.Fatalf("%s has no program %s", path, name)
		}
		if len(ps.Poisoned) != 0 {
			t.Errorf("%s: CO-RE poisoned %+v", name, ps.Poisoned)
		}
		if _, err := verifier.Verify(objverify.Program(obj, ps), nil); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Without the kernel's BTF, the first read of an argument is refused, saying why.
	bare, err := elfload.LoadFileWith(path, elfload.Options{NoKernelBTF: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = verifier.Verify(objverify.Program(bare, bare.Program("connect_entry")), nil)
	if !errors.Is(err, verifier.ErrNoKernelBTF) || !strings.Contains(err.Error(), "fentry/tcp_connect: argument 0 may be a kernel pointer") {
		t.Errorf("connect_entry without kernel BTF: %v", err)
	}

	if err := rlimit.RemoveMemlock(); err != nil {
		t.Skipf("cannot lift the memlock limit to load into the kernel: %v", err)
	}
	if m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1}); err != nil {
		t.Skipf("bpf() is not available here: %v", err)
	} else {
		m.Close()
	}
	// Some kernels load no tracing program of a kind at all (no ftrace trampolines for
	// fentry and fexit, say): an empty one tells.
	loads := map[ebpf.AttachType]error{}
	for _, probe := range []struct {
		attach ebpf.AttachType
		target string
	}{{ebpf.AttachTraceFEntry, "tcp_connect"}, {ebpf.AttachTraceFExit, "tcp_connect"}, {ebpf.AttachTraceRawTp, "sched_switch"}} {
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Type: ebpf.Tracing, AttachType: probe.attach, AttachTo: probe.target, License: "GPL",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
		})
		loads[probe.attach] = err
		if err == nil {
			prog.Close()
		}
	}
	spec, err := ebpf.LoadCollectionSpec(path)
	if err != nil {
		t.Fatal(err)
	}
	loaded := 0
	for _, name := range want {
		ps := spec.Programs[name]
		if err := loads[ps.AttachType]; err != nil {
			t.Logf("%s: not loaded into the kernel, which loads no %v program, even an empty one: %v", name, ps.AttachType, err)
			continue
		}
		one := spec.Copy()
		for other := range one.Programs {
			if other != name {
				delete(one.Programs, other)
			}
		}
		coll, err := ebpf.NewCollection(one)
		if err != nil {
			t.Errorf("the kernel refuses %s: %v", name, err)
			continue
		}
		coll.Close()
		loaded++
	}
	if loaded == 0 {
		t.Skip("this kernel loads none of these tracing programs")
	}
}

// TestKernelPointerCorpus: the corpus's fentry programs that read struct sock through
// their argument (cilium's fentry and tcprtt examples) verify with the kernel's BTF;
// without it both are refused at their first read of an argument, naming what is missing
// (tcprtt's CO-RE relocations are then poisoned too).
func TestKernelPointerCorpus(t *testing.T) {
	dir := testutil.CorpusDir(t, "ebpf-samples")
	kernelSpec(t)
	for _, tc := range []struct{ file, prog, without string }{
		{"fentry_bpf_bpfel.o", "tcp_connect", "fentry/tcp_connect: argument 0 may be a kernel pointer; anybpf needs the kernel's BTF to check it (not available here)"},
		{"tcprtt_bpf_bpfel.o", "tcp_close", "fentry/tcp_close: argument 0 may be a kernel pointer; anybpf needs the kernel's BTF to check it (not available here)"},
	} {
		path := filepath.Join(dir, "cilium-examples", tc.file)
		for _, opts := range []elfload.Options{{}, {NoKernelBTF: true}} {
			obj, err := elfload.LoadFileWith(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			ps := obj.Program(tc.prog)
			if ps == nil {
				t.Fatalf("%s has no program %s", tc.file, tc.prog)
			}
			_, err = verifier.Verify(objverify.Program(obj, ps), nil)
			switch {
			case !opts.NoKernelBTF && err != nil:
				t.Errorf("%s %s: %v", tc.file, tc.prog, err)
			case opts.NoKernelBTF && (err == nil || !strings.Contains(err.Error(), tc.without)):
				t.Errorf("%s %s without kernel BTF: %v, want an error with %q", tc.file, tc.prog, err, tc.without)
			}
		}
	}
}

// TestKernelPointersKernelAgrees: programs on tp_btf/sched_switch (the tracing kind
// every kernel with BTF loads) that use the next task's pointer well or badly get the
// same verdict from anybpf's verifier and from the running kernel's.
func TestKernelPointersKernelAgrees(t *testing.T) {
	spec := kernelSpec(t)
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Skipf("cannot lift the memlock limit to load into the kernel: %v", err)
	}
	probe, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp, AttachTo: "sched_switch", License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		t.Skipf("this kernel loads no tp_btf program: %v", err)
	}
	probe.Close()
	offsets := strings.NewReplacer(
		"PID", fmt.Sprint(kernelOffset(t, spec, "task_struct", "pid")),
		"MM", fmt.Sprint(kernelOffset(t, spec, "task_struct", "mm")),
		"TOTALVM", fmt.Sprint(kernelOffset(t, spec, "mm_struct", "total_vm")),
		"SIZE", fmt.Sprint(kernelSize(t, spec, "task_struct")))
	const next = "ldxdw %r7, [%r1+16]\n" // struct task_struct *next
	const ret0 = "\nmov %r0, 0\nexit"
	for _, tc := range []struct {
		name string
		src  string
		ok   bool
	}{
		{"read a member", next + "ldxw %r2, [%r7+PID]" + ret0, true},
		{"read through a member pointer", next + "ldxdw %r6, [%r7+MM]\nldxdw %r2, [%r6+TOTALVM]" + ret0, true},
		{"read through a member pointer, across members", next + "ldxdw %r6, [%r7+MM]\nldxdw %r2, [%r6+0]" + ret0, false},
		{"constant move, then read", next + "add %r7, PID\nldxw %r2, [%r7+0]" + ret0, true},
		{"NULL test", next + "jeq %r7, 0, out\nldxw %r2, [%r7+PID]\nout:" + ret0, true},
		{"store", next + "stw [%r7+PID], 1" + ret0, false},
		{"read past the struct", next + "ldxb %r2, [%r7+SIZE]" + ret0, false},
		{"negative offset", next + "add %r7, -8\nldxdw %r2, [%r7+0]" + ret0, false},
		{"variable offset", next + "call 5\nand %r0, 7\nadd %r7, %r0\nldxb %r2, [%r7+0]" + ret0, false},
		{"part of a pointer member", next + "ldxw %r2, [%r7+MM]" + ret0, false},
		{"pointer argument read in part", "ldxw %r7, [%r1+16]" + ret0, false},
		{"argument the tracepoint does not have", "ldxdw %r7, [%r1+32]" + ret0, false},
		{"as memory a helper fills", next + "mov %r1, %r7\nmov %r2, 16\ncall 16" + ret0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := assemble(t, offsets.Replace(tc.src))
			p.Type, p.AttachType, p.AttachTo, p.KernelBTF = progtype.Tracing, progtype.AttachTraceRawTP, "sched_switch", spec
			_, ours := verifier.Verify(p, nil)
			insns, err := asm.AppendInstructions(nil, bytes.NewReader(isa.Encode(p.Instructions)), binary.LittleEndian, "linux")
			if err != nil {
				t.Fatal(err)
			}
			prog, theirs := ebpf.NewProgram(&ebpf.ProgramSpec{
				Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp, AttachTo: "sched_switch", License: "GPL", Instructions: insns,
			})
			if theirs == nil {
				prog.Close()
			}
			if (ours == nil) != tc.ok || (theirs == nil) != tc.ok {
				t.Errorf("anybpf: %v\nkernel: %.300v", ours, theirs)
			}
		})
	}
}

// FuzzKernelPointers runs the verifier on arbitrary code after a load of fentry/
// tcp_connect's struct sock pointer into r7 (and, with attach, fexit's or tp_btf's
// context): it must give a verdict, never panic or fail otherwise.
func FuzzKernelPointers(f *testing.F) {
	for _, s := range []string{
		"ldxh %r2, [%r7+16]\nmov %r0, 0\nexit",
		"ldxdw %r2, [%r7+48]\nldxw %r3, [%r2+8]\nmov %r0, 0\nexit",
		"add %r7, 24\nldxb %r0, [%r7+0]\nexit",
		"mov %r1, %r7\ncall 137\njeq %r0, 0, +1\nldxw %r0, [%r0+1000]\nexit",
	} {
		insns, err := isa.Assemble(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(isa.Encode(insns), uint8(0))
	}
	spec, err := elfload.RunningKernelBTF()
	if err != nil {
		f.Skipf("no kernel BTF: %v", err)
	}
	attach := []struct {
		a      progtype.AttachType
		target string
	}{{progtype.AttachTraceFentry, "tcp_connect"}, {progtype.AttachTraceFexit, "tcp_connect"}, {progtype.AttachTraceRawTP, "sched_switch"}}
	f.Fuzz(func(t *testing.T, code []byte, which uint8) {
		body, err := isa.Decode(code)
		if err != nil {
			return
		}
		pre, _ := isa.Assemble("ldxdw %r7, [%r1+0]")
		at := attach[int(which)%len(attach)]
		p := &verifier.Program{Instructions: append(pre, body...), Type: progtype.Tracing, AttachType: at.a, AttachTo: at.target, KernelBTF: spec, Maps: testMaps}
		for i, ins := range p.Instructions {
			if ins.IsLDDW() && ins.Src == 1 {
				p.MapRefs = append(p.MapRefs, verifier.MapRef{Instruction: i, Map: int(ins.Imm()) % len(testMaps)})
			}
		}
		_, err = verifier.Verify(p, &verifier.Options{MaxInstructions: 20000})
		if err != nil && !errors.Is(err, verifier.ErrUnverifiable) {
			t.Fatalf("error %v is not ErrUnverifiable", err)
		}
	})
}
