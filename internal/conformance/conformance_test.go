package conformance_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/engine/interp"
	"github.com/anybpf/anybpf/engine/jit"
	"github.com/anybpf/anybpf/internal/conformance"
	"github.com/anybpf/anybpf/internal/testutil"
	"github.com/anybpf/anybpf/isa"
)

// engines lists every engine the suite must pass, in both memory modes.
func engines() []engine.Engine {
	if jit.Supported {
		return []engine.Engine{interp.New(), jit.New()}
	}
	return []engine.Engine{interp.New()}
}

func TestSuite(t *testing.T) {
	dir := testutil.CorpusDir(t, "bpf_conformance")
	files, err := filepath.Glob(filepath.Join(dir, "*.data"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 313 {
		t.Fatalf("found %d test files in %s, want 313", len(files), dir)
	}
	for _, eng := range engines() {
		for _, checked := range []bool{false, true} {
			mode := "unchecked"
			if checked {
				mode = "checked"
			}
			passed := 0
			t.Run(eng.Name()+"/"+mode, func(t *testing.T) {
				for _, f := range files {
					tc, err := conformance.ParseFile(f)
					if err != nil {
						t.Errorf("%s: %v", filepath.Base(f), err)
						continue
					}
					prog, err := tc.Program()
					if err != nil {
						t.Errorf("%v", err)
						continue
					}
					got, err := conformance.Run(eng, prog, tc.Mem, checked)
					switch {
					case tc.HasError && err == nil:
						t.Errorf("%s: got r0=%#x, want an error", tc.Name, got)
					case tc.HasError:
						passed++
					case err != nil:
						t.Errorf("%s: %v", tc.Name, err)
					case got != tc.Result:
						t.Errorf("%s: r0 = %#x, want %#x", tc.Name, got, tc.Result)
					default:
						passed++
					}
				}
				t.Logf("%s %s: %d of %d passed", eng.Name(), mode, passed, len(files))
			})
		}
	}
}

// TestNegative checks that every negative test file is refused: by the file parser, the
// assembler, the decoder (naming the reserved field), checked execution, or a wrong result.
func TestNegative(t *testing.T) {
	dir := testutil.CorpusDir(t, "bpf_conformance")
	files, err := filepath.Glob(filepath.Join(dir, "negative", "*.data"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 60 {
		t.Fatalf("found %d negative files, want 60", len(files))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(strings.TrimSuffix(name, ".data"), func(t *testing.T) {
			tc, err := conformance.ParseFile(f)
			if err != nil {
				t.Logf("refused by the parser: %v", err)
				return
			}
			prog, err := tc.Program()
			if err != nil {
				t.Logf("refused by the assembler: %v", err)
				return
			}
			if strings.HasPrefix(name, "unused-") {
				_, err := isa.Decode(prog)
				var de *isa.DecodeError
				if !errors.As(err, &de) || !errors.Is(err, isa.ErrReservedField) {
					t.Fatalf("decode error = %v, want a reserved-field DecodeError", err)
				}
				// The file name ends in the field that must be zero.
				want := strings.TrimSuffix(name[strings.LastIndex(name, "-")+1:], ".data")
				if want == "offset" && de.Field == "offset" || de.Field == want {
					t.Logf("refused: %v", err)
					return
				}
				t.Fatalf("decode error names field %q, want %q: %v", de.Field, want, err)
			}
			for _, checked := range []bool{false, true} {
				got, err := conformance.Run(interp.New(), prog, tc.Mem, checked)
				if err != nil {
					if !checked {
						continue
					}
					t.Logf("refused when run: %v", err)
					return
				}
				if tc.HasResult && got != tc.Result {
					t.Logf("wrong result detected: got %#x, file says %#x", got, tc.Result)
					return
				}
			}
			t.Fatalf("%s was accepted", name)
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, text string }{
		{"unknown directive", "-- asm\nexit\n-- bogus\n-- result\n0x0\n"},
		{"no result", "-- asm\nexit\n"},
		{"bad result", "-- asm\nexit\n-- result\nzz\n"},
		{"bad mem", "-- asm\nexit\n-- mem\nzz\n-- result\n0\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := conformance.Parse(tc.name, tc.text); !errors.Is(err, conformance.ErrFormat) {
				t.Fatalf("Parse error = %v, want ErrFormat", err)
			}
		})
	}
}
