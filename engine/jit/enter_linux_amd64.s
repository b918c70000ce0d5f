//go:build amd64 && linux

#include "textflag.h"

// func enter(ctx *context, pc uintptr)
//
// Native code may use every general-purpose register except SP and BP. Go's ABI0 does not
// ask us to preserve R14 (g) and R15, but we restore them anyway, so that nothing after
// the call depends on the ABI wrapper doing it.
TEXT ·enter(SB), NOSPLIT, $16-16
	MOVQ R14, 0(SP)
	MOVQ R15, 8(SP)
	MOVQ ctx+0(FP), R9
	MOVQ pc+8(FP), R10
	CALL R10
	MOVQ 0(SP), R14
	MOVQ 8(SP), R15
	RET
