package elfload_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/anybpf/anybpf/internal/elfload"
	"github.com/anybpf/anybpf/internal/testutil"
	"github.com/anybpf/anybpf/isa"
)

// TestCOREContext: CO-RE field accesses on xdp_md (with the fields of the local type in
// another order), __sk_buff, ethhdr and an iphdr bitfield resolve to Linux's offsets.
func TestCOREContext(t *testing.T) {
	obj, err := elfload.LoadFile(filepath.Join("testdata", "core_ctx.o"))
	if err != nil {
		t.Fatal(err)
	}
	p := obj.Program("core_xdp")
	if p == nil {
		t.Fatal("core_xdp not found")
	}
	if len(p.Poisoned) != 0 {
		t.Errorf("poisoned: %v", p.Poisoned)
	}
	want := map[int]string{
		1:  "r2 = *(u32 *)(r1 + 0)",  // c->data: local offset 4
		2:  "r3 = 0",                 // bpf_core_field_exists(c->not_in_linux)
		5:  "r1 = *(u32 *)(r1 + 4)",  // c->data_end: local offset 0
		10: "r1 = *(u16 *)(r2 + 12)", // eth->h_proto
		15: "r3 = 1",                 // bitfield byte size
		30: "r1 <<= 60",              // bitfield left shift
		35: "r1 >>= 60",              // bitfield right shift
	}
	for i, w := range want {
		if got := p.Instructions[i].String(); got != w {
			t.Errorf("instruction %d: %q, want %q", i, got, w)
		}
	}
	skb := obj.Program("core_skb")
	var offs []int16
	for _, ins := range skb.Instructions {
		if ins.Class() == isa.ClassLDX {
			offs = append(offs, ins.Offset)
		}
	}
	// __sk_buff: len at 0, mark at 8.
	if len(offs) != 2 || offs[0] != 0 || offs[1] != 8 {
		t.Errorf("__sk_buff loads at offsets %v, want [0 8]:\n%s", offs, isa.Disassemble(skb.Instructions, isa.SyntaxLLVM))
	}
}

// TestCOREMissing: a field or type anybpf lacks refuses a program anybpf runs, naming it;
// in a kprobe program the instruction is poisoned instead.
func TestCOREMissing(t *testing.T) {
	for file, want := range map[string]string{
		"core_missing_field.o":    "struct xdp_md has no field no_such_field",
		"core_missing_type_xdp.o": "anybpf has no type struct task_struct",
	} {
		_, err := elfload.LoadFile(filepath.Join("testdata", file))
		if err == nil {
			t.Errorf("%s: loaded", file)
			continue
		}
		if !strings.Contains(err.Error(), want) || !errors.Is(err, elfload.ErrCORE) || !errors.Is(err, elfload.ErrNotSupported) {
			t.Errorf("%s: error %q, want one saying %q and wrapping ErrCORE", file, err, want)
		}
	}
	obj, err := elfload.LoadFileWith(filepath.Join("testdata", "core_missing_type.o"), elfload.Options{NoKernelBTF: true})
	if err != nil {
		t.Fatal(err)
	}
	p := obj.Program("probe")
	if len(p.Poisoned) != 1 || !strings.Contains(p.Poisoned[0].Reason, "task_struct") || !strings.Contains(p.Poisoned[0].Reason, "kernel's BTF") {
		t.Fatalf("poisoned: %+v", p.Poisoned)
	}
	ins := p.Instructions[p.Poisoned[0].Instruction]
	if !ins.IsHelperCall() || ins.Constant != elfload.COREPoisonHelper {
		t.Errorf("poisoned instruction is %s", ins)
	}
}

// kernelBTF returns the running kernel's BTF or skips the test.
func kernelBTF(t *testing.T) *btf.Spec {
	t.Helper()
	spec, err := elfload.RunningKernelBTF()
	if err != nil {
		t.Skipf("no kernel BTF: %v", err)
	}
	return spec
}

// memberOffset returns the byte offset of the member path (dotted, through nested
// structs and unions) in the kernel's struct name.
func memberOffset(t *testing.T, spec *btf.Spec, name, path string) int {
	t.Helper()
	var s *btf.Struct
	if err := spec.TypeByName(name, &s); err != nil {
		t.Fatal(err)
	}
	var typ btf.Type = s
	off := 0
next:
	for _, field := range strings.Split(path, ".") {
		var members []btf.Member
		switch c := btf.UnderlyingType(typ).(type) {
		case *btf.Struct:
			members = c.Members
		case *btf.Union:
			members = c.Members
		}
		for _, m := range members {
			if m.Name == field {
				off += int(m.Offset.Bytes())
				typ = m.Type
				continue next
			}
		}
		t.Fatalf("struct %s has no %s", name, path)
	}
	return off
}

// TestCOREKernel: a kprobe program's CO-RE access to task_struct, a type anybpf does not
// have, resolves against the kernel's BTF as libbpf would, to the kernel's offset.
func TestCOREKernel(t *testing.T) {
	spec := kernelBTF(t)
	for _, opts := range []elfload.Options{{}, {KernelBTF: spec}} {
		obj, err := elfload.LoadFileWith(filepath.Join("testdata", "core_missing_type.o"), opts)
		if err != nil {
			t.Fatal(err)
		}
		p := obj.Program("probe")
		if len(p.Poisoned) != 0 {
			t.Fatalf("poisoned: %+v", p.Poisoned)
		}
		want := memberOffset(t, spec, "task_struct", "pid")
		found := false
		for _, ins := range p.Instructions {
			if ins.Class() == isa.ClassLDX && ins.OpCode&0x18 == isa.SizeW {
				found = true
				if int(ins.Offset) != want {
					t.Errorf("t->pid read at offset %d, the kernel's is %d", ins.Offset, want)
				}
			}
		}
		if !found {
			t.Errorf("no 4-byte load in\n%s", isa.Disassemble(p.Instructions, isa.SyntaxLLVM))
		}
	}
	// Programs anybpf runs keep anybpf's types: the XDP copy is still refused.
	_, err := elfload.LoadFileWith(filepath.Join("testdata", "core_missing_type_xdp.o"), elfload.Options{KernelBTF: spec})
	if !errors.Is(err, elfload.ErrCORE) {
		t.Errorf("XDP program with a kernel type: %v, want ErrCORE", err)
	}
}

// TestCORECorpus: the sample objects with CO-RE relocations: tcprtt_sockops's accesses to
// bpf_sock_ops resolve; tcprtt's to the kernel's struct sock (fentry) resolve against the
// kernel's BTF, or are poisoned without it.
func TestCORECorpus(t *testing.T) {
	dir := testutil.CorpusDir(t, "ebpf-samples")
	obj, err := elfload.LoadFile(filepath.Join(dir, "cilium-examples", "tcprtt_sockops_bpf_bpfel.o"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range obj.Programs {
		if len(p.Poisoned) != 0 {
			t.Errorf("%s: poisoned %v", p.Name, p.Poisoned)
		}
	}
	obj, err = elfload.LoadFileWith(filepath.Join(dir, "cilium-examples", "tcprtt_bpf_bpfel.o"), elfload.Options{NoKernelBTF: true})
	if err != nil {
		t.Fatal(err)
	}
	if p := obj.Program("tcp_close"); p == nil || len(p.Poisoned) == 0 {
		t.Errorf("tcp_close: nothing poisoned")
	}
	spec := kernelBTF(t)
	obj, err = elfload.LoadFile(filepath.Join(dir, "cilium-examples", "tcprtt_bpf_bpfel.o"))
	if err != nil {
		t.Fatal(err)
	}
	p := obj.Program("tcp_close")
	if len(p.Poisoned) != 0 {
		t.Fatalf("tcp_close: poisoned %+v", p.Poisoned)
	}
	// Instruction 1 reads sk->__sk_common.skc_family.
	if got, want := int(p.Instructions[1].Offset), memberOffset(t, spec, "sock", "__sk_common.skc_family"); got != want {
		t.Errorf("tcp_close reads skc_family at %d, the kernel has it at %d", got, want)
	}
}

// TestCORESharedCode: a .text function with a CO-RE access to task_struct, called by a
// kprobe program, is linked into it resolved against the kernel's BTF (poisoned without
// one); alone, as the untyped function it also is, it is poisoned rather than failing
// the whole object; the XDP program of the object, which does not call it, loads clean.
func TestCORESharedCode(t *testing.T) {
	path := filepath.Join("testdata", "core_shared.o")
	obj, err := elfload.LoadFileWith(path, elfload.Options{NoKernelBTF: true})
	if err != nil {
		t.Fatal(err)
	}
	if p := obj.Program("probe"); p == nil || len(p.Poisoned) != 1 {
		t.Errorf("probe without kernel BTF: want one poisoned instruction, got %+v", p)
	}
	if p := obj.Program("tgid_of"); p == nil || len(p.Poisoned) != 1 {
		t.Errorf("tgid_of alone: want one poisoned instruction, got %+v", p)
	}
	if p := obj.Program("pass"); p == nil || len(p.Poisoned) != 0 {
		t.Errorf("pass: %+v", p)
	}
	spec := kernelBTF(t)
	obj, err = elfload.LoadFileWith(path, elfload.Options{KernelBTF: spec})
	if err != nil {
		t.Fatal(err)
	}
	p := obj.Program("probe")
	if len(p.Poisoned) != 0 {
		t.Fatalf("probe: poisoned %+v", p.Poisoned)
	}
	want := memberOffset(t, spec, "task_struct", "tgid")
	found := false
	for _, ins := range p.Instructions {
		if ins.Class() == isa.ClassLDX {
			found = true
			if int(ins.Offset) != want {
				t.Errorf("tgid read at %d, the kernel has it at %d", ins.Offset, want)
			}
		}
	}
	if !found {
		t.Errorf("probe does not read tgid:\n%s", isa.Disassemble(p.Instructions, isa.SyntaxLLVM))
	}
	if p := obj.Program("tgid_of"); p == nil || len(p.Poisoned) != 1 {
		t.Errorf("tgid_of alone keeps anybpf's types (poisoned): %+v", p)
	}
}
