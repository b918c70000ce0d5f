package interp_test

import (
	"errors"
	"runtime"
	"testing"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/engine/interp"
	"github.com/anybpf/anybpf/isa"
)

func compile(t *testing.T, src string, cfg engine.Config) *interp.Code {
	t.Helper()
	insns, err := isa.Assemble(src)
	if err != nil {
		t.Fatal(err)
	}
	code, err := interp.Compile(insns, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func runWith(t *testing.T, code *interp.Code, mem []byte) (uint64, *engine.Env, error) {
	t.Helper()
	env := engine.NewEnv()
	env.Packet = mem
	var r1, r2 uint64
	if len(mem) > 0 {
		reg := engine.RegionOf("mem", mem, true)
		env.AddRegion(reg)
		r1, r2 = uint64(reg.Addr), uint64(len(mem))
	}
	r0, err := code.Run(env, r1, r2)
	runtime.KeepAlive(mem)
	return r0, env, err
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
		{"atomic in bounds", "mov %r2, 1\nlock add [%r1+8], %r2\nmov %r0, 0\nexit", 16, true, true},
		{"atomic misaligned", "mov %r2, 1\nlock add [%r1+4], %r2\nmov %r0, 0\nexit", 16, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code := compile(t, tc.src, engine.Config{Checked: true})
			_, _, err := runWith(t, code, make([]byte, tc.mem))
			if tc.ok {
				if err != nil {
					t.Fatalf("Run = %v, want success", err)
				}
				return
			}
			var re *engine.RuntimeError
			if !errors.Is(err, engine.ErrMemoryAccess) || !errors.As(err, &re) || re.Write != tc.write {
				t.Fatalf("Run = %v, want a memory access error (write=%v)", err, tc.write)
			}
		})
	}
}

func TestReadOnlyRegion(t *testing.T) {
	code := compile(t, "ldxb %r0, [%r1+0]\nstb [%r1+0], 7\nexit", engine.Config{Checked: true})
	mem := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9}
	env := engine.NewEnv()
	reg := engine.RegionOf("ro", mem, false)
	env.AddRegion(reg)
	_, err := code.Run(env, uint64(reg.Addr), 9)
	if !errors.Is(err, engine.ErrMemoryAccess) {
		t.Fatalf("store to read-only region: %v, want ErrMemoryAccess", err)
	}
	if mem[0] != 1 {
		t.Fatalf("read-only memory changed")
	}
}

func TestBudget(t *testing.T) {
	loop := "mov %r0, 0\nloop:\nadd %r0, 1\nja loop\nexit"
	code := compile(t, loop, engine.Config{Budget: 1000})
	_, env, err := runWith(t, code, nil)
	if !errors.Is(err, engine.ErrBudgetExceeded) {
		t.Fatalf("infinite loop: %v, want ErrBudgetExceeded", err)
	}
	if env.Executed < 1000 || env.Executed > 1010 {
		t.Fatalf("executed %d instructions, want about 1000", env.Executed)
	}
	// Exact counting, with the fused pairs too: 2 + 10*3 + 1.
	counted := compile(t, "mov %r0, 0\nmov %r1, 10\nl:\nadd %r0, 2\nsub %r1, 1\njne %r1, 0, l\nexit", engine.Config{Checked: true})
	r0, env, err := runWith(t, counted, nil)
	if err != nil || r0 != 20 {
		t.Fatalf("Run = %d, %v", r0, err)
	}
	if env.Executed != 2+10*3+1 {
		t.Fatalf("executed %d, want %d", env.Executed, 2+10*3+1)
	}
}

func TestCallDepth(t *testing.T) {
	// f calls itself forever; the ninth frame must be refused.
	code := compile(t, "call local f\nexit\nf:\ncall local f\nexit", engine.Config{Checked: true})
	_, _, err := runWith(t, code, nil)
	if !errors.Is(err, engine.ErrCallDepth) {
		t.Fatalf("unbounded recursion: %v, want ErrCallDepth", err)
	}
	// Seven nested calls (eight frames) are fine, and each frame has its own stack.
	src := "stdw [%r10-8], 1\ncall local f1\nldxdw %r1, [%r10-8]\nadd %r0, %r1\nexit\n"
	for i := 1; i <= 7; i++ {
		src += "f" + string(rune('0'+i)) + ":\nstdw [%r10-8], " + string(rune('0'+i)) + "\n"
		if i < 7 {
			src += "call local f" + string(rune('0'+i+1)) + "\n"
		} else {
			src += "mov %r0, 0\n"
		}
		src += "ldxdw %r1, [%r10-8]\nadd %r0, %r1\nexit\n"
	}
	r0, _, err := runWith(t, compile(t, src, engine.Config{Checked: true}), nil)
	if err != nil || r0 != 1+2+3+4+5+6+7+1 {
		t.Fatalf("eight frames: r0=%d err=%v, want 29", r0, err)
	}
}

func TestHelpers(t *testing.T) {
	helpers := map[int32]engine.HelperFunc{
		1: func(_ *engine.Env, a, b, c, d, e uint64) uint64 { return a + b + c + d + e },
		2: func(env *engine.Env, a, _, _, _, _ uint64) uint64 { env.Exit(a * 2); return 0 },
		3: func(env *engine.Env, _, _, _, _, _ uint64) uint64 { env.Abort(errors.New("boom")); return 0 },
	}
	cfg := engine.Config{Helpers: helpers}
	r0, _, err := runWith(t, compile(t, "mov %r1, 1\nmov %r2, 2\nmov %r3, 3\nmov %r4, 4\nmov %r5, 5\ncall 1\nexit", cfg), nil)
	if err != nil || r0 != 15 {
		t.Fatalf("sum helper: %d, %v", r0, err)
	}
	r0, _, err = runWith(t, compile(t, "mov %r1, 21\ncall 2\nmov %r0, 1\nexit", cfg), nil)
	if err != nil || r0 != 42 {
		t.Fatalf("exit helper: %d, %v", r0, err)
	}
	_, _, err = runWith(t, compile(t, "call 3\nexit", cfg), nil)
	if !errors.Is(err, engine.ErrHelperAbort) {
		t.Fatalf("abort helper: %v", err)
	}
	r0, _, err = runWith(t, compile(t, "mov %r1, 7\nmov %r6, 1\ncall %r6\nexit", cfg), nil)
	if err != nil || r0 != 7 {
		t.Fatalf("callx: %d, %v", r0, err)
	}
	_, _, err = runWith(t, compile(t, "mov %r6, 99\ncall %r6\nexit", cfg), nil)
	if !errors.Is(err, engine.ErrUnknownHelper) {
		t.Fatalf("callx unknown: %v", err)
	}
	insns, _ := isa.Assemble("call 99\nexit")
	if _, err := interp.Compile(insns, cfg); !errors.Is(err, engine.ErrUnknownHelper) {
		t.Fatalf("unknown helper compiled: %v", err)
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
		{"ldabsw 2\nmov %r0, 9\nexit", 0},       // out of bounds ends the program with 0
		{"mov %r7, -1\nldindb %r7, 0\nexit", 0}, // negative offset too
	} {
		code := compile(t, tc.src, engine.Config{Checked: true})
		env := engine.NewEnv()
		env.Packet = pkt
		r0, err := code.Run(env, 0, 0)
		if err != nil || r0 != tc.want {
			t.Errorf("%q: r0=%#x err=%v, want %#x", tc.src, r0, err, tc.want)
		}
	}
}

func TestUninitializedRegisters(t *testing.T) {
	for _, tc := range []struct {
		src string
		ok  bool
	}{
		{"exit", false},
		{"mov %r0, %r6\nexit", false},
		{"mov %r0, %r1\nexit", true},
		{"jeq %r1, 0, +1\nmov %r0, 1\nexit", false}, // r0 unset on one path
		{"mov %r0, 0\njeq %r1, 0, +1\nmov %r0, 1\nexit", true},
		{"mov %r6, 1\ncall 1\nmov %r0, %r6\nexit", true},
		{"call 1\nmov %r0, %r1\nexit", false},                                           // helpers clobber r1..r5
		{"mov %r6, 1\ncall local f\nadd %r0, %r6\nexit\nf:\nmov %r0, %r6\nexit", false}, // callee's r6 unset
	} {
		insns, err := isa.Assemble(tc.src)
		if err != nil {
			t.Fatal(err)
		}
		cfg := engine.Config{Checked: true, Helpers: map[int32]engine.HelperFunc{1: func(*engine.Env, uint64, uint64, uint64, uint64, uint64) uint64 { return 0 }}}
		_, err = interp.Compile(insns, cfg)
		if tc.ok && err != nil {
			t.Errorf("%q: %v, want accepted", tc.src, err)
		}
		if !tc.ok && !errors.Is(err, engine.ErrUninitialized) {
			t.Errorf("%q: %v, want ErrUninitialized", tc.src, err)
		}
	}
}

func TestUnresolvedPseudo(t *testing.T) {
	insns := []isa.Instruction{{OpCode: isa.OpLDDW, Dst: 1, Src: isa.Register(isa.PseudoMapFD), Constant: 3}, {OpCode: isa.OpExit}}
	if _, err := interp.Compile(insns, engine.Config{}); !errors.Is(err, engine.ErrUnresolved) {
		t.Fatalf("Compile = %v, want ErrUnresolved", err)
	}
}

// TestConcurrentRuns runs one Code from many goroutines, each with its own Env.
func TestConcurrentRuns(t *testing.T) {
	code := compile(t, "mov %r0, 0\nmov %r2, 1000\nl:\nstxdw [%r10-8], %r2\nldxdw %r3, [%r10-8]\nadd %r0, %r3\nsub %r2, 1\njne %r2, 0, l\nexit", engine.Config{Checked: true})
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			env := engine.NewEnv()
			for i := 0; i < 200; i++ {
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
	for g := 0; g < 8; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
