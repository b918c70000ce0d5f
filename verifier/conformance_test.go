package verifier_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/anybpf/anybpf/internal/conformance"
	"github.com/anybpf/anybpf/internal/testutil"
	"github.com/anybpf/anybpf/isa"
	"github.com/anybpf/anybpf/verifier"
)

// TestConformance verifies the bpf_conformance programs as PREVAIL does: the input memory
// is placed on the stack (r1 points to it, r2 is its length), and the result the suite
// expects must be among the values the verifier allows the program to return.
func TestConformance(t *testing.T) {
	dir := testutil.CorpusDir(t, "bpf_conformance")
	tests, err := conformance.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	accepted, refused, wrongResult := 0, 0, 0
	var refusals []string
	for _, tc := range tests {
		if tc.HasError {
			continue // programs the suite expects to fail at run time
		}
		insns, err := tc.Instructions()
		if err != nil {
			continue // negative files: not programs
		}
		prog := append(memoryOnStack(tc.Mem), insns...)
		p := &verifier.Program{Name: tc.Name, Instructions: prog, Context: nil}
		res, err := verifier.Verify(p, &verifier.Options{SkipTermination: true})
		if err != nil {
			refused++
			refusals = append(refusals, tc.Name+": "+err.Error())
			continue
		}
		accepted++
		if tc.HasResult && !res.MayReturn(tc.Result) {
			wrongResult++
			t.Errorf("%s: returns %#x, which the verifier says it cannot (%s)", tc.Name, tc.Result, res.Returns())
		}
	}
	t.Logf("%d accepted, %d refused, %d with a result outside the verifier's range", accepted, refused, wrongResult)
	if testing.Verbose() {
		for _, r := range refusals {
			t.Log(r)
		}
	}
	if accepted < conformanceFloor {
		t.Errorf("only %d conformance programs verified; %d were", accepted, conformanceFloor)
	}
}

// conformanceFloor is how many conformance programs verified when the test was last
// tightened.
const conformanceFloor = 313

// memoryOnStack returns instructions that copy mem to the top of the stack and point r1
// at it, with r2 its length (r1 = r2 = 0 without memory).
func memoryOnStack(mem []byte) []isa.Instruction {
	var src strings.Builder
	n := len(mem)
	for i, b := range mem {
		src.WriteString("stb [%r10" + strconv.Itoa(i-n) + "], " + strconv.Itoa(int(b)) + "\n")
	}
	if n > 0 {
		src.WriteString("mov %r1, %r10\nadd %r1, " + strconv.Itoa(-n) + "\nmov %r2, " + strconv.Itoa(n) + "\n")
	} else {
		src.WriteString("mov %r1, 0\nmov %r2, 0\n")
	}
	insns, err := isa.Assemble(src.String())
	if err != nil {
		panic(err)
	}
	return insns
}
