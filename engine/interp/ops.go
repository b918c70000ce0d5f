package interp

// Internal operations. ALU operations and conditional jumps come in groups of four, in the
// order 64-bit immediate, 64-bit register, 32-bit immediate, 32-bit register; the
// translator relies on that order. Memory loads and stores come as an unchecked block and
// a checked block opCheckedDelta apart.
const (
	opInvalid uint8 = iota

	opAdd64K
	opAdd64X
	opAdd32K
	opAdd32X
	opSub64K
	opSub64X
	opSub32K
	opSub32X
	opMul64K
	opMul64X
	opMul32K
	opMul32X
	opDiv64K
	opDiv64X
	opDiv32K
	opDiv32X
	opSDiv64K
	opSDiv64X
	opSDiv32K
	opSDiv32X
	opOr64K
	opOr64X
	opOr32K
	opOr32X
	opAnd64K
	opAnd64X
	opAnd32K
	opAnd32X
	opLsh64K
	opLsh64X
	opLsh32K
	opLsh32X
	opRsh64K
	opRsh64X
	opRsh32K
	opRsh32X
	opMod64K
	opMod64X
	opMod32K
	opMod32X
	opSMod64K
	opSMod64X
	opSMod32K
	opSMod32X
	opXor64K
	opXor64X
	opXor32K
	opXor32X
	opMov64K
	opMov64X
	opMov32K
	opMov32X
	opArsh64K
	opArsh64X
	opArsh32K
	opArsh32X

	opNeg64
	opNeg32
	opMovSX8to64
	opMovSX16to64
	opMovSX32to64
	opMovSX8to32
	opMovSX16to32
	opSwap16
	opSwap32
	opSwap64
	opZext16
	opZext32
	opNop

	opJA
	opJEQ64K
	opJEQ64X
	opJEQ32K
	opJEQ32X
	opJGT64K
	opJGT64X
	opJGT32K
	opJGT32X
	opJGE64K
	opJGE64X
	opJGE32K
	opJGE32X
	opJSET64K
	opJSET64X
	opJSET32K
	opJSET32X
	opJNE64K
	opJNE64X
	opJNE32K
	opJNE32X
	opJSGT64K
	opJSGT64X
	opJSGT32K
	opJSGT32X
	opJSGE64K
	opJSGE64X
	opJSGE32K
	opJSGE32X
	opJLT64K
	opJLT64X
	opJLT32K
	opJLT32X
	opJLE64K
	opJLE64X
	opJLE32K
	opJLE32X
	opJSLT64K
	opJSLT64X
	opJSLT32K
	opJSLT32X
	opJSLE64K
	opJSLE64X
	opJSLE32K
	opJSLE32X

	opCall
	opCallX
	opCallLocal
	opExit

	opLDDW
	opLdAbsB
	opLdAbsH
	opLdAbsW
	opLdIndB
	opLdIndH
	opLdIndW
	opAtomic32
	opAtomic64

	// Unchecked memory operations.
	opLdxB
	opLdxH
	opLdxW
	opLdxDW
	opLdxSB
	opLdxSH
	opLdxSW
	opStB
	opStH
	opStW
	opStDW
	opStxB
	opStxH
	opStxW
	opStxDW

	// Checked memory operations, in the same order.
	opLdxBChecked
	opLdxHChecked
	opLdxWChecked
	opLdxDWChecked
	opLdxSBChecked
	opLdxSHChecked
	opLdxSWChecked
	opStBChecked
	opStHChecked
	opStWChecked
	opStDWChecked
	opStxBChecked
	opStxHChecked
	opStxWChecked
	opStxDWChecked

	opCount
)

const opCheckedDelta = opLdxBChecked - opLdxB
