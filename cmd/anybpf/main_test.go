package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/anybpf/anybpf/engine/jit"
	"github.com/anybpf/anybpf/isa"
)

// run executes the CLI in-process with the given standard input.
func run(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := newRootCommand(strings.NewReader(stdin), &out, &errb)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), errb.String(), err
}

func writeProgram(t *testing.T, asm string) string {
	t.Helper()
	insns, err := isa.Assemble(asm)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "prog.bin")
	if err := os.WriteFile(path, isa.Encode(insns), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const sumProgram = `
mov %r0, 0
loop:
jeq %r2, 0, done
ldxb %r3, [%r1+0]
add %r0, %r3
stb [%r1+0], 0xff
add %r1, 1
sub %r2, 1
ja loop
done:
exit`

func TestProgRun(t *testing.T) {
	prog := writeProgram(t, sumProgram)
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	if err := os.WriteFile(in, []byte{1, 2, 3, 4}, 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err := run(t, "", "prog", "run", prog, "data_in", in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "Return value: 10, duration (average): ") {
		t.Fatalf("output %q", out)
	}
	// Repeats share one buffer, as BPF_PROG_TEST_RUN does: later runs see the 0xff the
	// first one wrote.
	dataOut := filepath.Join(dir, "out")
	out, _, err = run(t, "", "-j", "prog", "run", prog, "data_in", in, "repeat", "2", "data_out", dataOut)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Retval     uint64 `json:"retval"`
		DurationNs *int64 `json:"duration_ns"`
		DataOut    string `json:"data_out"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if res.Retval != 4*0xff || res.DurationNs == nil || res.DataOut != "ffffffff" {
		t.Fatalf("JSON result %+v", res)
	}
	if b, _ := os.ReadFile(dataOut); !bytes.Equal(b, []byte{0xff, 0xff, 0xff, 0xff}) {
		t.Fatalf("data_out file holds %x", b)
	}
}

func TestProgRunErrors(t *testing.T) {
	prog := writeProgram(t, sumProgram)
	bad := writeProgram(t, "ldxw %r0, [%r1+8]\nexit")
	elf := filepath.Join(t.TempDir(), "x.o")
	os.WriteFile(elf, []byte("\x7fELF\x02\x01\x01"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"prog", "run"}, "requires at least 1 arg"},
		{[]string{"prog", "run", prog, "repeat"}, `"repeat" needs a value`},
		{[]string{"prog", "run", prog, "repeat", "x"}, "not a positive number"},
		{[]string{"prog", "run", prog, "bogus"}, `unknown argument "bogus"`},
		{[]string{"prog", "run", prog, "engine", "warp"}, `unknown engine "warp"`},
		{[]string{"prog", "run", "/nonexistent"}, "no such file"},
		{[]string{"prog", "run", elf}, "invalid eBPF object"},
		{[]string{"prog", "run", filepath.Join("..", "..", "testdata", "xdp_counter.o"), "name", "nope"}, `no program named "nope"`},
		{[]string{"prog", "run", filepath.Join("..", "..", "testdata", "xdp_counter.o"), "unchecked"}, "always run checked"},
		{[]string{"prog", "run", bad}, "invalid memory access"},
	} {
		_, _, err := run(t, "", tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestDisasm(t *testing.T) {
	prog := writeProgram(t, "mov %r0, 1\nlddw %r1, 0x100000000\nexit")
	out, _, err := run(t, "", "disasm", prog)
	if err != nil || out != "   0: r0 = 1\n   1: r1 = 0x100000000 ll\n   3: exit\n" {
		t.Fatalf("disasm = %q, %v", out, err)
	}
	out, _, err = run(t, "", "disasm", "--syntax", "conformance", prog)
	if err != nil || !strings.Contains(out, "mov %r0, 1") {
		t.Fatalf("disasm conformance = %q, %v", out, err)
	}
	out, _, err = run(t, "", "-j", "disasm", prog)
	var rows []map[string]any
	if err != nil || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 3 || rows[1]["pc"] != 1.0 || rows[2]["pc"] != 3.0 {
		t.Fatalf("disasm -j = %q, %v", out, err)
	}
	if _, _, err := run(t, "", "disasm", "--syntax", "att", prog); err == nil {
		t.Fatal("unknown syntax accepted")
	}
}

func TestConformancePlugin(t *testing.T) {
	hexOf := func(asm string) string {
		insns, err := isa.Assemble(asm)
		if err != nil {
			t.Fatal(err)
		}
		var sb strings.Builder
		for _, b := range isa.Encode(insns) {
			fmt.Fprintf(&sb, "%02x  ", b)
		}
		return sb.String()
	}
	out, _, err := run(t, hexOf("ldxh %r0, [%r1+1]\nexit"), "conformance-plugin", "11  22  33  ")
	if err != nil || out != "3322\n" {
		t.Fatalf("plugin = %q, %v", out, err)
	}
	// Compact hex works too, and the unwind helper (5) is there.
	out, _, err = run(t, "b701000000000000850000000500000095000000000000000", "conformance-plugin")
	if err == nil {
		t.Fatalf("odd-length hex accepted: %q", out)
	}
	out, _, err = run(t, "b7010000000000008500000005000000b7000000020000009500000000000000", "conformance-plugin")
	if err != nil || out != "0\n" {
		t.Fatalf("unwind: %q, %v", out, err)
	}
	for _, tc := range []struct{ stdin, arg, want string }{
		{"zz", "", "invalid hex"},
		{hexOf("ldxw %r0, [%r1+0]\nexit"), "01", "invalid memory access"},
		{"0700010001000000 9500000000000000", "", "reserved field"},
		{hexOf("exit"), "", "uninitialized"},
	} {
		args := []string{"conformance-plugin"}
		if tc.arg != "" {
			args = append(args, tc.arg)
		}
		if _, _, err := run(t, tc.stdin, args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("stdin %q: error %v, want %q", tc.stdin, err, tc.want)
		}
	}
	if _, _, err := run(t, hexOf("mov %r0, 0\nexit"), "conformance-plugin", "--elf"); err == nil {
		t.Error("--elf accepted")
	}
}

func TestProgShow(t *testing.T) {
	obj := filepath.Join("..", "..", "bench", "programs", "crc32.bpf.o")
	out, _, err := run(t, "", "prog", "show", obj)
	if err != nil || !strings.Contains(out, "0: unknown  name bench_crc32  section .text  insns 26") {
		t.Fatalf("prog show = %q, %v", out, err)
	}
	out, _, err = run(t, "", "-j", "prog", "show", obj)
	var res struct {
		Programs []struct {
			Name  string `json:"name"`
			Insns int    `json:"insns"`
		} `json:"programs"`
	}
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || len(res.Programs) != 1 || res.Programs[0].Insns != 26 {
		t.Fatalf("prog show -j = %q, %v", out, err)
	}
	if _, _, err := run(t, "", "prog", "show", filepath.Join("..", "..", "bench", "programs", "crc32.bin")); err == nil {
		t.Fatal("raw bytecode accepted as an ELF object")
	}
}

func TestProgRunObject(t *testing.T) {
	dir := t.TempDir()
	pkt := filepath.Join(dir, "pkt")
	frame := append([]byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x86, 0xdd}, "ipv6"...)
	os.WriteFile(pkt, frame, 0o644)
	obj := filepath.Join("..", "..", "testdata", "xdp_counter.o")
	out, _, err := run(t, "", "prog", "run", obj, "name", "xdp_count", "data_in", pkt, "repeat", "5")
	if err != nil || !strings.HasPrefix(out, "Return value: 1, duration (average): ") {
		t.Fatalf("xdp_count on IPv6: %q, %v (want XDP_DROP = 1)", out, err)
	}
	out, _, err = run(t, "", "-j", "prog", "run", obj, "name", "xdp_strip2", "data_in", pkt)
	var res struct {
		Retval  uint64 `json:"retval"`
		DataOut string `json:"data_out"`
	}
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || res.Retval != 3 || res.DataOut != fmt.Sprintf("%x", frame[2:]) {
		t.Fatalf("xdp_strip2: %q, %v", out, err)
	}
}

func TestProgDumpAndMaps(t *testing.T) {
	obj := filepath.Join("..", "..", "testdata", "xdp_counter.o")
	out, _, err := run(t, "", "prog", "dump", "xlated", obj, "name", "xdp_count")
	if err != nil || !strings.Contains(out, "r1 = map[counts] ll") || !strings.Contains(out, "call bpf_map_lookup_elem#1") || !strings.Contains(out, "r2 = *(u64 *)(r1 + 8)") {
		t.Fatalf("dump xlated: %v\n%s", err, out)
	}
	// Source lines from BTF line info come before the instructions they produced.
	if !strings.Contains(out, "; int xdp_count(struct xdp_md *ctx) @ xdp_counter.c:26\n   0: ") {
		t.Fatalf("dump xlated has no source line for the program's first statement:\n%s", out)
	}
	out, _, err = run(t, "", "prog", "dump", "jited", obj, "name", "xdp_strip2")
	if jit.Supported {
		// Each eBPF instruction is followed by the x86-64 code it became.
		if err != nil || !strings.Contains(out, "   0: r6 = r1\n\t") || !strings.Contains(out, "mov %rdi,%rbx") {
			t.Fatalf("dump jited: %v\n%s", err, out)
		}
	} else if err == nil {
		t.Fatal("dump jited worked without a JIT")
	}
	pkt := filepath.Join(t.TempDir(), "pkt")
	os.WriteFile(pkt, append([]byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00}, "hi"...), 0o644)
	out, _, err = run(t, "", "-j", "prog", "run", obj, "name", "xdp_count", "data_in", pkt, "repeat", "3", "dump-maps")
	var res struct {
		Maps map[string][]struct {
			Key   []string `json:"key"`
			Value []string `json:"value"`
		} `json:"maps"`
	}
	if err != nil || json.Unmarshal([]byte(out), &res) != nil {
		t.Fatalf("%v: %s", err, out)
	}
	bp := res.Maps["by_proto"]
	if len(bp) != 1 || strings.Join(bp[0].Key, " ") != "0x00 0x08" || bp[0].Value[0] != "0x03" {
		t.Fatalf("by_proto dump %+v", bp)
	}
}

func TestProgVerify(t *testing.T) {
	out, _, err := run(t, "", "prog", "verify", filepath.Join("..", "..", "testdata", "xdp_counter.o"))
	if err != nil || !strings.Contains(out, "xdp_count (xdp, section xdp): verified: 55 instructions, ") {
		t.Fatalf("verify xdp_counter.o: %v\n%s", err, out)
	}
	out, _, err = run(t, "", "prog", "verify", filepath.Join("..", "..", "testdata", "unverifiable.o"))
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(out, "refused: ") || !strings.Contains(out, "unverifiable.c:9") {
		t.Fatalf("verify unverifiable.o: %v\n%s", err, out)
	}
	type verdict struct {
		Program  string `json:"program"`
		Verified bool   `json:"verified"`
		Error    *struct {
			PC      int    `json:"pc"`
			Message string `json:"message"`
			Line    string `json:"line"`
		} `json:"error"`
		Instructions int      `json:"instructions"`
		Insns        int      `json:"verified_insns"`
		TimeMS       *float64 `json:"time_ms"`
	}
	var res []verdict
	out, _, err = run(t, "", "-j", "prog", "verify", filepath.Join("..", "..", "testdata", "oracle_maps.o"), "name", "calls_and_loops")
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || len(res) != 1 || !res[0].Verified || res[0].Insns == 0 || res[0].Instructions == 0 || res[0].TimeMS == nil || res[0].Error != nil {
		t.Fatalf("verify -j: %v\n%s", err, out)
	}
	// log: the verifier's log, one line per instruction processed, before the verdict.
	out, _, err = run(t, "", "prog", "verify", filepath.Join("..", "..", "testdata", "unverifiable.o"), "log")
	if !errors.As(err, &ee) || ee.code != 1 || !strings.HasPrefix(out, "; program no_bounds_check (section xdp)\n0: r1 = *(u32 *)(r1 + 0)\t; r1=ctx+0 r10=stack(frame 0)+0\n1: ") ||
		!strings.Contains(out, "\nno_bounds_check (xdp, section xdp): refused: ") {
		t.Fatalf("verify log: %v\n%s", err, out)
	}
	if out, errOut, _ := run(t, "", "-j", "prog", "verify", filepath.Join("..", "..", "testdata", "unverifiable.o"), "log"); !strings.HasPrefix(out, "[") || !strings.Contains(errOut, "0: r1 = *(u32 *)(r1 + 0)") {
		t.Fatalf("verify -j log: the log belongs on stderr\nstdout: %s\nstderr: %s", out, errOut)
	}
	// Functions of .text are judged within the programs that call them: sum_bytes reads
	// through its pointer argument, which nothing bounds when it is verified alone.
	out, _, err = run(t, "", "prog", "verify", filepath.Join("..", "..", "testdata", "oracle_maps.o"))
	if err != nil || !strings.Contains(out, "sum_bytes (unspec, section .text): verified as part of calls_and_loops (a function of .text, not verifiable alone)") {
		t.Fatalf("verify oracle_maps.o: %v\n%s", err, out)
	}
	var within []struct {
		Verified bool     `json:"verified"`
		CalledBy []string `json:"called_by"`
	}
	out, _, err = run(t, "", "-j", "prog", "verify", filepath.Join("..", "..", "testdata", "oracle_maps.o"), "name", "sum_bytes")
	if err != nil || json.Unmarshal([]byte(out), &within) != nil || len(within) != 1 || !within[0].Verified || !slices.Equal(within[0].CalledBy, []string{"calls_and_loops"}) {
		t.Fatalf("verify -j of a .text function: %v\n%s", err, out)
	}
	// Asked to verify it alone as a program type, it is judged alone.
	if out, _, err = run(t, "", "prog", "verify", filepath.Join("..", "..", "testdata", "oracle_maps.o"), "name", "sum_bytes", "type", "xdp"); !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(out, "refused: ") {
		t.Fatalf("verify sum_bytes as xdp: %v\n%s", err, out)
	}
	out, _, err = run(t, "", "-j", "prog", "verify", filepath.Join("..", "..", "testdata", "unverifiable.o"))
	if json.Unmarshal([]byte(out), &res) != nil || len(res) != 1 || res[0].Verified || res[0].Error == nil || res[0].Error.PC != 1 ||
		!strings.Contains(res[0].Error.Message, "past the packet's end") || !strings.Contains(res[0].Error.Line, "unverifiable.c:9") {
		t.Fatalf("verify -j of a refused program: %v\n%s", err, out)
	}

	// Raw bytecode: a packet read with a bounds check is safe as an XDP program, and
	// without a type there is nothing to verify it as.
	insns, err := isa.Assemble(`
		ldxw %r2, [%r1+0]
		ldxw %r3, [%r1+4]
		mov %r0, 0
		mov %r4, %r2
		add %r4, 14
		jgt %r4, %r3, out
		ldxb %r0, [%r2+13]
		and %r0, 3
	out:
		exit`)
	if err != nil {
		t.Fatal(err)
	}
	raw := filepath.Join(t.TempDir(), "prog.bin")
	if err := os.WriteFile(raw, isa.Encode(insns), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _, err := run(t, "", "prog", "verify", raw, "type", "xdp", "verbose"); err != nil || !strings.HasPrefix(out, "verified: 9 instructions, ") || !strings.Contains(out, "r0 at exit: [0, 3]") {
		t.Fatalf("verify raw bytecode as xdp: %v\n%s", err, out)
	}
	// As a socket filter the same code reads a __sk_buff: offset 4 is not data_end.
	if out, _, err := run(t, "", "prog", "verify", raw, "type", "socket"); !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(out, "refused: ") {
		t.Fatalf("verify raw bytecode as socket: %v\n%s", err, out)
	}

	for _, bad := range [][]string{
		{raw},                         // raw bytecode without a type
		{raw, "type", "no_such_type"}, // unknown type
		{filepath.Join("..", "..", "testdata", "xdp_counter.o"), "name", "nope"},
		{filepath.Join("..", "..", "testdata", "xdp_counter.o"), "section", "tc"},
		{filepath.Join("..", "..", "testdata", "xdp_counter.o"), "name", "xdp_count", "section", "xdp"},
	} {
		if _, errOut, err := run(t, "", append([]string{"prog", "verify"}, bad...)...); err == nil {
			t.Errorf("prog verify %q succeeded", bad)
		} else if errors.As(err, &ee) && ee.code == 1 {
			t.Errorf("prog verify %q: a usage error reported as a refusal: %s", bad, errOut)
		}
	}
	if out, _, err := run(t, "", "prog", "verify", filepath.Join("..", "..", "testdata", "xdp_counter.o"), "section", "xdp"); err != nil || strings.Count(out, "verified: ") != 2 {
		t.Fatalf("verify section xdp: %v\n%s", err, out)
	}
}
