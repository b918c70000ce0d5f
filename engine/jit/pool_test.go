//go:build amd64 && linux

package jit

import (
	"bytes"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/isa"
)

func TestClassOf(t *testing.T) {
	for _, tc := range []struct{ n, class int }{
		{0, 0}, {1, 0}, {128, 0}, {129, 1}, {256, 1}, {257, 2}, {1 << 16, maxClassLog - minClassLog}, {1<<16 + 1, -1},
	} {
		if got := classOf(tc.n); got != tc.class {
			t.Errorf("classOf(%d) = %d, want %d", tc.n, got, tc.class)
		}
	}
}

// TestPoolBlocks checks that the pool's executable view holds the code written through
// its writable view, int3 after it, and that a freed block is filled with int3 and
// handed out again.
func TestPoolBlocks(t *testing.T) {
	var p pool
	text := bytes.Repeat([]byte{0x90}, 200)
	m, err := p.alloc(text)
	if err != nil {
		t.Fatal(err)
	}
	if m.class != 1 || len(m.mem) != 256 {
		t.Fatalf("class %d, %d bytes; want class 1, 256 bytes", m.class, len(m.mem))
	}
	if !bytes.Equal(m.mem[:200], text) || !bytes.Equal(m.mem[200:], bytes.Repeat([]byte{0xcc}, 56)) {
		t.Fatalf("executable view holds %x", m.mem)
	}
	m2, err := p.alloc(text)
	if err != nil {
		t.Fatal(err)
	}
	if &m2.mem[0] == &m.mem[0] {
		t.Fatal("two live programs share a block")
	}
	m.free()
	if !bytes.Equal(m.mem, bytes.Repeat([]byte{0xcc}, 256)) {
		t.Fatal("a freed block is not filled with int3")
	}
	m3, err := p.alloc([]byte{0xc3})
	if err != nil {
		t.Fatal(err)
	}
	if m3.class != 0 {
		t.Fatalf("a 1-byte program took class %d", m3.class)
	}
	m4, err := p.alloc(text)
	if err != nil {
		t.Fatal(err)
	}
	if &m4.mem[0] != &m.mem[0] {
		t.Fatal("the freed block was not reused")
	}
	big, err := p.alloc(make([]byte, 1<<16+1))
	if err != nil {
		t.Fatal(err)
	}
	if big.class != -1 {
		t.Fatalf("a program over the largest class took class %d", big.class)
	}
	for _, m := range []*mapping{m2, m3, m4, big} {
		m.free()
	}
}

// TestPoolConcurrent compiles, runs and frees programs from several goroutines: every
// run must see its own program's code.
func TestPoolConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env := engine.NewEnv()
			for i := range 300 {
				want := uint64(g*1000 + i)
				// Programs of different sizes, so that classes are shared and reused.
				src := "mov %r0, 0\n"
				for range i % 40 {
					src += "add %r0, 0\n"
				}
				insns, err := isa.Assemble(src + "add %r0, " + strconv.FormatUint(want, 10) + "\nexit")
				if err != nil {
					t.Error(err)
					return
				}
				code, err := Compile(insns, engine.Config{})
				if err != nil {
					t.Error(err)
					return
				}
				got, err := code.Run(env, 0, 0)
				if err != nil || got != want {
					t.Errorf("run: %d (%v), want %d", got, err, want)
					return
				}
				code.Close()
			}
		}()
	}
	wg.Wait()
}

// TestSlotIndex checks the compiler's slot index against isa.SlotIndex, with buffers
// reused from a longer program.
func TestSlotIndex(t *testing.T) {
	long, _ := isa.Assemble("lddw %r0, 1\nmov %r1, 2\nlddw %r2, 3\nlddw %r3, 4\nexit")
	short, _ := isa.Assemble("mov %r1, 2\nlddw %r0, 1\nexit")
	offs, bySlot := isa.SlotIndexInto(long, nil, nil)
	for _, insns := range [][]isa.Instruction{long, short} {
		offs, bySlot = isa.SlotIndexInto(insns, offs, bySlot)
		wantOffs, wantBySlot := isa.SlotIndex(insns)
		if !slices.Equal(offs, wantOffs) || !slices.Equal(bySlot, wantBySlot) {
			t.Errorf("slotIndex = %v, %v; isa.SlotIndex = %v, %v", offs, bySlot, wantOffs, wantBySlot)
		}
	}
}
