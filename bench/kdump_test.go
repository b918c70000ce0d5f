package bench

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/arch/x86/x86asm"
)

// TestKernelJITDump prints the Linux kernel JIT's x86-64 code for the program "bench"
// of the object ANYBPF_KERNEL_DUMP names, to compare with `anybpf prog dump jited`
// (bpftool's own dump needs a libbfd build):
//
//	ANYBPF_KERNEL_DUMP=xdpcompute/crc32.xdp.o go test ./bench -run KernelJITDump -v
func TestKernelJITDump(t *testing.T) {
	obj := os.Getenv("ANYBPF_KERNEL_DUMP")
	if obj == "" {
		t.Skip("set ANYBPF_KERNEL_DUMP=OBJECT to print the kernel's code for it")
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Skipf("bpf() not usable: %v", err)
	}
	kc, err := ebpf.LoadCollection(obj)
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	info, err := kc.Programs["bench"].Info()
	if err != nil {
		t.Fatal(err)
	}
	code, ok := info.JitedInsns()
	if !ok {
		t.Skip("the kernel does not give out the JIT's code (root and bpf_jit_enable needed)")
	}
	var sb strings.Builder
	for pc := 0; pc < len(code); {
		inst, err := x86asm.Decode(code[pc:], 64)
		if err != nil {
			fmt.Fprintf(&sb, "%4x:\t(bad) %#02x\n", pc, code[pc])
			pc++
			continue
		}
		fmt.Fprintf(&sb, "%4x:\t%s\n", pc, x86asm.GNUSyntax(inst, uint64(pc), nil))
		pc += inst.Len
	}
	t.Logf("%s, the kernel's JIT:\n%s", obj, sb.String())
}
