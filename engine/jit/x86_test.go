//go:build amd64 && linux

package jit

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/isa"
)

// objdump disassembles machine code with GNU objdump in Intel syntax, one instruction a
// line, or skips the test when objdump is not installed.
func objdump(t *testing.T, code []byte) []string {
	t.Helper()
	tool, err := exec.LookPath("objdump")
	if err != nil {
		t.Skip("objdump not installed")
	}
	f := filepath.Join(t.TempDir(), "code.bin")
	if err := os.WriteFile(f, code, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "-D", "-b", "binary", "-m", "i386:x86-64", "-M", "intel", f).CombinedOutput()
	if err != nil {
		t.Fatalf("objdump: %v\n%s", err, out)
	}
	line := regexp.MustCompile(`^\s*[0-9a-f]+:\s+(?:[0-9a-f]{2} )+\s*(.*)$`)
	var insns []string
	for _, l := range strings.Split(string(out), "\n") {
		if m := line.FindStringSubmatch(l); m != nil && m[1] != "" {
			insns = append(insns, strings.Join(strings.Fields(m[1]), " "))
		}
	}
	return insns
}

func TestEncoding(t *testing.T) {
	cases := []struct {
		emit func(a *asm)
		want string
	}{
		{func(a *asm) { a.jcc(ccL, 0) }, "jl 0x0"}, // short
		{func(a *asm) { a.jmp(0) }, "jmp 0x0"},     // short
		{func(a *asm) { a.aluRR(s64, aluAdd, rax, r15) }, "add rax,r15"},
		{func(a *asm) { a.aluRR(s32, aluSub, r12, rdi) }, "sub r12d,edi"},
		{func(a *asm) { a.aluRI(s64, aluXor, rbx, 5) }, "xor rbx,0x5"},
		{func(a *asm) { a.aluRI(s32, aluAnd, r13, 0x12345) }, "and r13d,0x12345"},
		{func(a *asm) { a.aluRI(s64, aluCmp, r8, -1) }, "cmp r8,0xffffffffffffffff"},
		{func(a *asm) { a.movRR(s32, rsi, r14) }, "mov esi,r14d"},
		{func(a *asm) { a.movRI(r9, 0) }, "xor r9d,r9d"},
		{func(a *asm) { a.movRI(rcx, 0xffffffff) }, "mov ecx,0xffffffff"},
		{func(a *asm) { a.movRI(rdx, 0xfffffffffffffffe) }, "mov rdx,0xfffffffffffffffe"},
		{func(a *asm) { a.movRI(r11, 0x123456789) }, "movabs r11,0x123456789"},
		{func(a *asm) { a.load(s8, rdi, at(r12, -8)) }, "movzx edi,BYTE PTR [r12-0x8]"},
		{func(a *asm) { a.load(s16, rax, at(r13, 0)) }, "movzx eax,WORD PTR [r13+0x0]"},
		{func(a *asm) { a.load(s32, r8, at(rbx, 0x200)) }, "mov r8d,DWORD PTR [rbx+0x200]"},
		{func(a *asm) { a.load(s64, r15, at(rsp, 16)) }, "mov r15,QWORD PTR [rsp+0x10]"},
		{func(a *asm) { a.loadSX(s8, rsi, at(rdi, 1)) }, "movsx rsi,BYTE PTR [rdi+0x1]"},
		{func(a *asm) { a.loadSX(s16, rsi, at(rdi, 1)) }, "movsx rsi,WORD PTR [rdi+0x1]"},
		{func(a *asm) { a.loadSX(s32, r14, at(r12, -4)) }, "movsxd r14,DWORD PTR [r12-0x4]"},
		{func(a *asm) { a.store(s8, at(r12, -1), rsi) }, "mov BYTE PTR [r12-0x1],sil"},
		{func(a *asm) { a.store(s16, at(rax, 2), r9) }, "mov WORD PTR [rax+0x2],r9w"},
		{func(a *asm) { a.store(s64, at(r9, 88), rax) }, "mov QWORD PTR [r9+0x58],rax"},
		{func(a *asm) { a.storeImm(s8, at(rdi, 3), -1) }, "mov BYTE PTR [rdi+0x3],0xff"},
		{func(a *asm) { a.storeImm(s16, at(rdi, 3), 0x1234) }, "mov WORD PTR [rdi+0x3],0x1234"},
		{func(a *asm) { a.storeImm(s64, at(r12, -512), -2) }, "mov QWORD PTR [r12-0x200],0xfffffffffffffffe"},
		{func(a *asm) { a.load(s64, rbx, mem{base: r9, index: r11, scale: 1, disp: 128}) }, "mov rbx,QWORD PTR [r9+r11*1+0x80]"},
		{func(a *asm) { a.jmpMem(at(r9, 104)) }, "jmp QWORD PTR [r9+0x68]"},
		{func(a *asm) { a.lea(r11, at(r12, -16)) }, "lea r11,[r12-0x10]"},
		{func(a *asm) { a.unary(s64, unNeg, r13) }, "neg r13"},
		{func(a *asm) { a.unary(s32, unDiv, r11) }, "div r11d"},
		{func(a *asm) { a.unary(s64, unIDiv, r11) }, "idiv r11"},
		{func(a *asm) { a.imulRR(s64, rdi, r15) }, "imul rdi,r15"},
		{func(a *asm) { a.imulRI(s32, rsi, 1000) }, "imul esi,esi,0x3e8"},
		{func(a *asm) { a.shiftRI(s64, shSar, r8, 63) }, "sar r8,0x3f"},
		{func(a *asm) { a.shiftRCL(s32, shShl, rdi) }, "shl edi,cl"},
		{func(a *asm) { a.movzx16(r12, r12) }, "movzx r12d,r12w"},
		{func(a *asm) { a.movsx(s64, s8, rax, rsi) }, "movsx rax,sil"},
		{func(a *asm) { a.movsx(s32, s16, r8, rdi) }, "movsx r8d,di"},
		{func(a *asm) { a.movsx(s64, s32, rbx, r15) }, "movsxd rbx,r15d"},
		{func(a *asm) { a.bswap(s32, r13) }, "bswap r13d"},
		{func(a *asm) { a.bswap(s64, rdi) }, "bswap rdi"},
		{func(a *asm) { a.rol16(rsi, 8) }, "rol si,0x8"},
		{func(a *asm) { a.testRI(s64, rdx, 0x40) }, "test rdx,0x40"},
		{func(a *asm) { a.testRR(s32, r14, rcx) }, "test r14d,ecx"},
		{func(a *asm) { a.aluMR(s64, aluOr, at(r11, 0), r15, true) }, "lock or QWORD PTR [r11],r15"},
		{func(a *asm) { a.xadd(s32, at(r11, 0), rsi) }, "lock xadd DWORD PTR [r11],esi"},
		{func(a *asm) { a.xchg(s64, at(r11, 0), rax) }, "xchg QWORD PTR [r11],rax"},
		{func(a *asm) { a.cmpxchg(s32, at(r11, 0), r10) }, "lock cmpxchg DWORD PTR [r11],r10d"},
		{func(a *asm) { a.aluRM(s32, aluXor, r10, at(r9, 120)) }, "xor r10d,DWORD PTR [r9+0x78]"},
		{func(a *asm) { a.cqo(s64) }, "cqo"},
		{func(a *asm) { a.cqo(s32) }, "cdq"},
		{func(a *asm) { a.ret() }, "ret"},
		{func(a *asm) { a.jcc(ccL, 0) }, "jl 0x0"},
		{func(a *asm) { a.jmp(0) }, "jmp 0x0"},
	}
	var a asm
	a.bind(a.newLabel()) // label 0 at offset 0, for the backward jumps
	for _, c := range cases {
		c.emit(&a)
	}
	if !a.resolve() {
		t.Fatal("unbound label")
	}
	if a.b[0] != 0x7c || a.b[2] != 0xeb || len(a.fixups) != 2 {
		t.Fatalf("jumps: % x, %d long", a.b[:4], len(a.fixups))
	}
	got := objdump(t, a.b)
	if len(got) != len(cases) {
		t.Fatalf("objdump found %d instructions, want %d:\n%s", len(got), len(cases), strings.Join(got, "\n"))
	}
	for i, c := range cases {
		if got[i] != c.want {
			t.Errorf("case %d: got %q, want %q", i, got[i], c.want)
		}
	}
}

// TestNative disassembles a compiled program and checks that the slot offsets point at
// instruction boundaries.
func TestNative(t *testing.T) {
	insns := []isa.Instruction{
		{OpCode: isa.OpLDDW, Dst: isa.R0, Constant: 0x1122334455667788},
		{OpCode: uint8(isa.ClassALU64) | isa.AluAdd | isa.SrcX, Dst: isa.R0, Src: isa.R1},
		{OpCode: isa.OpExit},
	}
	code, err := Compile(insns, engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	text, slots := code.Native()
	if len(slots) != 4 || slots[1] != -1 || slots[0] >= slots[2] || slots[2] >= slots[3] || slots[3] >= len(text) {
		t.Fatalf("slots %v for %d bytes of code", slots, len(text))
	}
	got := objdump(t, text[slots[0]:slots[3]])
	want := []string{"movabs rax,0x1122334455667788", "add rax,rdi"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Fatalf("got %q, want %q", got, want)
	}
}
