package cfg

import (
	"errors"
	"fmt"
)

// Sentinel errors wrapped by Error, for use with errors.Is.
var (
	// ErrEmpty means the program has no instructions.
	ErrEmpty = errors.New("empty program")
	// ErrJumpOutOfRange means a jump, call or function reference leaves the program, or a
	// jump leaves the function it is in.
	ErrJumpOutOfRange = errors.New("jump out of range")
	// ErrJumpIntoLDDW means a jump, call or function reference lands on the second slot of
	// a 64-bit immediate load.
	ErrJumpIntoLDDW = errors.New("jump into the middle of an lddw")
	// ErrFallOffEnd means execution can run past the last instruction of a function.
	ErrFallOffEnd = errors.New("falls off the end of the function")
	// ErrUnreachable means an instruction cannot be reached from its function's entry.
	ErrUnreachable = errors.New("unreachable instruction")
	// ErrRecursion means a function can call itself, directly or through others.
	ErrRecursion = errors.New("recursive call")
	// ErrTooComplex means the loops of a function nest so deeply that ordering them would
	// take too long (far beyond any compiled program).
	ErrTooComplex = errors.New("control flow too complex")
)

// Error is a structural defect of a program, located at an instruction.
type Error struct {
	// Slot is the slot offset of the offending instruction (an lddw occupies two slots).
	Slot int
	// Err is one of the package's sentinel errors.
	Err error
	// Detail describes the defect.
	Detail string
}

// Error returns "instruction SLOT: " followed by the sentinel and the detail.
func (e *Error) Error() string {
	return fmt.Sprintf("instruction %d: %v: %s", e.Slot, e.Err, e.Detail)
}

// Unwrap returns the sentinel error.
func (e *Error) Unwrap() error { return e.Err }

func errorAt(slot int, err error, format string, args ...any) *Error {
	return &Error{Slot: slot, Err: err, Detail: fmt.Sprintf(format, args...)}
}
