package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anybpf/anybpf/internal/elfload"
)

// TestProgVerifyKernelBTF: `prog verify` judges fentry, fexit and tp_btf programs against
// the running kernel's BTF, or the one kernel_btf names; with kernel_btf none, it says
// what is missing.
func TestProgVerifyKernelBTF(t *testing.T) {
	if _, err := elfload.RunningKernelBTF(); err != nil {
		t.Skipf("no kernel BTF: %v", err)
	}
	obj := filepath.Join("..", "..", "verifier", "testdata", "kptr.o")
	for _, tc := range []struct {
		args []string
		want []string
		code int
	}{
		{nil, []string{"connect_entry (tracing, section fentry/tcp_connect): verified", "on_switch (tracing, section tp_btf/sched_switch): verified"}, 0},
		{[]string{"kernel_btf", "/sys/kernel/btf/vmlinux"}, []string{"connect_exit (tracing, section fexit/tcp_connect): verified"}, 0},
		{[]string{"kernel_btf", "none", "name", "connect_entry"}, []string{"refused: ", "fentry/tcp_connect: argument 0 may be a kernel pointer; anybpf needs the kernel's BTF to check it"}, 1},
	} {
		out, _, err := run(t, "", append([]string{"prog", "verify", obj}, tc.args...)...)
		var ee *exitError
		switch {
		case tc.code == 0 && err != nil:
			t.Errorf("%v: %v\n%s", tc.args, err, out)
		case tc.code != 0 && (!errors.As(err, &ee) || ee.code != tc.code):
			t.Errorf("%v: error %v, want exit status %d\n%s", tc.args, err, tc.code, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output lacks %q:\n%s", tc.args, w, out)
			}
		}
	}
	// Raw bytecode names its attach target in its type.
	raw := writeProgram(t, "ldxdw %r7, [%r1+0]\nldxh %r0, [%r7+0]\nmov %r0, 0\nexit")
	if out, _, err := run(t, "", "prog", "verify", raw, "type", "fentry/tcp_connect"); err != nil || !strings.HasPrefix(out, "verified: ") {
		t.Errorf("raw fentry/tcp_connect: %v\n%s", err, out)
	}
	if out, _, err := run(t, "", "prog", "verify", raw, "type", "fentry"); err == nil || !strings.Contains(out, "name the kernel function they attach to") {
		t.Errorf("raw fentry without a target: %v\n%s", err, out)
	}
	if _, _, err := run(t, "", "prog", "verify", obj, "kernel_btf", filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("kernel_btf of a missing file accepted")
	}
}
