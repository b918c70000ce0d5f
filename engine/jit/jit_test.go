//go:build amd64 && linux

package jit_test

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/engine/jit"
	"github.com/anybpf/anybpf/isa"
)

func compile(t *testing.T, src string, cfg engine.Config) *jit.Code {
	t.Helper()
	insns, err := isa.Assemble(src)
	if err != nil {
		t.Fatal(err)
	}
	code, err := jit.Compile(insns, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func TestRefused(t *testing.T) {
	insns, _ := isa.Assemble("mov %r0, 0\nexit")
	if _, err := jit.Compile(insns[:1], engine.Config{}); !errors.Is(err, isa.ErrInvalidProgram) {
		t.Errorf("no exit: %v, want ErrInvalidProgram", err)
	}
	unresolved := []isa.Instruction{{OpCode: isa.OpLDDW, Dst: 1, Src: isa.Register(isa.PseudoMapFD), Constant: 3}, {OpCode: isa.OpExit}}
	if _, err := jit.Compile(unresolved, engine.Config{}); !errors.Is(err, engine.ErrUnresolved) {
		t.Errorf("unresolved lddw: %v, want ErrUnresolved", err)
	}
	call, _ := isa.Assemble("call 99\nexit")
	if _, err := jit.Compile(call, engine.Config{}); !errors.Is(err, engine.ErrUnknownHelper) {
		t.Errorf("unknown helper: %v, want ErrUnknownHelper", err)
	}
}

func TestCallDepth(t *testing.T) {
	code := compile(t, "call local f\nexit\nf:\ncall local f\nexit", engine.Config{})
	_, err := code.Run(engine.NewEnv(), 0, 0)
	var re *engine.RuntimeError
	if !errors.Is(err, engine.ErrCallDepth) || !errors.As(err, &re) || re.PC != 2 {
		t.Fatalf("unbounded recursion: %v, want ErrCallDepth at pc 2", err)
	}
	// Seven nested calls (eight frames) are fine, each frame has its own stack, and r6
	// survives every call.
	src := "mov %r6, 100\nstdw [%r10-8], 1\ncall local f1\nldxdw %r1, [%r10-8]\nadd %r0, %r1\nadd %r0, %r6\nexit\n"
	for i := 1; i <= 7; i++ {
		src += "f" + string(rune('0'+i)) + ":\nmov %r6, 0\nstdw [%r10-8], " + string(rune('0'+i)) + "\n"
		if i < 7 {
			src += "call local f" + string(rune('0'+i+1)) + "\n"
		} else {
			src += "mov %r0, 0\n"
		}
		src += "ldxdw %r1, [%r10-8]\nadd %r0, %r1\nexit\n"
	}
	r0, err := compile(t, src, engine.Config{}).Run(engine.NewEnv(), 0, 0)
	if err != nil || r0 != 1+2+3+4+5+6+7+1+100 {
		t.Fatalf("eight frames: r0=%d err=%v, want 129", r0, err)
	}
}

func TestHelpers(t *testing.T) {
	helpers := map[int32]engine.HelperFunc{
		1: func(_ *engine.Env, a, b, c, d, e uint64) uint64 { return a + b + c + d + e },
		2: func(env *engine.Env, a, _, _, _, _ uint64) uint64 { env.Exit(a * 2); return 0 },
		3: func(env *engine.Env, _, _, _, _, _ uint64) uint64 { env.Abort(errors.New("boom")); return 0 },
	}
	cfg := engine.Config{Helpers: helpers}
	env := engine.NewEnv()
	r0, err := compile(t, "mov %r1, 1\nmov %r2, 2\nmov %r3, 3\nmov %r4, 4\nmov %r5, 5\nmov %r9, 9\ncall 1\nadd %r0, %r9\nexit", cfg).Run(env, 0, 0)
	if err != nil || r0 != 24 {
		t.Fatalf("sum helper: %d, %v", r0, err)
	}
	r0, err = compile(t, "mov %r1, 21\ncall 2\nmov %r0, 1\nexit", cfg).Run(env, 0, 0)
	if err != nil || r0 != 42 {
		t.Fatalf("exit helper: %d, %v", r0, err)
	}
	if _, err = compile(t, "call 3\nexit", cfg).Run(env, 0, 0); !errors.Is(err, engine.ErrHelperAbort) {
		t.Fatalf("abort helper: %v", err)
	}
	r0, err = compile(t, "mov %r1, 7\nmov %r6, 1\ncall %r6\nexit", cfg).Run(env, 0, 0)
	if err != nil || r0 != 7 {
		t.Fatalf("callx: %d, %v", r0, err)
	}
	if _, err = compile(t, "mov %r6, 99\ncall %r6\nexit", cfg).Run(env, 0, 0); !errors.Is(err, engine.ErrUnknownHelper) {
		t.Fatalf("callx unknown: %v", err)
	}
}

func TestTailCall(t *testing.T) {
	var next *jit.Code
	helpers := map[int32]engine.HelperFunc{
		12: func(env *engine.Env, _, _, _, _, _ uint64) uint64 { env.TailCall(next); return 0 },
	}
	next = compile(t, "ldxdw %r0, [%r10-8]\nadd %r0, %r1\nexit", engine.Config{})
	first := compile(t, "stdw [%r10-8], 5\nmov %r6, %r1\ncall 12\nmov %r0, 1\nexit", engine.Config{Helpers: helpers})
	env := engine.NewEnv()
	r0, err := first.Run(env, 100, 0)
	// The target runs with the same r1; its stack starts where the caller's did.
	if err != nil || r0 != 105 {
		t.Fatalf("tail call: r0=%d err=%v, want 105", r0, err)
	}
	// A checked target of an unchecked program checks and counts.
	next = compile(t, "ldxdw %r0, [%r10-8]\nldxb %r2, [%r1+0]\nexit", engine.Config{Checked: true})
	if _, err := first.Run(env, 100, 0); !errors.Is(err, engine.ErrMemoryAccess) || env.Executed != 2 {
		t.Fatalf("checked tail call: err=%v executed=%d, want a memory access error after 2 instructions", err, env.Executed)
	}
	// A target of another kind is left to the caller.
	other := struct{}{}
	helpers[12] = func(env *engine.Env, _, _, _, _, _ uint64) uint64 { env.TailCall(other); return 0 }
	first = compile(t, "call 12\nmov %r0, 1\nexit", engine.Config{Helpers: helpers})
	if _, err := first.Run(env, 0, 0); err != nil || env.TakeTailCall() != other {
		t.Fatalf("foreign tail call: err=%v", err)
	}
}

func TestLegacyPacketLoads(t *testing.T) {
	pkt := []byte{0x11, 0x22, 0x33, 0x44, 0x55}
	for _, tc := range []struct {
		src  string
		want uint64
	}{
		{"ldabsb 4\nexit", 0x55},
		{"ldabsh 1\nexit", 0x2233},
		{"ldabsw 0\nexit", 0x11223344},
		{"mov %r7, 2\nldindh %r7, 1\nexit", 0x4455},
		{"ldabsw 2\nmov %r0, 9\nexit", 0},
		{"mov %r7, -1\nldindb %r7, 0\nexit", 0},
	} {
		env := engine.NewEnv()
		env.Packet = pkt
		r0, err := compile(t, tc.src, engine.Config{}).Run(env, 0, 0)
		if err != nil || r0 != tc.want {
			t.Errorf("%q: r0=%#x err=%v, want %#x", tc.src, r0, err, tc.want)
		}
	}
}

func TestRunAt(t *testing.T) {
	code := compile(t, "mov %r0, 1\nexit\nf:\nmov %r0, %r1\nadd %r0, %r5\nexit\nlddw %r0, 0x100000000\nexit", engine.Config{})
	r0, err := code.RunAt(engine.NewEnv(), 2, 10, 0, 0, 0, 5)
	if err != nil || r0 != 15 {
		t.Fatalf("RunAt: %d, %v", r0, err)
	}
	for _, entry := range []int{-1, 6, 8} {
		if _, err := code.RunAt(engine.NewEnv(), entry, 0, 0, 0, 0, 0); !errors.Is(err, engine.ErrInvalidEntry) {
			t.Errorf("RunAt(%d): %v, want ErrInvalidEntry", entry, err)
		}
	}
}

func TestClose(t *testing.T) {
	code := compile(t, "mov %r0, 3\nexit", engine.Config{})
	if r0, err := code.Run(engine.NewEnv(), 0, 0); err != nil || r0 != 3 {
		t.Fatalf("Run: %d, %v", r0, err)
	}
	code.Close()
	code.Close()
	if _, err := code.Run(engine.NewEnv(), 0, 0); !errors.Is(err, jit.ErrClosed) {
		t.Fatalf("Run after Close: %v, want ErrClosed", err)
	}
}

// TestConcurrentRuns runs one Code from many goroutines, each with its own Env.
func TestConcurrentRuns(t *testing.T) {
	helpers := map[int32]engine.HelperFunc{1: func(_ *engine.Env, a, _, _, _, _ uint64) uint64 { runtime.Gosched(); return a }}
	code := compile(t, "mov %r7, 0\nmov %r6, 1000\nl:\nstxdw [%r10-8], %r6\nmov %r1, %r6\ncall 1\nldxdw %r3, [%r10-8]\nadd %r7, %r3\nsub %r6, 1\njne %r6, 0, l\nmov %r0, %r7\nexit", engine.Config{Helpers: helpers})
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			env := engine.NewEnv()
			for range 100 {
				r0, err := code.Run(env, 0, 0)
				if err == nil && r0 != 500500 {
					err = errors.New("wrong sum")
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestBudget(t *testing.T) {
	code := compile(t, "mov %r0, 0\nloop:\nadd %r0, 1\nja loop\nexit", engine.Config{Budget: 1000})
	env := engine.NewEnv()
	_, err := code.Run(env, 0, 0)
	if !errors.Is(err, engine.ErrBudgetExceeded) {
		t.Fatalf("infinite loop: %v, want ErrBudgetExceeded", err)
	}
	if env.Executed < 1000 || env.Executed > 1010 {
		t.Fatalf("executed %d instructions, want about 1000", env.Executed)
	}
	counted := compile(t, "mov %r0, 0\nmov %r1, 10\nl:\nadd %r0, 2\nsub %r1, 1\njne %r1, 0, l\nexit", engine.Config{Budget: 1 << 20})
	r0, err := counted.Run(env, 0, 0)
	if err != nil || r0 != 20 {
		t.Fatalf("Run = %d, %v", r0, err)
	}
	if env.Executed != 2+10*3+1 {
		t.Fatalf("executed %d, want %d", env.Executed, 2+10*3+1)
	}
	// A run longer than the interval between yields to the scheduler counts on exactly.
	long := compile(t, "mov %r0, 0\nmov %r1, 3000000\nl:\nadd %r0, 2\nsub %r1, 1\njne %r1, 0, l\nexit", engine.Config{Budget: 1 << 40})
	r0, err = long.Run(env, 0, 0)
	if err != nil || r0 != 6000000 || env.Executed != 2+3000000*3+1 {
		t.Fatalf("long run: r0=%d err=%v executed=%d", r0, err, env.Executed)
	}
	// Recursion without end is stopped by the call depth; a deep loop of calls by the budget.
	calls := compile(t, "mov %r6, 0\nl:\ncall local f\nadd %r6, 1\nja l\nf:\nmov %r0, 1\nexit", engine.Config{Budget: 500})
	if _, err := calls.Run(env, 0, 0); !errors.Is(err, engine.ErrBudgetExceeded) {
		t.Fatalf("loop of calls: %v, want ErrBudgetExceeded", err)
	}
}

func TestCheckedMemory(t *testing.T) {
	for _, tc := range []struct {
		name  string
		src   string
		mem   int
		ok    bool
		write bool
	}{
		{"in bounds", "ldxdw %r0, [%r1+8]\nexit", 16, true, false},
		{"last byte", "ldxb %r0, [%r1+15]\nexit", 16, true, false},
		{"one past end", "ldxb %r0, [%r1+16]\nexit", 16, false, false},
		{"straddles end", "ldxw %r0, [%r1+14]\nexit", 16, false, false},
		{"before start", "ldxb %r0, [%r1-1]\nexit", 16, false, false},
		{"null", "mov %r1, 0\nldxb %r0, [%r1+0]\nexit", 16, false, false},
		{"small region", "ldxh %r0, [%r1+0]\nexit", 2, true, false},
		{"small region overflow", "ldxw %r0, [%r1+0]\nexit", 2, false, false},
		{"stack top", "stdw [%r10-8], 1\nldxdw %r0, [%r10-8]\nexit", 0, true, true},
		{"above stack", "ldxb %r0, [%r10+0]\nexit", 0, false, false},
		{"deepest frame", "ldxb %r0, [%r10-4096]\nexit", 0, true, false},
		{"below stack", "ldxb %r0, [%r10-4097]\nexit", 0, false, false},
		{"store out of bounds", "stxw [%r1+16], %r1\nmov %r0, 0\nexit", 16, false, true},
		{"immediate store out of bounds", "stw [%r1+13], 1\nmov %r0, 0\nexit", 16, false, true},
		{"atomic in bounds", "mov %r2, 1\nlock add [%r1+8], %r2\nmov %r0, 0\nexit", 16, true, true},
		{"atomic misaligned", "mov %r2, 1\nlock add [%r1+4], %r2\nmov %r0, 0\nexit", 16, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code := compile(t, tc.src, engine.Config{Checked: true})
			env := engine.NewEnv()
			mem := make([]byte, tc.mem)
			var r1 uint64
			if tc.mem > 0 {
				reg := engine.RegionOf("mem", mem, true)
				env.AddRegion(reg)
				r1 = uint64(reg.Addr)
			}
			_, err := code.Run(env, r1, 0)
			runtime.KeepAlive(mem)
			if tc.ok {
				if err != nil {
					t.Fatalf("Run = %v, want success", err)
				}
				return
			}
			var re *engine.RuntimeError
			if !errors.Is(err, engine.ErrMemoryAccess) || !errors.As(err, &re) || re.Write != tc.write || re.PC != strings.Count(tc.src[:strings.Index(tc.src, "[")], "\n") {
				t.Fatalf("Run = %v, want a memory access error (write=%v)", err, tc.write)
			}
		})
	}
}

// TestCheckedRegions covers the regions checked outside native code: every region after
// the first, and read-only regions.
func TestCheckedRegions(t *testing.T) {
	code := compile(t, "ldxb %r0, [%r1+0]\nldxb %r3, [%r2+3]\nadd %r0, %r3\nstb [%r1+0], 7\nexit", engine.Config{Checked: true})
	a, b := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, []byte{10, 20, 30, 40}
	env := engine.NewEnv()
	ra, rb := engine.RegionOf("a", a, false), engine.RegionOf("b", b, true)
	env.AddRegion(ra)
	env.AddRegion(rb)
	// The second region is writable, the first is not.
	if _, err := code.Run(env, uint64(ra.Addr), uint64(rb.Addr)); !errors.Is(err, engine.ErrMemoryAccess) || a[0] != 1 {
		t.Fatalf("store to read-only region: %v, want ErrMemoryAccess", err)
	}
	r0, err := code.Run(env, uint64(rb.Addr), uint64(rb.Addr))
	if err != nil || r0 != 10+40 || b[0] != 7 {
		t.Fatalf("second region: r0=%d err=%v b[0]=%d", r0, err, b[0])
	}
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
}

func TestUninitializedRegisters(t *testing.T) {
	for _, tc := range []struct {
		src string
		ok  bool
	}{
		{"exit", false},
		{"mov %r0, %r6\nexit", false},
		{"mov %r0, %r1\nexit", true},
		{"mov %r6, 1\ncall 1\nmov %r0, %r6\nexit", true},
		{"call 1\nmov %r0, %r1\nexit", false},
	} {
		insns, err := isa.Assemble(tc.src)
		if err != nil {
			t.Fatal(err)
		}
		cfg := engine.Config{Checked: true, Helpers: map[int32]engine.HelperFunc{1: func(*engine.Env, uint64, uint64, uint64, uint64, uint64) uint64 { return 0 }}}
		_, err = jit.Compile(insns, cfg)
		if tc.ok && err != nil {
			t.Errorf("%q: %v, want accepted", tc.src, err)
		}
		if !tc.ok && !errors.Is(err, engine.ErrUninitialized) {
			t.Errorf("%q: %v, want ErrUninitialized", tc.src, err)
		}
	}
}
