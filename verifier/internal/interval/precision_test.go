package interval

import (
	"math"
	"testing"
)

// bounds are the expected views of a Value in precision tests.
type bounds struct {
	smin, smax int64
	umin, umax uint64
}

func checkBounds(t *testing.T, name string, v Value, want bounds) {
	t.Helper()
	if v.empty || v.smin != want.smin || v.smax != want.smax || v.umin != want.umin || v.umax != want.umax {
		t.Errorf("%s = %s, want s[%d, %d] u[%#x, %#x]", name, dump(v), want.smin, want.smax, want.umin, want.umax)
	}
}

// TestALUPrecision pins the results the verifier relies on.
func TestALUPrecision(t *testing.T) {
	top := Top()
	u8 := UnsignedRange(0, 255)
	tests := []struct {
		name string
		got  Value
		want bounds
	}{
		{"top & 0xff", ALU64(And, top, Imm(0xff)), bounds{0, 255, 0, 255}},
		{"w & 0xff", ALU32(And, top, Imm(0xff)), bounds{0, 255, 0, 255}},
		{"top & 0xfff0", ALU64(And, top, Imm(0xfff0)), bounds{0, 0xfff0, 0, 0xfff0}},
		{"u8 | 0x100", ALU64(Or, u8, Imm(0x100)), bounds{0x100, 0x1ff, 0x100, 0x1ff}},
		{"u8 ^ 0xff", ALU64(Xor, u8, Imm(0xff)), bounds{0, 255, 0, 255}},
		{"const + const", ALU64(Add, Const(40), Const(2)), bounds{42, 42, 42, 42}},
		{"const - const wraps", ALU64(Sub, Const(1), Const(2)), bounds{-1, -1, math.MaxUint64, math.MaxUint64}},
		{"const * const", ALU64(Mul, Const(6), Const(7)), bounds{42, 42, 42, 42}},
		{"range + range", ALU64(Add, UnsignedRange(1, 5), UnsignedRange(10, 20)), bounds{11, 25, 11, 25}},
		{"range - range", ALU64(Sub, UnsignedRange(10, 20), UnsignedRange(1, 5)), bounds{5, 19, 5, 19}},
		{"signed range + const", ALU64(Add, SignedRange(-5, 7), Imm(-3)), bounds{-8, 4, 0, math.MaxUint64}},
		{"range * const", ALU64(Mul, UnsignedRange(0, 100), Const(8)), bounds{0, 800, 0, 800}},
		{"signed range * -1", ALU64(Mul, SignedRange(-5, 7), Imm(-1)), bounds{-7, 5, 0, math.MaxUint64}},
		{"neg", ALU64(Neg, SignedRange(-5, 7), Top()), bounds{-7, 5, 0, math.MaxUint64}},
		{"div by const", ALU64(Div, UnsignedRange(0, 1000), Const(10)), bounds{0, 100, 0, 100}},
		{"div by zero", ALU64(Div, top, Const(0)), bounds{0, 0, 0, 0}},
		{"mod by zero keeps dst", ALU64(Mod, UnsignedRange(3, 9), Const(0)), bounds{3, 9, 3, 9}},
		{"mod by const", ALU64(Mod, top, Const(16)), bounds{0, 15, 0, 15}},
		{"mod small dividend", ALU64(Mod, UnsignedRange(3, 9), UnsignedRange(10, 20)), bounds{3, 9, 3, 9}},
		{"sdiv", ALU64(SDiv, SignedRange(-100, 50), Imm(-10)), bounds{-5, 10, 0, math.MaxUint64}},
		{"sdiv INT_MIN/-1", ALU64(SDiv, Const(1<<63), Imm(-1)), bounds{math.MinInt64, math.MinInt64, 1 << 63, 1 << 63}},
		{"sdiv by zero", ALU64(SDiv, top, Const(0)), bounds{0, 0, 0, 0}},
		{"smod INT_MIN%-1", ALU64(SMod, Const(1<<63), Imm(-1)), bounds{0, 0, 0, 0}},
		{"smod", ALU64(SMod, SignedRange(-100, 50), Imm(7)), bounds{-6, 6, 0, math.MaxUint64}},
		{"smod by zero keeps dst", ALU64(SMod, SignedRange(-100, 50), Const(0)), bounds{-100, 50, 0, math.MaxUint64}},
		{"sdiv32 INT_MIN/-1", ALU32(SDiv, Const(1<<31), Imm(-1)), bounds{1 << 31, 1 << 31, 1 << 31, 1 << 31}},
		{"lsh", ALU64(Lsh, u8, Imm(4)), bounds{0, 0xff0, 0, 0xff0}},
		{"lsh masked to 63", ALU64(Lsh, Const(1), Imm(65)), bounds{2, 2, 2, 2}},
		{"lsh32 masked to 31", ALU32(Lsh, Const(1), Imm(33)), bounds{2, 2, 2, 2}},
		{"rsh", ALU64(Rsh, top, Imm(56)), bounds{0, 255, 0, 255}},
		{"rsh by range", ALU64(Rsh, UnsignedRange(0, 1024), UnsignedRange(2, 4)), bounds{0, 256, 0, 256}},
		{"arsh", ALU64(Arsh, top, Imm(56)), bounds{-128, 127, 0, math.MaxUint64}},
		{"arsh32", ALU32(Arsh, Imm(-256), Imm(4)), bounds{0xfffffff0, 0xfffffff0, 0xfffffff0, 0xfffffff0}},
		{"lsh 32 arsh 32", ALU64(Arsh, ALU64(Lsh, SignedRange(-5, 7), Imm(32)), Imm(32)), bounds{-5, 7, 0, math.MaxUint64}},
		{"lsh 32 rsh 32", ALU64(Rsh, ALU64(Lsh, UnsignedRange(0, 1000), Imm(32)), Imm(32)), bounds{0, 1000, 0, 1000}},
		{"mov32 zero-extends", ALU32(Mov, Top(), Top()), bounds{0, math.MaxUint32, 0, math.MaxUint32}},
		{"add32 zero-extends", ALU32(Add, Const(0xffffffff_00000001), Const(1)), bounds{2, 2, 2, 2}},
		{"add32 wraps", ALU32(Add, Const(0xffffffff), Const(1)), bounds{0, 0, 0, 0}},
		{"sub32 of top", ALU32(Sub, top, top), bounds{0, math.MaxUint32, 0, math.MaxUint32}},
		{"neg32", ALU32(Neg, Const(1), top), bounds{math.MaxUint32, math.MaxUint32, math.MaxUint32, math.MaxUint32}},
		{"movsx8", Const(0x80).SignExtend(8), bounds{-128, -128, 1<<64 - 128, 1<<64 - 128}},
		{"movsx8 of range", UnsignedRange(0, 255).SignExtend(8), bounds{-128, 127, 0, math.MaxUint64}},
		{"movsx32_16", Const(0xffff).SignExtend(16).Trunc(32), bounds{math.MaxUint32, math.MaxUint32, math.MaxUint32, math.MaxUint32}},
		{"trunc16 of small range", UnsignedRange(0x10005, 0x10009).Trunc(16), bounds{5, 9, 5, 9}},
		{"be16", Const(0x1234).Bswap(16), bounds{0x3412, 0x3412, 0x3412, 0x3412}},
		{"be32 of byte", UnsignedRange(0, 255).Bswap(32), bounds{0, 0xff000000, 0, 0xff000000}},
		{"le16", Const(0xabcd1234).End(16, false), bounds{0x1234, 0x1234, 0x1234, 0x1234}},
		{"load 1", Load(1), bounds{0, 255, 0, 255}},
		{"loadsx 2", LoadSX(2), bounds{-32768, 32767, 0, math.MaxUint64}},
	}
	for _, tt := range tests {
		checkBounds(t, tt.name, tt.got, tt.want)
	}
	// 32-bit results never have upper bits.
	for op := Add; op <= Mov; op++ {
		if v := ALU32(op, Top(), Top()); v.umax > math.MaxUint32 || v.smin < 0 {
			t.Errorf("ALU32(%v, top, top) = %s has upper bits", op, dump(v))
		}
	}
	// Bitwise and with a mask gives known bits: an aligned value.
	if _, m := ALU64(And, Top(), Imm(-8)).Known(); m&7 != 0 {
		t.Errorf("r & -8 does not know its low 3 bits")
	}
}

// TestBranchPrecision pins the refinements the verifier relies on.
func TestBranchPrecision(t *testing.T) {
	top := Top()
	tests := []struct {
		name         string
		c            Cond
		jmp32        bool
		dst, src     Value
		taken, fall  bounds
		takenBottom  bool
		fallBottom   bool
		wantDecision Outcome
	}{
		{name: "r > 10", c: JGT, dst: top, src: Imm(10),
			taken: bounds{math.MinInt64, math.MaxInt64, 11, math.MaxUint64}, fall: bounds{0, 10, 0, 10}},
		{name: "r >= 10", c: JGE, dst: top, src: Imm(10),
			taken: bounds{math.MinInt64, math.MaxInt64, 10, math.MaxUint64}, fall: bounds{0, 9, 0, 9}},
		{name: "r < 64", c: JLT, dst: top, src: Imm(64),
			taken: bounds{0, 63, 0, 63}, fall: bounds{math.MinInt64, math.MaxInt64, 64, math.MaxUint64}},
		{name: "r s> -1", c: JSGT, dst: top, src: Imm(-1),
			taken: bounds{0, math.MaxInt64, 0, math.MaxInt64}, fall: bounds{math.MinInt64, -1, 1 << 63, math.MaxUint64}},
		{name: "r s<= 100 on u8", c: JSLE, dst: UnsignedRange(0, 255), src: Imm(100),
			taken: bounds{0, 100, 0, 100}, fall: bounds{101, 255, 101, 255}},
		{name: "r == 5", c: JEQ, dst: UnsignedRange(0, 255), src: Imm(5),
			taken: bounds{5, 5, 5, 5}, fall: bounds{0, 255, 0, 255}},
		{name: "r != 0 at bound", c: JNE, dst: UnsignedRange(0, 255), src: Imm(0),
			taken: bounds{1, 255, 1, 255}, fall: bounds{0, 0, 0, 0}},
		{name: "w > 10 on zero-extended", c: JGT, jmp32: true, dst: UnsignedRange(0, math.MaxUint32), src: Imm(10),
			taken: bounds{11, math.MaxUint32, 11, math.MaxUint32}, fall: bounds{0, 10, 0, 10}},
		{name: "w s< 0 imm sign", c: JSLT, jmp32: true, dst: UnsignedRange(0, math.MaxUint32), src: Imm(0),
			taken: bounds{1 << 31, math.MaxUint32, 1 << 31, math.MaxUint32}, fall: bounds{0, math.MaxInt32, 0, math.MaxInt32}},
		{name: "jset bit 0", c: JSET, dst: UnsignedRange(0, 3), src: Imm(1),
			taken: bounds{1, 3, 1, 3}, fall: bounds{0, 2, 0, 2}},
		{name: "jset on zero never", c: JSET, dst: Const(0), src: top,
			takenBottom: true, fall: bounds{0, 0, 0, 0}, wantDecision: Never},
		{name: "const > const always", c: JGT, dst: Const(7), src: Imm(3),
			taken: bounds{7, 7, 7, 7}, fallBottom: true, wantDecision: Always},
		{name: "u8 > 255 never", c: JGT, dst: UnsignedRange(0, 255), src: Imm(255),
			takenBottom: true, fall: bounds{0, 255, 0, 255}, wantDecision: Never},
		{name: "jeq32 ignores upper", c: JEQ, jmp32: true, dst: Const(0x1_0000_0005), src: Imm(5),
			taken: bounds{0x1_0000_0005, 0x1_0000_0005, 0x1_0000_0005, 0x1_0000_0005}, fallBottom: true, wantDecision: Always},
	}
	for _, tt := range tests {
		taken, fall := Refine(tt.c, tt.jmp32, tt.dst, tt.src)
		if tt.takenBottom {
			if !taken.Dst.IsBottom() || !taken.Src.IsBottom() {
				t.Errorf("%s: taken = %s, %s; want bottom", tt.name, taken.Dst, taken.Src)
			}
		} else {
			checkBounds(t, tt.name+" taken", taken.Dst, tt.taken)
		}
		if tt.fallBottom {
			if !fall.Dst.IsBottom() || !fall.Src.IsBottom() {
				t.Errorf("%s: fall-through = %s, %s; want bottom", tt.name, fall.Dst, fall.Src)
			}
		} else {
			checkBounds(t, tt.name+" fall-through", fall.Dst, tt.fall)
		}
		if d := Decide(tt.c, tt.jmp32, tt.dst, tt.src); d != tt.wantDecision {
			t.Errorf("%s: Decide = %v, want %v", tt.name, d, tt.wantDecision)
		}
	}
	// Known bits move bounds: an 8-aligned value above 5 is at least 8.
	aligned := ALU64(And, UnsignedRange(0, 1000), Imm(-8))
	taken0, fall0 := Refine(JGT, false, aligned, Imm(5))
	checkBounds(t, "aligned > 5", taken0.Dst, bounds{8, 1000, 8, 1000})
	checkBounds(t, "aligned <= 5", fall0.Dst, bounds{0, 0, 0, 0})
	// Register against register: r1 < r2 with r2 in [0, 100] bounds r1 by 99 and r2 from below.
	taken, _ := Refine(JLT, false, UnsignedRange(50, 1000), UnsignedRange(0, 100))
	checkBounds(t, "r1 < r2: r1", taken.Dst, bounds{50, 99, 50, 99})
	checkBounds(t, "r1 < r2: r2", taken.Src, bounds{51, 100, 51, 100})
}

// TestLatticePrecision pins joins, meets, widening and narrowing on simple ranges.
func TestLatticePrecision(t *testing.T) {
	checkBounds(t, "join", Join(Const(1), Const(5)), bounds{1, 5, 1, 5})
	checkBounds(t, "meet", Meet(UnsignedRange(0, 10), UnsignedRange(5, 20)), bounds{5, 10, 5, 10})
	if m := Meet(Const(1), Const(2)); !m.IsBottom() {
		t.Errorf("meet of distinct constants = %s", m)
	}
	if !LessEq(Const(3), UnsignedRange(0, 5)) || LessEq(UnsignedRange(0, 6), UnsignedRange(0, 5)) {
		t.Errorf("LessEq wrong on ranges")
	}
	if !LessEq(Bottom(), Const(0)) || LessEq(Const(0), Bottom()) {
		t.Errorf("LessEq wrong on bottom")
	}
	if j := Join(Bottom(), Const(3)); j != Const(3).normalize() {
		t.Errorf("join with bottom = %s", j)
	}
	// A loop counter: i = 0; i++ widens to the byte landmark, then narrowing by i < 100
	// brings it back.
	w := Widen(Const(0), UnsignedRange(0, 1))
	if w.UMax() != 127 || w.UMin() != 0 || w.SMax() != 127 || !w.Contains(100) {
		t.Errorf("widen [0,0] by [0,1] = %s", dump(w))
	}
	if w := Widen(UnsignedRange(0, 255), UnsignedRange(0, 256)); w.UMax() != 512 || !w.Contains(300) {
		t.Errorf("widen to next landmark = %s", dump(w))
	}
	if w := Widen(UnsignedRange(0, 0xffffffff), UnsignedRange(0, 1<<32)); w.UMax() != math.MaxUint64 {
		t.Errorf("widen past the last landmark = %s", dump(w))
	}
	if w := WidenWith(Const(0), UnsignedRange(0, 1), nil); w.UMax() != math.MaxUint64 || w.SMax() != math.MaxInt64 {
		t.Errorf("widen without thresholds = %s", dump(w))
	}
	body, _ := Refine(JLT, false, w, Imm(100))
	next := Join(Const(0), ALU64(Add, body.Dst, Const(1)))
	n := Narrow(w, next)
	if n.UMax() != 100 || n.SMax() != 100 {
		t.Errorf("narrow = %s, want [0, 100]", dump(n))
	}
}

// TestString pins the diagnostics format.
func TestString(t *testing.T) {
	tests := []struct {
		v    Value
		want string
	}{
		{Bottom(), "bottom"},
		{Top(), "top"},
		{Const(42), "42"},
		{Imm(-1), "-1"},
		{Const(1 << 63), "-2^63"},
		{UnsignedRange(0, 255), "[0, 255]"},
		{SignedRange(-5, -1), "[-5, -1]"},
		{SignedRange(-5, 7), "s[-5, 7] u[0, 2^64-1]"},
		{UnsignedRange(0, math.MaxUint32), "[0, 2^32-1]"},
		{UnsignedRange(1<<63, math.MaxUint64), "[-2^63, -1]"},
		{UnsignedRange(0, 1<<40), "[0, 0x10000000000]"},
		{ALU64(And, Top(), Imm(0xf0)), "[0, 240] bits=(0; 0xf0)"},
		{ALU64(Lsh, Top(), Imm(32)), "s[-2^63, 0x7fffffff00000000] u[0, 0xffffffff00000000] bits=(0; 0xffffffff00000000)"},
		{ALU64(And, UnsignedRange(0, 1<<40), Imm(-8)), "[0, 0x10000000000] bits=(0; 0x1fffffffff8)"},
		{func() Value { v := Top(); v.s32min, v.s32max = -1, 1; return v.normalize() }(), "s32[-1, 1]"},
		{func() Value { v := Top(); v.u32min, v.u32max = 5, 9; return v.normalize() }(), "s[-0x7ffffffffffffffb, 0x7fffffff00000009] u[5, 0xffffffff00000009] w[5, 9]"},
	}
	for _, tt := range tests {
		if got := tt.v.String(); got != tt.want {
			t.Errorf("String(%s) = %q, want %q", dump(tt.v), got, tt.want)
		}
	}
	if s := Add.String() + SDiv.String() + Op(99).String(); s != "addsdivop?" {
		t.Errorf("Op names: %q", s)
	}
	if s := JSGE.String() + Cond(99).String() + Always.String(); s != "jsgecond?always" {
		t.Errorf("Cond names: %q", s)
	}
}

// Benchmarks of the operations a verifier runs on every instruction.
func BenchmarkALU64Add(b *testing.B) {
	x, y := UnsignedRange(0, 1000), SignedRange(-5, 7)
	for b.Loop() {
		x = ALU64(Add, x, y)
	}
}

func BenchmarkALU64LshRange(b *testing.B) {
	x, y := UnsignedRange(0, 1000), UnsignedRange(0, 63)
	for b.Loop() {
		_ = ALU64(Lsh, x, y)
	}
}

func BenchmarkRefine(b *testing.B) {
	x, y := Top(), Imm(10)
	for b.Loop() {
		_, _ = Refine(JGT, false, x, y)
	}
}

func BenchmarkJoin(b *testing.B) {
	x, y := UnsignedRange(0, 1000), SignedRange(-5, 7)
	for b.Loop() {
		_ = Join(x, y)
	}
}
