package verifier_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/anybpf/anybpf/isa"
	"github.com/anybpf/anybpf/maps"
	"github.com/anybpf/anybpf/progtype"
	"github.com/anybpf/anybpf/verifier"
)

// testMaps are the maps the table's programs may load: "lddw %rN, MAP_HASH" and friends.
var testMaps = []verifier.MapInfo{
	{Name: "hash", Type: maps.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 16, Inner: -1},
	{Name: "ringbuf", Type: maps.RingBuf, MaxEntries: 4096, Inner: -1},
	{Name: "rodata", Type: maps.Array, KeySize: 4, ValueSize: 16, MaxEntries: 1, ReadOnly: true, Inner: -1},
	{Name: "locked", Type: maps.Hash, KeySize: 4, ValueSize: 16, MaxEntries: 16, Inner: -1, SpinLock: true, SpinLockOffset: 8},
}

// assemble builds an XDP program; "lddw %rN, 0xMAP00" with MAP a testMaps index loads that
// map (0xMAP01: its value address).
func assemble(t *testing.T, src string) *verifier.Program {
	t.Helper()
	insns, err := isa.Assemble(src)
	if err != nil {
		t.Fatalf("assemble: %v\n%s", err, src)
	}
	p := &verifier.Program{Name: "test", Instructions: insns, Type: progtype.XDP, Maps: testMaps}
	for i, ins := range insns {
		if ins.IsLDDW() && ins.Constant>>16 == 0xabcd {
			p.MapRefs = append(p.MapRefs, verifier.MapRef{Instruction: i, Map: int(ins.Constant>>8) & 0xff, Value: ins.Constant&0xff == 1})
		}
	}
	return p
}

// checkVerdict fails t unless err is nil where want is "", or an ErrUnverifiable whose
// text holds want.
func checkVerdict(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("refused: %v", err)
	case want != "" && err == nil:
		t.Fatalf("verified; want an error with %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q, want one with %q", err, want)
	case err != nil && !errors.Is(err, verifier.ErrUnverifiable):
		t.Fatalf("error %v is not ErrUnverifiable", err)
	}
}

func TestVerify(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want string // "" when the program must verify, else part of the error
	}{
		{"return constant", "mov %r0, 2\nexit", ""},
		{"uninitialized r0", "exit", "r0 is read before it is written"},
		{"uninitialized register", "mov %r0, %r5\nexit", "r5 is read before it is written"},
		// Path sensitivity: a register goes with the stack bytes its own path wrote.
		{"size chosen with the bytes written on its path", pathSize(8, 4), ""},
		{"size larger than the bytes written on its path", pathSize(8, 8), "uninitialized stack byte"},
		{"pointer to the buffer its path wrote", pathBuffer(-8), ""},
		{"pointer to the buffer the other path wrote", pathBuffer(-16), "uninitialized stack byte"},
		{"number or checked packet pointer", pathPacket(13), ""},
		{"number or packet pointer read past the check", pathPacket(14), "may run past the packet's end"},
		{"more paths than states kept apart, all bytes written", pathMany(6, false), ""},
		{"more paths than states kept apart, one byte missing", pathMany(6, true), "uninitialized stack byte"},
		{"packet read after bounds check", `
			ldxw %r2, [%r1+0]
			ldxw %r3, [%r1+4]
			mov %r4, %r2
			add %r4, 14
			jgt %r4, %r3, out
			ldxb %r0, [%r2+13]
			exit
		out:
			mov %r0, 1
			exit`, ""},
		{"packet read past the check", `
			ldxw %r2, [%r1+0]
			ldxw %r3, [%r1+4]
			mov %r4, %r2
			add %r4, 14
			jgt %r4, %r3, out
			ldxb %r0, [%r2+14]
			exit
		out:
			mov %r0, 1
			exit`, "may run past the packet's end"},
		{"packet read without a check", "ldxw %r2, [%r1+0]\nldxb %r0, [%r2+0]\nexit", "may run past the packet's end"},
		{"packet check on the wrong edge", `
			ldxw %r2, [%r1+0]
			ldxw %r3, [%r1+4]
			mov %r4, %r2
			add %r4, 14
			jle %r4, %r3, ok
			ldxb %r0, [%r2+0]
			exit
		ok:
			mov %r0, 1
			exit`, "may run past the packet's end"},
		{"variable offset checked through a copy", `
			ldxw %r2, [%r1+0]
			ldxw %r3, [%r1+4]
			mov %r5, 0
			mov %r0, 1
			ldxw %r6, [%r1+12]
			and %r6, 7
			mov %r4, %r2
			add %r4, %r6
			mov %r7, %r4
			add %r7, 2
			jgt %r7, %r3, out
			ldxh %r0, [%r4+0]
		out:
			exit`, ""},
		{"write to read-only context field", "mov %r2, 0\nstxw [%r1+12], %r2\nmov %r0, 0\nexit", "read-only"},
		{"context access that is no field", "ldxw %r0, [%r1+2]\nexit", "is not a field"},
		{"stack read of uninitialized bytes", "ldxdw %r0, [%r10-8]\nexit", "uninitialized stack"},
		{"stack spill and fill", "mov %r2, 7\nstxdw [%r10-8], %r2\nldxdw %r0, [%r10-8]\nexit", ""},
		{"stack out of bounds", "mov %r2, 7\nstxdw [%r10-520], %r2\nmov %r0, 0\nexit", "outside the 512-byte stack"},
		{"map lookup checked for null", `
			stw [%r10-4], 0
			lddw %r1, 0xabcd0000
			mov %r2, %r10
			add %r2, -4
			call 1
			jeq %r0, 0, out
			ldxdw %r0, [%r0+0]
			mov %r0, 2
		out:
			exit`, ""},
		// Linux has no generic element access to ring buffers (nor perf event arrays,
		// program arrays, queues, stacks, Bloom filters): ringbuf_in_map looked one up.
		{"lookup in a ring buffer", `
			stw [%r10-4], 0
			lddw %r1, 0xabcd0100
			mov %r2, %r10
			add %r2, -4
			call 1
			mov %r0, 2
			exit`, "bpf_map_lookup_elem does not work on map ringbuf"},
		{"delete in a ring buffer", `
			stw [%r10-4], 0
			lddw %r1, 0xabcd0100
			mov %r2, %r10
			add %r2, -4
			call 3
			mov %r0, 2
			exit`, "bpf_map_delete_elem does not work on map ringbuf"},
		{"lookup in a hash map, unused", `
			stw [%r10-4], 0
			lddw %r1, 0xabcd0000
			mov %r2, %r10
			add %r2, -4
			call 1
			mov %r0, 2
			exit`, ""},
		{"map value used without a null check", `
			stw [%r10-4], 0
			lddw %r1, 0xabcd0000
			mov %r2, %r10
			add %r2, -4
			call 1
			ldxdw %r0, [%r0+0]
			exit`, "may be NULL"},
		{"map value read out of bounds", `
			stw [%r10-4], 0
			lddw %r1, 0xabcd0000
			mov %r2, %r10
			add %r2, -4
			call 1
			jeq %r0, 0, out
			ldxdw %r0, [%r0+4]
		out:
			exit`, "outside map hash's 8-byte value"},
		{"map key uninitialized", `
			lddw %r1, 0xabcd0000
			mov %r2, %r10
			add %r2, -4
			call 1
			mov %r0, 0
			exit`, "uninitialized stack byte"},
		{"helper with a number as the map", "mov %r1, 0\nmov %r2, %r10\ncall 1\nmov %r0, 0\nexit", "must be a map"},
		{"ring buffer record submitted", `
			lddw %r1, 0xabcd0100
			mov %r2, 16
			mov %r3, 0
			call 131
			jeq %r0, 0, out
			stdw [%r0+8], 1
			mov %r1, %r0
			mov %r2, 0
			call 132
		out:
			mov %r0, 0
			exit`, ""},
		{"ring buffer record leaked", `
			lddw %r1, 0xabcd0100
			mov %r2, 16
			mov %r3, 0
			call 131
			mov %r0, 0
			exit`, "holding reference"},
		{"ring buffer record overrun", `
			lddw %r1, 0xabcd0100
			mov %r2, 16
			mov %r3, 0
			call 131
			jeq %r0, 0, out
			stdw [%r0+16], 1
			mov %r1, %r0
			mov %r2, 0
			call 133
		out:
			mov %r0, 0
			exit`, "outside the 16-byte memory region"},
		{"read-only data not writable", "lddw %r1, 0xabcd0201\nstdw [%r1+0], 1\nmov %r0, 0\nexit", "read-only map"},
		{"pointer stored into a map value", `
			stw [%r10-4], 0
			lddw %r1, 0xabcd0000
			mov %r2, %r10
			add %r2, -4
			call 1
			jeq %r0, 0, out
			stxdw [%r0+0], %r10
		out:
			mov %r0, 0
			exit`, "leak an address"},
		{"pointer returned", "mov %r0, %r10\nexit", "returns a pointer"},
		{"pointer arithmetic that is not add or sub", "mov %r0, %r10\nmul %r0, 2\nexit", "mul on a pointer"},
		{"bounded loop", `
			mov %r0, 0
			mov %r1, 0
		loop:
			add %r0, %r1
			add %r1, 1
			jlt %r1, 10, loop
			exit`, ""},
		{"caller's registers after a call that reuses them", `
			mov %r6, 6
			call local f
			jeq %r6, 6, next
		next:
			ldxdw %r0, [%r10-8]
			exit
		f:
			mov %r6, 0
			mov %r0, 0
			exit`, "uninitialized stack"},
		{"pointer to the stack or a map value (type set)", `
			stdw [%r10-8], 7
			stw [%r10-12], 0
			lddw %r1, 0xabcd0000
			mov %r2, %r10
			add %r2, -12
			call 1
			mov %r1, %r10
			add %r1, -8
			jeq %r0, 0, use
			mov %r1, %r0
		use:
			ldxdw %r0, [%r1+0]
			stdw [%r1+0], 1
			exit`, ""},
		{"type set read past the smaller region", `
			stdw [%r10-16], 7
			stdw [%r10-8], 7
			stw [%r10-20], 0
			lddw %r1, 0xabcd0000
			mov %r2, %r10
			add %r2, -20
			call 1
			mov %r1, %r10
			add %r1, -16
			jeq %r0, 0, use
			mov %r1, %r0
		use:
			ldxdw %r0, [%r1+8]
			exit`, "outside map hash's 8-byte value"},
		{"type set store of a pointer", `
			stdw [%r10-8], 7
			stw [%r10-12], 0
			lddw %r1, 0xabcd0000
			mov %r2, %r10
			add %r2, -12
			call 1
			mov %r1, %r10
			add %r1, -8
			jeq %r0, 0, use
			mov %r1, %r0
		use:
			stxdw [%r1+0], %r10
			mov %r0, 0
			exit`, "leak an address"},
		{"packet pointers spilled and filled keep their relation to the end", `
			ldxw %r2, [%r1+0]
			ldxw %r3, [%r1+4]
			stxdw [%r10-16], %r2
			stxdw [%r10-24], %r3
			ldxdw %r2, [%r10-16]
			add %r2, 14
			ldxdw %r3, [%r10-24]
			jgt %r2, %r3, out
			ldxdw %r2, [%r10-16]
			ldxb %r0, [%r2+13]
			exit
		out:
			mov %r0, 1
			exit`, ""},
		{"packet pointers spilled and filled, access past the check", `
			ldxw %r2, [%r1+0]
			ldxw %r3, [%r1+4]
			stxdw [%r10-16], %r2
			stxdw [%r10-24], %r3
			ldxdw %r2, [%r10-16]
			add %r2, 14
			ldxdw %r3, [%r10-24]
			jgt %r2, %r3, out
			ldxdw %r2, [%r10-16]
			ldxb %r0, [%r2+14]
			exit
		out:
			mov %r0, 1
			exit`, "past the packet's end"},
		{"infinite loop", "mov %r0, 0\nloop:\nadd %r0, 1\nja loop", "not proven to end"},
		{"infinite loop without state change", "mov %r0, 0\nloop:\nja loop", "not proven to end"},
		{"loop bounded by a 32-bit number", `
			ldxw %r2, [%r1+12]
			mov %r0, 0
			mov %r1, 0
		loop:
			add %r1, 1
			jlt %r1, %r2, loop
			exit`, "more than the limit"},
		{"callx of a known helper", "mov %r2, 7\ncall %r2\nmov %r0, 0\nexit", ""},
		{"callx of an unknown id", "ldxw %r2, [%r1+12]\ncall %r2\nmov %r0, 0\nexit", "not one known helper id"},
		{"callx of a pointer", "mov %r2, %r10\ncall %r2\nmov %r0, 0\nexit", "not a helper id"},
		{"callx checks the helper's arguments", "mov %r2, 1\ncall %r2\nmov %r0, 0\nexit", "argument 1 of bpf_map_lookup_elem"},
		{"loop bounded through a 32-bit truncation", `
			mov %r6, 0
		loop:
			add %r6, 1
			mov %r1, %r6
			lsh %r1, 32
			rsh %r1, 32
			jne %r1, 1000, loop
			mov %r0, 0
			exit`, ""},
		{"stack read after a loop that may leave before writing it", `
			mov %r6, 0
		loop:
			add %r6, 1
			call 7
			jeq %r0, 0, out
			stdw [%r10-8], 1
			jlt %r6, 4, loop
		out:
			ldxdw %r0, [%r10-8]
			exit`, "uninitialized stack byte"},
		{"stack read after a loop that writes it before leaving", `
			mov %r6, 0
		loop:
			add %r6, 1
			stdw [%r10-8], 1
			call 7
			jeq %r0, 0, out
			jlt %r6, 4, loop
		out:
			ldxdw %r0, [%r10-8]
			exit`, ""},
		{"loop over the packet bounded by data_end - data", `
			ldxw %r2, [%r1+4]
			ldxw %r1, [%r1+0]
			mov %r0, 0
			jeq %r2, %r1, out
			sub %r2, %r1
			mov %r3, 0
		loop:
			mov %r4, %r3
			add %r4, %r1
			ldxb %r4, [%r4+0]
			add %r0, %r4
			add %r3, 1
			jle %r2, %r3, out
			ja loop
		out:
			exit`, ""},
		{"loop over the packet one byte too far", `
			ldxw %r2, [%r1+4]
			ldxw %r1, [%r1+0]
			mov %r0, 0
			jeq %r2, %r1, out
			sub %r2, %r1
			mov %r3, 0
		loop:
			mov %r4, %r3
			add %r4, %r1
			ldxb %r4, [%r4+0]
			add %r0, %r4
			add %r3, 1
			jlt %r2, %r3, out
			ja loop
		out:
			exit`, "may run past the packet's end"},
		{"pointer compared with 0", `
			mov %r2, %r10
			jeq %r2, 0, out
			mov %r0, 0
		out:
			exit`, ""},
		{"loop bounded by !=", `
			mov %r0, 0
			mov %r1, 0
		loop:
			add %r0, 2
			add %r1, 1
			jne %r1, 64, loop
			exit`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := verifier.Verify(assemble(t, tc.src), nil)
			checkVerdict(t, err, tc.want)
		})
	}
}

// The error names the instruction, the failed condition and the registers' state.
func TestErrorDetail(t *testing.T) {
	_, err := verifier.Verify(assemble(t, "ldxw %r2, [%r1+0]\nldxb %r0, [%r2+3]\nexit"), nil)
	var ve *verifier.Error
	if !errors.As(err, &ve) {
		t.Fatalf("%v is not a *verifier.Error", err)
	}
	if ve.Slot != 1 || ve.Text != "r0 = *(u8 *)(r2 + 3)" || !strings.Contains(ve.State, "r2=packet") {
		t.Fatalf("error detail: %+v", ve)
	}
}

// FuzzVerify runs the verifier on arbitrary programs: it must accept or refuse each with
// an error, never panic or hang.
func FuzzVerify(f *testing.F) {
	for _, s := range []string{
		"mov %r0, 2\nexit",
		"ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, +1\nldxb %r0, [%r2+13]\nexit",
		"mov %r0, 0\nmov %r1, 0\nadd %r0, %r1\nadd %r1, 1\njlt %r1, 10, -3\nexit",
	} {
		insns, err := isa.Assemble(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(isa.Encode(insns), uint8(progtype.XDP))
	}
	f.Fuzz(func(t *testing.T, code []byte, typ uint8) {
		insns, err := isa.Decode(code)
		if err != nil {
			return
		}
		p := &verifier.Program{Instructions: insns, Type: progtype.Type(typ % 40), Maps: testMaps}
		for i, ins := range insns {
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

func TestReturnRange(t *testing.T) {
	for _, tc := range []struct {
		typ    progtype.Type
		attach progtype.AttachType
		ret    string
		ok     bool
	}{
		{progtype.CgroupSockAddr, progtype.AttachCgroupInet4Connect, "1", true},
		{progtype.CgroupSockAddr, progtype.AttachCgroupInet4Connect, "2", false},
		{progtype.CgroupSockAddr, progtype.AttachCgroupInet4Bind, "3", true},
		{progtype.CgroupSKB, 0, "3", true},
		{progtype.CgroupSKB, 0, "4", false},
		{progtype.XDP, 0, "12345", true},
		{progtype.Bind, 0, "3", true},
		{progtype.Bind, 0, "4", false},
	} {
		p := assemble(t, "mov %r0, "+tc.ret+"\nexit")
		p.Type, p.AttachType = tc.typ, tc.attach
		_, err := verifier.Verify(p, nil)
		if (err == nil) != tc.ok {
			t.Errorf("%s/%s returning %s: %v", tc.typ, tc.attach, tc.ret, err)
		}
	}
}

func TestOptionsAndWarnings(t *testing.T) {
	leak := `
		stw [%r10-4], 0
		lddw %r1, 0xabcd0000
		mov %r2, %r10
		add %r2, -4
		call 1
		jeq %r0, 0, out
		stxdw [%r0+0], %r10
	out:
		mov %r0, 0
		exit`
	if _, err := verifier.Verify(assemble(t, leak), &verifier.Options{AllowPointerLeaks: true}); err != nil {
		t.Fatalf("pointer store with AllowPointerLeaks: %v", err)
	}
	res, err := verifier.Verify(assemble(t, "ldxw %r2, [%r1+12]\nmov %r0, 100\ndiv %r0, %r2\nexit"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "may be 0") {
		t.Fatalf("warnings %q, want one about a division by a value that may be 0", res.Warnings)
	}
	res, err = verifier.Verify(assemble(t, "mov %r0, 100\ndiv %r0, 7\nexit"), nil)
	if err != nil || len(res.Warnings) != 0 {
		t.Fatalf("division by 7: %v %q", err, res.Warnings)
	}
}

// Only program types that may change their packet can write into it, directly or through
// a helper, as in Linux; reads are allowed to all that have one.
func TestPacketWrites(t *testing.T) {
	body := func(dataOff, endOff int, load string) string {
		return fmt.Sprintf(`
			%s %%r2, [%%r1+%d]
			%s %%r3, [%%r1+%d]
			mov %%r4, %%r2
			add %%r4, 1
			mov %%r0, 0
			jgt %%r4, %%r3, out
			ACCESS
		out:
			exit`, load, dataOff, load, endOff)
	}
	for _, tc := range []struct {
		typ      progtype.Type
		src      string // the program, with ACCESS for the access
		writable bool
	}{
		{progtype.XDP, body(0, 4, "ldxw"), true},
		{progtype.SchedCls, body(76, 80, "ldxw"), true},
		{progtype.CgroupSKB, body(76, 80, "ldxw"), false},
		{progtype.Process, body(0, 8, "ldxdw"), false},
		{progtype.Bind, body(0, 8, "ldxdw"), false},
	} {
		for _, access := range []struct {
			name  string
			insn  string
			write bool
		}{{"read", "ldxb %r5, [%r2+0]", false}, {"write", "stb [%r2+0], 1", true}} {
			t.Run(fmt.Sprintf("%s %s", tc.typ, access.name), func(t *testing.T) {
				insns, err := isa.Assemble(strings.Replace(tc.src, "ACCESS", access.insn, 1))
				if err != nil {
					t.Fatal(err)
				}
				_, err = verifier.Verify(&verifier.Program{Name: "test", Instructions: insns, Type: tc.typ}, nil)
				refused := access.write && !tc.writable
				if refused && (err == nil || !strings.Contains(err.Error(), "may not write into their packet")) {
					t.Fatalf("error %v, want a refusal to write the packet", err)
				}
				if !refused && err != nil {
					t.Fatalf("refused: %v", err)
				}
			})
		}
	}
}

// pathSize writes 8 bytes on one path and 4 on the other, and passes trace_printk the
// size that goes with each path (the short path's size is short).
func pathSize(long, short int) string {
	return fmt.Sprintf(`
		call 7
		jeq %%r0, 0, short
		stdw [%%r10-8], 0
		mov %%r2, %d
		ja print
	short:
		stw [%%r10-8], 0
		mov %%r2, %d
	print:
		mov %%r1, %%r10
		add %%r1, -8
		call 6
		mov %%r0, 0
		exit`, long, short)
}

// pathBuffer points r6 at the buffer each path writes (the second path's pointer is off).
func pathBuffer(second int) string {
	return fmt.Sprintf(`
		call 7
		jeq %%r0, 0, b
		stdw [%%r10-16], 1
		mov %%r6, %%r10
		add %%r6, -16
		ja use
	b:
		stdw [%%r10-8], 2
		mov %%r6, %%r10
		add %%r6, %d
	use:
		ldxdw %%r0, [%%r6+0]
		exit`, second)
}

// pathPacket leaves r7 0, or the packet's start when 14 bytes are there, and reads it
// when it is not 0.
func pathPacket(off int) string {
	return fmt.Sprintf(`
		mov %%r7, 0
		ldxw %%r2, [%%r1+0]
		ldxw %%r3, [%%r1+4]
		mov %%r4, %%r2
		add %%r4, 14
		jgt %%r4, %%r3, skip
		mov %%r7, %%r2
	skip:
		jeq %%r7, 0, out
		ldxb %%r0, [%%r7+%d]
		exit
	out:
		mov %%r0, 1
		exit`, off)
}

// pathMany chains n diamonds, the k-th writing stack byte -k-1 on one arm and -k-1 and
// -n-k-1 on the other (2^n paths, more than the verifier keeps apart), then reads bytes
// -n..-1, all written on every path, or, when missing, byte -n-1 too, which one arm
// skips.
func pathMany(n int, missing bool) string {
	var b strings.Builder
	for k := 0; k < n; k++ {
		fmt.Fprintf(&b, "call 7\njeq %%r0, 0, a%d\nstb [%%r10-%d], 1\nja j%d\na%d:\nstb [%%r10-%d], 2\nstb [%%r10-%d], 3\nj%d:\n", k, k+1, k, k, k+1, n+k+1, k)
	}
	lo := n
	if missing {
		lo = n + 1
	}
	fmt.Fprintf(&b, "mov %%r1, %%r10\nadd %%r1, -%d\nmov %%r2, %d\ncall 6\nmov %%r0, 0\nexit", lo, lo)
	return b.String()
}

// Loops are walked round by round: what leaves the loop in any round reaches the code
// after it, and the number of rounds is checked against MaxLoopIterations.
func TestLoopRounds(t *testing.T) {
	src := `
		mov %r6, 0
	loop:
		add %r6, 1
		jeq %r6, 5, out
		call 7
		jeq %r0, 0, out
		ja loop
	out:
		mov %r0, %r6
		exit`
	res, err := verifier.Verify(assemble(t, src), nil)
	if err != nil {
		t.Fatal(err)
	}
	for x := uint64(0); x <= 6; x++ {
		if want := x >= 1 && x <= 5; res.MayReturn(x) != want {
			t.Errorf("MayReturn(%d) = %v, want %v (returns %s)", x, !want, want, res.Returns())
		}
	}
	for _, tc := range []struct {
		limit int
		want  string
	}{{5, ""}, {4, "may run 5 times, more than the limit of 4"}} {
		_, err := verifier.Verify(assemble(t, src), &verifier.Options{MaxLoopIterations: tc.limit})
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("limit %d: %v, want %q", tc.limit, err, tc.want)
		}
	}
}

// lockedLookup looks key up in the map with a spin lock (testMaps[3]) into reg, leaving
// the program when it is not found.
func lockedLookup(reg string, key int) string { return lookupInto(3, reg, key) }

// lookupInto looks key up in testMaps[m] into reg, leaving the program when it is not
// found.
func lookupInto(m int, reg string, key int) string {
	return fmt.Sprintf(`
		stw [%%r10-4], %d
		lddw %%r1, 0xabcd%02x00
		mov %%r2, %%r10
		add %%r2, -4
		call 1
		jeq %%r0, 0, out
		mov %s, %%r0
`, key, m, reg)
}

// lockCall calls bpf_spin_lock (93) or bpf_spin_unlock (94) on reg + off.
func lockCall(helper int, reg string, off int) string {
	return fmt.Sprintf("mov %%r1, %s\nadd %%r1, %d\ncall %d\n", reg, off, helper)
}

func TestSpinLocks(t *testing.T) {
	const out = "out:\nmov %r0, 2\nexit"
	lock, unlock := lockCall(93, "%r6", 8), lockCall(94, "%r6", 8)
	for _, tc := range []struct {
		name, src, want string
	}{
		{"lock, update, unlock", lockedLookup("%r6", 0) + lock + "ldxdw %r2, [%r6+0]\nadd %r2, 1\nstxdw [%r6+0], %r2\n" + unlock + out, ""},
		{"bytes after the lock", lockedLookup("%r6", 0) + lock + "stw [%r6+12], 1\n" + unlock + out, ""},
		{"exit with the lock held", lockedLookup("%r6", 0) + lock + out, "exits with a spin lock held"},
		{"lock twice", lockedLookup("%r6", 0) + lock + lock + unlock + out, "bpf_spin_lock called while a spin lock is held"},
		{"unlock without lock", lockedLookup("%r6", 0) + unlock + out, "without a lock held"},
		{"helper call while locked", lockedLookup("%r6", 0) + lock + "call 5\n" + unlock + out, "bpf_ktime_get_ns called while a spin lock is held"},
		{"tail call while locked", lockedLookup("%r6", 0) + lock + "mov %r1, 0\nmov %r2, 0\nmov %r3, 0\ncall 12\n" + unlock + out, "bpf_tail_call called while a spin lock is held"},
		{"lock word written", lockedLookup("%r6", 0) + "stw [%r6+8], 1\n" + lock + unlock + out, "touches the struct bpf_spin_lock"},
		{"lock word read", lockedLookup("%r6", 0) + lock + "ldxw %r2, [%r6+8]\n" + unlock + out, "touches the struct bpf_spin_lock"},
		{"read overlapping the lock", lockedLookup("%r6", 0) + "ldxdw %r2, [%r6+4]\n" + out, "touches the struct bpf_spin_lock"},
		{"helper writing over the lock", lockedLookup("%r6", 0) + "mov %r1, %r6\nmov %r2, 16\ncall 16\n" + out, "touches the struct bpf_spin_lock"},
		{"lock at another offset", lockedLookup("%r6", 0) + lockCall(93, "%r6", 0) + lockCall(94, "%r6", 0) + out, "not at its struct bpf_spin_lock (offset 8)"},
		{"map without a lock", lookupInto(0, "%r6", 0) + lock + unlock + out, "map hash has no struct bpf_spin_lock"},
		{"unlock another lookup's lock", lockedLookup("%r6", 0) + lockedLookup("%r7", 1) + lock + lockCall(94, "%r7", 8) + out, "may not be the one held"},
		{"paths holding different locks", lockedLookup("%r6", 0) + lockedLookup("%r7", 1) + `
			ldxw %r8, [%r6+0]
			jeq %r8, 0, other
		` + lock + "ja both\nother:\n" + lockCall(93, "%r7", 8) + "both:\n" + unlock + out, "may not be the one held"},
		{"lock through a pointer not checked for NULL", `
			stw [%r10-4], 0
			lddw %r1, 0xabcd0300
			mov %r2, %r10
			add %r2, -4
			call 1
			mov %r6, %r0
		` + lock + unlock + "ja out\n" + out, "may be NULL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := verifier.Verify(assemble(t, tc.src), nil)
			checkVerdict(t, err, tc.want)
		})
	}
}

// TestCallbackForgetsCallerRegisters: a callback's r1 (bpf_loop's index) is a new value;
// what the zone related to the caller's r1 (here the constant 4, the loop count) must
// not stick to it. It did once: the comparison r1 >= 8 then looked impossible, and the
// code after it, which reads past the stack, was never checked.
func TestCallbackForgetsCallerRegisters(t *testing.T) {
	insns, err := isa.Assemble(`
		stdw [%r10-8], 0
		mov %r1, 4
		lddw %r2, 0x77
		mov %r3, %r10
		add %r3, -8
		mov %r4, 0
		call 181
		mov %r0, 2
		exit
		mov %r3, 8
		jlt %r1, %r3, small
		ldxdw %r0, [%r10+0]
		exit
	small:
		mov %r0, 0
		exit`)
	if err != nil {
		t.Fatal(err)
	}
	slot, callback := 0, 0
	for i, ins := range insns {
		if i == 9 { // the callback's first instruction
			callback = slot
		}
		slot += ins.Slots()
	}
	lddw := 2
	insns[lddw].Src = isa.Register(isa.PseudoFunc)
	insns[lddw].Constant = int64(callback - (2 + 1)) // relative to the LDDW's slot (2) plus one
	p := &verifier.Program{Name: "test", Instructions: insns, Type: progtype.XDP}
	_, err = verifier.Verify(p, &verifier.Options{AllowUnreachable: true})
	if err == nil || !strings.Contains(err.Error(), "outside the 512-byte stack") {
		t.Fatalf("verify: %v, want the read past the stack refused", err)
	}
}

// TestLog: Options.Log gets one line per instruction processed, loop rounds included,
// with the registers before it.
func TestLog(t *testing.T) {
	var log strings.Builder
	p := assemble(t, `
		mov %r0, 0
		mov %r1, 0
	loop:
		add %r0, 2
		add %r1, 1
		jne %r1, 3, loop
		exit`)
	res, err := verifier.Verify(p, &verifier.Options{Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(log.String(), "\n"), "\n")
	if len(lines) != res.Processed {
		t.Errorf("%d log lines for %d instructions processed:\n%s", len(lines), res.Processed, log.String())
	}
	for _, want := range []string{
		"0: r0 = 0\t; r1=ctx+0 r10=stack(frame 0)+0",
		"2: r0 += 2\t; r0=0 r1=0 r10=stack(frame 0)+0",
		"2: r0 += 2\t; r0=4 r1=2 r10=stack(frame 0)+0",
		"5: exit\t; r0=6 r1=3 r10=stack(frame 0)+0",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("no log line %q in:\n%s", want, log.String())
		}
	}
}
