package isa_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/anybpf/anybpf/internal/conformance"
	"github.com/anybpf/anybpf/internal/testutil"
	"github.com/anybpf/anybpf/isa"
)

func slot(op uint8, dst, src uint8, off int16, imm int32) []byte {
	return binary.LittleEndian.AppendUint64(nil, uint64(op)|uint64(dst)<<8|uint64(src)<<12|uint64(uint16(off))<<16|uint64(uint32(imm))<<32)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestDecodeErrors(t *testing.T) {
	exit := slot(0x95, 0, 0, 0, 0)
	for _, tc := range []struct {
		name  string
		code  []byte
		err   error
		field string
	}{
		{"partial slot", []byte{0x95, 0, 0}, isa.ErrTruncated, "length"},
		{"alu op 0xe0", slot(0xe7, 0, 0, 0, 0), isa.ErrInvalidOpcode, "opcode"},
		{"jmp op 0xe0", slot(0xe5, 0, 0, 0, 0), isa.ErrInvalidOpcode, "opcode"},
		{"neg with X", slot(0x8f, 0, 0, 0, 0), isa.ErrInvalidOpcode, "opcode"},
		{"bswap with X", slot(0xdf, 0, 0, 0, 16), isa.ErrInvalidOpcode, "opcode"},
		{"call in jmp32", slot(0x86, 0, 0, 0, 1), isa.ErrInvalidOpcode, "opcode"},
		{"exit in jmp32", slot(0x96, 0, 0, 0, 0), isa.ErrInvalidOpcode, "opcode"},
		{"ldx abs mode", slot(0x21, 0, 0, 0, 0), isa.ErrInvalidOpcode, "opcode"},
		{"ldxsdw", slot(0x99, 0, 1, 0, 0), isa.ErrInvalidOpcode, "opcode"},
		{"st atomic", slot(0xc2, 0, 0, 0, 0), isa.ErrInvalidOpcode, "opcode"},
		{"atomic byte", slot(0xd3, 0, 0, 0, 0), isa.ErrInvalidOpcode, "opcode"},
		{"ld abs dw", slot(0x38, 0, 0, 0, 0), isa.ErrInvalidOpcode, "opcode"},
		{"ld mem", slot(0x60, 0, 0, 0, 0), isa.ErrInvalidOpcode, "opcode"},
		{"dst r11", slot(0xb7, 11, 0, 0, 0), isa.ErrInvalidRegister, "dst"},
		{"src r15", slot(0xbf, 0, 15, 0, 0), isa.ErrInvalidRegister, "src"},
		{"bswap width", slot(0xd7, 0, 0, 0, 8), isa.ErrInvalidField, "imm"},
		{"sdiv offset", slot(0x37, 0, 0, 2, 1), isa.ErrInvalidField, "offset"},
		{"movsx32 in alu32", slot(0xbc, 0, 1, 32, 0), isa.ErrReservedField, "offset"},
		{"call src 3", slot(0x85, 0, 3, 0, 1), isa.ErrInvalidField, "src"},
		{"callx imm", slot(0x8d, 1, 0, 0, 1), isa.ErrReservedField, "imm"},
		{"atomic op", slot(0xdb, 1, 2, 0, 0x02), isa.ErrInvalidField, "imm"},
		{"lddw src 7", cat(slot(0x18, 0, 7, 0, 0), slot(0, 0, 0, 0, 0)), isa.ErrInvalidField, "src"},
		{"lddw truncated", slot(0x18, 0, 0, 0, 0), isa.ErrTruncated, "next"},
		{"lddw next opcode", cat(slot(0x18, 0, 0, 0, 0), exit), isa.ErrReservedField, "next"},
		{"lddw next dst", cat(slot(0x18, 0, 0, 0, 0), slot(0, 1, 0, 0, 0)), isa.ErrReservedField, "next"},
		{"ja32 offset", slot(0x06, 0, 0, 1, 0), isa.ErrReservedField, "offset"},
		{"ld abs dst", slot(0x20, 1, 0, 0, 0), isa.ErrReservedField, "dst"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := isa.Decode(tc.code)
			if !errors.Is(err, tc.err) {
				t.Fatalf("Decode = %v, want %v", err, tc.err)
			}
			var de *isa.DecodeError
			if !errors.As(err, &de) || de.Field != tc.field {
				t.Fatalf("error %v names field %q, want %q", err, de.Field, tc.field)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name, asm string
		ok        bool
	}{
		{"minimal", "mov %r0, 0\nexit", true},
		{"empty", "", false},
		{"jump past end", "ja +5\nexit", false},
		{"jump before start", "ja -3\nexit", false},
		{"jump into lddw", "ja +1\nlddw %r0, 1\nexit", false},
		{"write r10", "mov %r10, 0\nexit", false},
		{"atomic fetch into r10", "lock fetch add [%r1+0], %r10\nexit", false},
		{"falls off the end", "mov %r0, 0", false},
		{"ends in ja", "mov %r0, 0\nexit\nja -2", true},
		{"local call past end", "call local +4\nexit", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			insns, err := isa.Assemble(tc.asm)
			if err != nil {
				t.Fatal(err)
			}
			err = isa.Validate(insns)
			if tc.ok && err != nil {
				t.Fatalf("Validate = %v, want nil", err)
			}
			if !tc.ok && !errors.Is(err, isa.ErrInvalidProgram) {
				t.Fatalf("Validate = %v, want ErrInvalidProgram", err)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct{ asm, llvm string }{
		{"mov %r0, 1", "r0 = 1"},
		{"add32 %r1, %r2", "w1 += w2"},
		{"sdiv %r3, -7", "r3 s/= -7"},
		{"smod32 %r3, %r4", "w3 s%= w4"},
		{"arsh %r1, 3", "r1 s>>= 3"},
		{"neg32 %r2", "w2 = -w2"},
		{"movsx864 %r1, %r2", "r1 = (s8)r2"},
		{"movsx1632 %r1, %r2", "w1 = (s16)w2"},
		{"be16 %r3", "r3 = be16 r3"},
		{"le32 %r3", "r3 = le32 r3"},
		{"bswap64 %r3", "r3 = bswap64 r3"},
		{"lddw %r1, 0x1122334455667788", "r1 = 0x1122334455667788 ll"},
		{"ldxw %r0, [%r1+4]", "r0 = *(u32 *)(r1 + 4)"},
		{"ldxsh %r0, [%r10-2]", "r0 = *(s16 *)(r10 - 2)"},
		{"stdw [%r10-8], 5", "*(u64 *)(r10 - 8) = 5"},
		{"stxb [%r1+0], %r2", "*(u8 *)(r1 + 0) = r2"},
		{"lock add [%r1+0], %r2", "lock *(u64 *)(r1 + 0) += r2"},
		{"lock fetch xor32 [%r1+8], %r2", "w2 = atomic_fetch_xor((u32 *)(r1 + 8), w2)"},
		{"lock xchg [%r1+0], %r2", "r2 = xchg_64(r1 + 0, r2)"},
		{"lock cmpxchg32 [%r1+0], %r2", "w0 = cmpxchg32_32(r1 + 0, w0, w2)"},
		{"jsgt %r1, %r2, +3", "if r1 s> r2 goto +3"},
		{"jset32 %r1, 8, -1", "if w1 & 8 goto -1"},
		{"ja +2", "goto +2"},
		{"ja32 -4", "gotol -4"},
		{"call 12", "call 12"},
		{"call local +3", "call pc+3"},
		{"call %r5", "callx r5"},
		{"ldabsh 12", "r0 = *(u16 *)skb[12]"},
		{"ldindw %r3, 4", "r0 = *(u32 *)skb[r3 + 4]"},
		{"exit", "exit"},
	} {
		insns, err := isa.Assemble(tc.asm)
		if err != nil {
			t.Errorf("Assemble(%q): %v", tc.asm, err)
			continue
		}
		if got := insns[0].Format(isa.SyntaxLLVM); got != tc.llvm {
			t.Errorf("%q: llvm syntax %q, want %q", tc.asm, got, tc.llvm)
		}
		checkRoundTrip(t, insns)
	}
}

// checkRoundTrip encodes, decodes, prints in the conformance syntax and assembles
// again, expecting the same bytes at every step.
func checkRoundTrip(t *testing.T, insns []isa.Instruction) {
	t.Helper()
	code := isa.Encode(insns)
	back, err := isa.Decode(code)
	if err != nil {
		t.Fatalf("Decode(Encode(%v)): %v", insns, err)
	}
	if !bytes.Equal(isa.Encode(back), code) {
		t.Fatalf("decode/encode changed %x to %x", code, isa.Encode(back))
	}
	var text strings.Builder
	for _, ins := range back {
		text.WriteString(ins.Format(isa.SyntaxConformance) + "\n")
	}
	again, err := isa.Assemble(text.String())
	if err != nil {
		t.Fatalf("Assemble(disassembly) failed: %v\n%s", err, text.String())
	}
	if !bytes.Equal(isa.Encode(again), code) {
		t.Fatalf("assemble(disassemble) = %x, want %x\n%s", isa.Encode(again), code, text.String())
	}
}

// TestCorpusRoundTrip assembles every conformance program and checks the round trip
// through bytes and both text syntaxes.
func TestCorpusRoundTrip(t *testing.T) {
	tests, err := conformance.LoadDir(testutil.CorpusDir(t, "bpf_conformance"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		insns, err := tc.Instructions()
		if err != nil {
			t.Fatal(err)
		}
		checkRoundTrip(t, insns)
		for _, ins := range insns {
			if s := ins.Format(isa.SyntaxLLVM); s == "" || strings.HasPrefix(s, "<invalid") {
				t.Errorf("%s: %v has no llvm form", tc.Name, ins)
			}
		}
	}
}

// TestEveryOpcode decodes random slots for every opcode byte and checks that whatever
// decodes encodes back to the same bytes and prints in both syntaxes.
func TestEveryOpcode(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	valid := map[uint8]bool{}
	for op := 0; op < 256; op++ {
		for i := 0; i < 2000; i++ {
			w := rng.Uint64()
			// Bias towards small fields so that valid encodings are found.
			switch i % 4 {
			case 0:
				w &= 0x0000000f_0000ffff
			case 1:
				w &= 0x0000003f_000000ff
			case 2:
				w &= 0x000000ff_0fff00ff
			}
			w = w&^0xff | uint64(op)
			code := binary.LittleEndian.AppendUint64(nil, w)
			if uint8(op) == isa.OpLDDW {
				code = append(code, make([]byte, 8)...)
			}
			insns, err := isa.Decode(code)
			if err != nil {
				continue
			}
			valid[uint8(op)] = true
			if !bytes.Equal(isa.Encode(insns), code) {
				t.Fatalf("opcode %#02x: %x re-encodes as %x", op, code, isa.Encode(insns))
			}
			if insns[0].IsLDDW() && insns[0].Src != 0 {
				continue // the conformance dialect has no pseudo loads
			}
			checkRoundTrip(t, insns)
		}
	}
	// RFC 9669 defines this many distinct opcode bytes (see the table in the test below).
	if len(valid) != len(rfcOpcodes) {
		t.Errorf("%d opcodes decode, want %d", len(valid), len(rfcOpcodes))
	}
	for _, op := range rfcOpcodes {
		if !valid[op] {
			t.Errorf("opcode %#02x never decoded", op)
		}
	}
}

// rfcOpcodes lists every opcode byte of RFC 9669 plus the legacy packet loads.
var rfcOpcodes = func() []uint8 {
	var ops []uint8
	for _, class := range []uint8{0x04, 0x07} {
		for _, op := range []uint8{0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x90, 0xa0, 0xb0, 0xc0} {
			ops = append(ops, class|op, class|op|0x08)
		}
		ops = append(ops, class|0x80, class|0xd0)
	}
	ops = append(ops, 0x04|0xd0|0x08) // be
	for _, class := range []uint8{0x05, 0x06} {
		for _, op := range []uint8{0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0} {
			ops = append(ops, class|op, class|op|0x08)
		}
		ops = append(ops, class) // ja / ja32
	}
	ops = append(ops, 0x85, 0x8d, 0x95, 0x18)
	for _, size := range []uint8{0x00, 0x08, 0x10} {
		ops = append(ops, 0x20|size, 0x40|size, 0x80|size|0x01)
	}
	for _, size := range []uint8{0x00, 0x08, 0x10, 0x18} {
		ops = append(ops, 0x61|size, 0x62|size, 0x63|size)
	}
	ops = append(ops, 0xc3, 0xdb)
	return ops
}()

func TestAssembleErrors(t *testing.T) {
	for _, src := range []string{
		"mov32 %r0, 2147483648",
		"mov %r0, 0x100000000",
		"ja nowhere\nexit",
		"lock or [%r10-8]",
		"lock",
		"ldxq %r0, %r1",
		"ldxb %r0, %r1",
		"ldxb %r0, [%r1+0x10000]",
		"lddw %r0",
		"or %r0, %r50",
		"l1:\nl1:\nexit",
		"call bogus 1",
		"movsx3232 %r1, %r2",
		"jeq %r1, 1",
		"lddw %r2, func 9x",
		"lddw %r2, func nowhere\nexit",
		"lddw %r2, func",
		"lddw %r2, func +0x100000000",
	} {
		if _, err := isa.Assemble(src); !errors.Is(err, isa.ErrSyntax) {
			t.Errorf("Assemble(%q) = %v, want a syntax error", src, err)
		}
	}
}

func TestDisassembleFile(t *testing.T) {
	insns, err := isa.Assemble("mov %r0, 1\nlddw %r1, 0x5\nexit")
	if err != nil {
		t.Fatal(err)
	}
	want := "   0: r0 = 1\n   1: r1 = 0x5 ll\n   3: exit\n"
	if got := isa.Disassemble(insns, isa.SyntaxLLVM); got != want {
		t.Fatalf("Disassemble =\n%s\nwant\n%s", got, want)
	}
}

// TestAssembleFuncAddress: "lddw %rN, func LABEL" (or "func +N"/"func -N") loads a
// function's address (a callback for bpf_loop and friends), relative to the slot after
// the LDDW's first, like "call local LABEL"; the conformance syntax prints it back in a
// form the assembler reads.
func TestAssembleFuncAddress(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		at        int   // the index of the LDDW
		want      int64 // its Constant
		text      string
	}{
		{"forward label", "mov %r1, 4\nlddw %r2, func cb\ncall local cb\nexit\ncb:\nmov %r0, 0\nexit", 1, 3, "lddw %r2, func +3"},
		{"backward label", "ja main\ncb:\nmov %r0, 0\nexit\nmain:\nlddw %r3, func cb\nexit", 3, -3, "lddw %r3, func -3"},
		{"next instruction", "lddw %r2, func next\nnext:\nexit", 0, 1, "lddw %r2, func +1"},
		{"numeric forward", "lddw %r2, func +1\nexit\nexit", 0, 1, "lddw %r2, func +1"},
		{"numeric backward", "exit\nlddw %r9, func -2\nexit", 1, -2, "lddw %r9, func -2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			insns, err := isa.Assemble(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			ld := insns[tc.at]
			if !ld.IsLDDW() || ld.Src != isa.Register(isa.PseudoFunc) || ld.Constant != tc.want {
				t.Fatalf("assembled to %+v, want a PseudoFunc lddw with constant %d", ld, tc.want)
			}
			if got := ld.Format(isa.SyntaxConformance); got != tc.text {
				t.Errorf("Format = %q, want %q", got, tc.text)
			}
			if err := isa.Validate(insns); err != nil {
				t.Errorf("Validate: %v", err)
			}
			checkRoundTrip(t, insns)
		})
	}
	// call local and lddw func to the same function agree on its slot.
	insns, err := isa.Assemble("lddw %r2, func cb\ncall local cb\nexit\ncb:\nmov %r0, 0\nexit")
	if err != nil {
		t.Fatal(err)
	}
	offs, _ := isa.SlotOffsets(insns)
	if ld, call := offs[0]+1+int(insns[0].Imm()), offs[1]+1+int(insns[1].Imm()); ld != call || ld != 4 {
		t.Errorf("lddw func targets slot %d, call local slot %d; want 4", ld, call)
	}
}
