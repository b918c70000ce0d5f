package verifier_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/engine/interp"
	"github.com/anybpf/anybpf/isa"
	"github.com/anybpf/anybpf/verifier"
)

// genPaths builds a random program over a packet (r1 its address, r2 its size, as the
// verifier sees programs without a context) whose safety depends on what the analysis
// keeps per path and per loop round: loops over the packet bounded by its size or by
// constants, values chosen on branches of random outcome (constants, a packet pointer
// or 0, stack offsets), and packet reads guarded by those values. r0 counts the reads
// and loop rounds and is returned; r9 sums the bytes read.
func genPaths(seed uint64) string {
	r := rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
	var b strings.Builder
	b.WriteString("mov %r6, %r1\nmov %r7, %r2\nmov %r0, 0\nmov %r9, 0\nstdw [%r10-8], 0\nstdw [%r10-16], 0\n")
	label := 0
	// pick returns one of the jumps that make the code after them safe, or, once in four,
	// any jump (mostly unsafe: the verifier must refuse those).
	any := []string{"jge", "jgt", "jeq", "jne", "jsge", "jsgt", "jle", "jlt", "jsle", "jslt"}
	pick := func(safe ...string) string {
		if r.IntN(4) == 0 {
			return any[r.IntN(len(any))]
		}
		return safe[r.IntN(len(safe))]
	}
	for n := r.IntN(6) + 1; n > 0; n-- {
		l := label
		label++
		switch r.IntN(6) {
		case 0: // a loop over the packet, bounded by its size, a constant, or both
			step, off := r.IntN(3)+1, r.IntN(3)
			bySize, byConst := r.IntN(4) != 0, r.IntN(4) != 0
			if !bySize {
				byConst = true
			}
			fmt.Fprintf(&b, "mov %%r3, 0\nloop%d:\n", l)
			if byConst {
				fmt.Fprintf(&b, "%s %%r3, %d, out%d\n", pick("jge", "jsge", "jeq"), r.IntN(40), l)
			}
			if bySize {
				// Once in eight the check is one byte short.
				fmt.Fprintf(&b, "mov %%r4, %%r3\nadd %%r4, %d\n%s %%r4, %%r7, out%d\n", off+1-r.IntN(8)/7, pick("jgt", "jsgt"), l)
				fmt.Fprintf(&b, "mov %%r4, %%r6\nadd %%r4, %%r3\nldxb %%r5, [%%r4+%d]\nadd %%r9, %%r5\n", off)
			}
			fmt.Fprintf(&b, "add %%r0, 1\nadd %%r3, %d\nja loop%d\nout%d:\n", step, l, l)
		case 1: // a constant chosen by a random branch, then used as a packet offset
			a, c := r.IntN(20), r.IntN(20)
			fmt.Fprintf(&b, "stxdw [%%r10-24], %%r0\ncall 7\nmov %%r5, %%r0\nldxdw %%r0, [%%r10-24]\njeq %%r5, 0, a%d\nmov %%r8, %d\nja j%d\na%d:\nmov %%r8, %d\nj%d:\n", l, a, l, l, c, l)
			fmt.Fprintf(&b, "mov %%r4, %%r8\nadd %%r4, 1\n%s %%r4, %%r7, s%d\nmov %%r4, %%r6\nadd %%r4, %%r8\nldxb %%r5, [%%r4+%d]\nadd %%r9, %%r5\nadd %%r0, 1\ns%d:\n", pick("jgt", "jsgt"), l, r.IntN(8)/7, l)
		case 2: // a packet pointer or 0
			k := r.IntN(16) + 1
			fmt.Fprintf(&b, "mov %%r8, 0\n%s %%r7, %d, p%d\nmov %%r8, %%r6\np%d:\njeq %%r8, 0, q%d\nldxb %%r5, [%%r8+%d]\nadd %%r9, %%r5\nadd %%r0, 1\nq%d:\n", pick("jlt", "jslt"), k, l, l, l, r.IntN(k), l)
		case 3: // one of two stack slots
			fmt.Fprintf(&b, "stxdw [%%r10-24], %%r0\ncall 7\nmov %%r5, %%r0\nldxdw %%r0, [%%r10-24]\nmov %%r8, %%r10\njeq %%r5, 0, a%d\nadd %%r8, -8\nja j%d\na%d:\nadd %%r8, %d\nj%d:\nldxdw %%r5, [%%r8+0]\nadd %%r9, %%r5\nadd %%r0, 1\n", l, l, l, -16+8*(r.IntN(5)/4*2), l)
		case 4: // a bounds check on the size
			k := r.IntN(20)
			fmt.Fprintf(&b, "%s %%r7, %d, c%d\nldxb %%r5, [%%r6+%d]\nadd %%r9, %%r5\nadd %%r0, 1\nc%d:\n", pick("jle", "jsle"), k, l, r.IntN(k+1), l)
		case 5: // a loop bounded through a truncation
			fmt.Fprintf(&b, "mov %%r3, 0\nt%d:\nadd %%r3, 1\nadd %%r0, 1\nmov %%r4, %%r3\nlsh %%r4, 32\nrsh %%r4, 32\njne %%r4, %d, t%d\n", l, r.IntN(10)+1, l)
		}
	}
	b.WriteString("exit\n")
	return b.String()
}

// packetSizes are the sizes TestSoundPaths runs programs on: every size up to past the
// largest offset the generator reads, and a large one.
var packetSizes = []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 24, 32, 41, 64}

// TestSoundPaths checks the analysis against the interpreter's checked mode on
// generated programs: a program the verifier accepts must run without a bad access,
// and return a value the verifier says it may return, on packets of every size.
func TestSoundPaths(t *testing.T) {
	n := 600
	if testing.Short() {
		n = 100
	}
	var seed uint64 = 1
	helpers := map[int32]engine.HelperFunc{7: func(_ *engine.Env, _, _, _, _, _ uint64) uint64 {
		seed = seed*6364136223846793005 + 1442695040888963407
		return seed >> 62 // 0..3: both branches of "jeq %r0, 0" are taken
	}}
	pkt := engine.Memory(64)
	for i := range pkt {
		pkt[i] = byte(i*29 + 3)
	}
	verified := 0
	for s := uint64(0); s < uint64(n); s++ {
		src := genPaths(s)
		insns, err := isa.Assemble(src)
		if err != nil {
			t.Fatalf("generator: %v\n%s", err, src)
		}
		res, err := verifier.Verify(&verifier.Program{Instructions: insns}, &verifier.Options{MaxLoopIterations: 100})
		if err != nil {
			continue
		}
		verified++
		code, err := interp.Compile(insns, engine.Config{Checked: true, Budget: 1 << 20, Helpers: helpers})
		if err != nil {
			t.Fatal(err)
		}
		env := engine.NewEnv()
		for _, size := range packetSizes {
			for run := 0; run < 3; run++ {
				clear(env.Stack())
				env.ResetRegions()
				data := pkt[len(pkt)-size:]
				if size > 0 {
					env.AddRegion(engine.RegionOf("packet", data, true))
				}
				addr := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(pkt)))) + uint64(len(pkt)-size)
				r0, err := code.Run(env, addr, uint64(size))
				if err != nil {
					t.Fatalf("seed %d, %d-byte packet: verified program failed: %v\n%s", s, size, err, src)
				}
				if !res.MayReturn(r0) {
					t.Fatalf("seed %d, %d-byte packet: returned %d, the verifier says %s\n%s", s, size, r0, res.Returns(), src)
				}
			}
		}
	}
	t.Logf("%d of %d generated programs verified and ran soundly", verified, n)
	if verified < n/10 {
		t.Errorf("only %d of %d generated programs verified: the generator no longer tests much", verified, n)
	}
}
