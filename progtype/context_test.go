package progtype

import (
	"errors"
	"testing"

	"github.com/anybpf/anybpf/isa"
)

func TestRewriteContext(t *testing.T) {
	for _, tc := range []struct {
		name string
		asm  string
		ok   bool
		// want is the rewritten instruction at index at, in llvm syntax
		at   int
		want string
	}{
		{"data", "ldxw %r2, [%r1+0]\nmov %r0, 2\nexit", true, 0, "r2 = *(u64 *)(r1 + 0)"},
		{"data_end", "ldxw %r3, [%r1+4]\nmov %r0, 2\nexit", true, 0, "r3 = *(u64 *)(r1 + 8)"},
		{"ifindex", "ldxw %r3, [%r1+12]\nmov %r0, 2\nexit", true, 0, "r3 = *(u32 *)(r1 + 24)"},
		{"through a copy", "mov %r6, %r1\nldxw %r3, [%r6+16]\nmov %r0, 2\nexit", true, 1, "r3 = *(u32 *)(r6 + 28)"},
		{"through ctx+4", "mov %r6, %r1\nadd %r6, 4\nldxw %r3, [%r6+0]\nmov %r0, 2\nexit", true, 2, "r3 = *(u64 *)(r6 + 4)"},
		{"through the stack", "stxdw [%r10-8], %r1\nldxdw %r7, [%r10-8]\nldxw %r3, [%r7+4]\nmov %r0, 2\nexit", true, 2, "r3 = *(u64 *)(r7 + 8)"},
		{"not a field", "ldxw %r2, [%r1+2]\nmov %r0, 2\nexit", false, 0, ""},
		{"wrong size", "ldxdw %r2, [%r1+0]\nmov %r0, 2\nexit", false, 0, ""},
		{"past the end", "ldxw %r2, [%r1+24]\nmov %r0, 2\nexit", false, 0, ""},
		{"read-only", "stw [%r1+12], 1\nmov %r0, 2\nexit", false, 0, ""},
		{"ctx or not", "mov %r6, %r1\njeq %r2, 0, +1\nmov %r6, %r10\nldxw %r3, [%r6+0]\nmov %r0, 2\nexit", false, 0, ""},
		{"clobbered by a call", "mov %r0, 0\ncall 7\nldxw %r3, [%r1+0]\nexit", true, 2, "r3 = *(u32 *)(r1 + 0)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			insns, err := isa.Assemble(tc.asm)
			if err != nil {
				t.Fatal(err)
			}
			out, err := RewriteContext(insns, XDPContext)
			if !tc.ok {
				if !errors.Is(err, ErrContextAccess) {
					t.Fatalf("RewriteContext = %v, want ErrContextAccess", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := out[tc.at].String(); got != tc.want {
				t.Fatalf("instruction %d = %q, want %q", tc.at, got, tc.want)
			}
			if insns[tc.at].String() == out[tc.at].String() && tc.name != "clobbered by a call" {
				t.Fatal("input changed in place or nothing rewritten")
			}
		})
	}
}
