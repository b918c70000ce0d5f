package interval_test

import (
	"fmt"

	"github.com/anybpf/anybpf/verifier/internal/interval"
)

// A packet byte masked, compared and scaled, as a verifier follows it.
func Example() {
	r := interval.Load(4)                                   // r = *(u32 *)(data + 0)
	r = interval.ALU64(interval.And, r, interval.Imm(0xff)) // r &= 0xff
	fmt.Println("masked:", r)

	// if r > 10 goto out
	taken, fall := interval.Refine(interval.JGT, false, r, interval.Imm(10))
	fmt.Println("taken:", taken.Dst, "fall-through:", fall.Dst)

	r = interval.ALU64(interval.Lsh, fall.Dst, interval.Imm(3)) // r <<= 3
	fmt.Println("scaled:", r)

	// w0 = w1 + 1 with w1 unknown: the upper half is zero.
	fmt.Println("alu32:", interval.ALU32(interval.Add, interval.Top(), interval.Imm(1)))
	// Output:
	// masked: [0, 255]
	// taken: [11, 255] fall-through: [0, 10]
	// scaled: [0, 80] bits=(0; 0x78)
	// alu32: [0, 2^32-1]
}
