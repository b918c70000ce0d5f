// Package conformance reads bpf_conformance test files and runs programs the way the
// bpf_conformance suite expects: input memory in r1 (pointer) and r2 (length), r0 as the
// result, and helper 5 as the suite's "unwind" helper.
package conformance

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/isa"
)

// ErrFormat is wrapped by errors about malformed test files.
var ErrFormat = errors.New("malformed conformance test file")

// Test is one parsed test file.
type Test struct {
	Name string
	// Asm is the "-- asm" section, Raw the "-- raw" section as bytes; Raw wins when both
	// are present, as in the upstream runner.
	Asm       string
	Raw       []byte
	Mem       []byte
	Result    uint64
	HasResult bool
	// Error is the "-- error" section; HasError is set when the section exists, even
	// empty.
	Error    string
	HasError bool
}

// Program returns the test's program as bytes: the raw section, or the assembled asm.
func (t *Test) Program() ([]byte, error) {
	if len(t.Raw) > 0 {
		return t.Raw, nil
	}
	if strings.TrimSpace(t.Asm) == "" {
		return nil, fmt.Errorf("%s: %w: no program (neither -- asm nor -- raw)", t.Name, ErrFormat)
	}
	insns, err := isa.Assemble(t.Asm)
	if err != nil {
		return nil, fmt.Errorf("%s: assemble: %w", t.Name, err)
	}
	if len(insns) == 0 {
		return nil, fmt.Errorf("%s: %w: the asm section has no instructions", t.Name, ErrFormat)
	}
	return isa.Encode(insns), nil
}

// Instructions returns the test's program decoded.
func (t *Test) Instructions() ([]isa.Instruction, error) {
	prog, err := t.Program()
	if err != nil {
		return nil, err
	}
	insns, err := isa.Decode(prog)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Name, err)
	}
	return insns, nil
}

// LoadDir parses every *.data file in dir.
func LoadDir(dir string) ([]*Test, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.data"))
	if err != nil {
		return nil, err
	}
	tests := make([]*Test, 0, len(files))
	for _, f := range files {
		tc, err := ParseFile(f)
		if err != nil {
			return nil, err
		}
		tests = append(tests, tc)
	}
	return tests, nil
}

// ParseFile reads a test file.
func ParseFile(path string) (*Test, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(filepath.Base(path), string(b))
}

// Parse parses the text of a test file. Sections start with "-- asm", "-- raw", "-- mem",
// "-- result", "-- error", "-- c" or "-- no register offset"; any other directive is an
// error. '#' starts a comment. A raw line is either one 64-bit word or eight byte tokens.
func Parse(name, text string) (*Test, error) {
	t := &Test{Name: name}
	section := ""
	var asm strings.Builder
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<22)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimRight(sc.Text(), "\r")
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			directive := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "--"))
			switch directive {
			case "asm", "raw", "mem", "result", "c", "no register offset":
				section = directive
			case "error":
				section = directive
				t.HasError = true
			default:
				return nil, fmt.Errorf("%s:%d: %w: unknown directive %q", name, lineNo, ErrFormat, directive)
			}
			continue
		}
		trimmed := strings.TrimSpace(line)
		switch section {
		case "asm":
			asm.WriteString(line)
			asm.WriteByte('\n')
		case "raw":
			if trimmed == "" {
				continue
			}
			b, err := parseRawLine(trimmed)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", name, lineNo, err)
			}
			t.Raw = append(t.Raw, b...)
		case "mem":
			b, err := ParseHexBytes(trimmed)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: mem: %w", name, lineNo, err)
			}
			t.Mem = append(t.Mem, b...)
		case "result":
			if trimmed == "" {
				continue
			}
			v, err := strconv.ParseUint(trimmed, 0, 64)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w: result %q", name, lineNo, ErrFormat, trimmed)
			}
			t.Result, t.HasResult = v, true
		case "error":
			if trimmed != "" {
				t.Error = trimmed
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	t.Asm = asm.String()
	if !t.HasResult && !t.HasError {
		return nil, fmt.Errorf("%s: %w: neither -- result nor -- error", name, ErrFormat)
	}
	return t, nil
}

func parseRawLine(line string) ([]byte, error) {
	fields := strings.Fields(line)
	if len(fields) == 8 {
		b, err := ParseHexBytes(line)
		if err == nil {
			return b, nil
		}
	}
	var out []byte
	for _, f := range fields {
		v, err := strconv.ParseUint(f, 0, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: raw word %q", ErrFormat, f)
		}
		out = binary.LittleEndian.AppendUint64(out, v)
	}
	return out, nil
}

// ParseHexBytes parses bytes written as hex: two-digit tokens separated by white space
// ("aa bb 01"), or one compact string of hex digits ("aabb01"). A "0x" prefix on a token
// is allowed.
func ParseHexBytes(s string) ([]byte, error) {
	var out []byte
	for _, tok := range strings.Fields(s) {
		tok = strings.TrimPrefix(strings.TrimPrefix(tok, "0x"), "0X")
		if len(tok) == 1 {
			tok = "0" + tok
		}
		if len(tok)%2 != 0 {
			return nil, fmt.Errorf("%w: odd number of hex digits in %q", ErrFormat, tok)
		}
		for i := 0; i < len(tok); i += 2 {
			v, err := strconv.ParseUint(tok[i:i+2], 16, 8)
			if err != nil {
				return nil, fmt.Errorf("%w: invalid hex byte %q", ErrFormat, tok[i:i+2])
			}
			out = append(out, byte(v))
		}
	}
	return out, nil
}

// UnwindHelperID is the helper id the suite's programs call as "unwind".
const UnwindHelperID = 5

// Helpers returns the helper table the suite expects: helper 5 returns its argument and
// stops the program with r0 = 0 when the argument is 0 (uBPF's unwind convention).
func Helpers() map[int32]engine.HelperFunc {
	return map[int32]engine.HelperFunc{
		UnwindHelperID: func(env *engine.Env, r1, _, _, _, _ uint64) uint64 {
			if r1 == 0 {
				env.Exit(0)
			}
			return r1
		},
	}
}

// DefaultBudget bounds the instructions of one conformance run.
const DefaultBudget = 100_000_000

// Run decodes and runs a program with the suite's conventions on the given engine.
// checked selects checked memory mode.
func Run(eng engine.Engine, program, mem []byte, checked bool) (uint64, error) {
	insns, err := isa.Decode(program)
	if err != nil {
		return 0, fmt.Errorf("decode: %w", err)
	}
	code, err := eng.Compile(insns, engine.Config{Helpers: Helpers(), Checked: checked, Budget: DefaultBudget})
	if err != nil {
		return 0, fmt.Errorf("compile: %w", err)
	}
	env := engine.NewEnv()
	var r1, r2 uint64
	var buf []byte
	if len(mem) > 0 {
		buf = engine.Memory(len(mem))
		copy(buf, mem)
		region := engine.RegionOf("mem", buf, true)
		env.AddRegion(region)
		r1, r2 = uint64(region.Addr), uint64(len(buf))
	}
	r0, err := code.Run(env, r1, r2)
	runtime.KeepAlive(buf)
	if err != nil {
		return 0, fmt.Errorf("run: %w", err)
	}
	return r0, nil
}
