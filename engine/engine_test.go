package engine

import (
	"testing"
	"unsafe"
)

// TestCheck covers the edges of Env.Check, including sizes larger than the memory, which
// must not wrap around.
func TestCheck(t *testing.T) {
	env := NewEnv()
	stack := uint64(uintptr(unsafe.Pointer(&env.Stack()[0])))
	buf := make([]byte, 16)
	env.AddRegion(RegionOf("buf", buf, false))
	b := uint64(uintptr(unsafe.Pointer(&buf[0])))
	for _, tc := range []struct {
		addr, size uint64
		write, ok  bool
	}{
		{stack, 8, true, true},
		{stack + StackSize - 8, 8, true, true},
		{stack + StackSize - 7, 8, false, false},
		{stack, StackSize, false, true},
		{stack, StackSize + 1, false, false},
		{stack + 8, 0xa0008, false, false},
		{stack, 1 << 63, false, false},
		{b, 16, false, true},
		{b, 16, true, false}, // read-only
		{b + 8, 9, false, false},
		{b, 1 << 40, false, false},
		{b - 1, 1, false, false},
		{0, 1, false, false},
	} {
		if got := env.Check(tc.addr, tc.size, tc.write); got != tc.ok {
			t.Errorf("Check(%#x, %d, write=%v) = %v, want %v", tc.addr, tc.size, tc.write, got, tc.ok)
		}
	}
	_ = buf[0]
}
