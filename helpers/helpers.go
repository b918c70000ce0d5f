// Package helpers describes eBPF helper functions by their Linux ids: names and
// prototypes (argument and return kinds) as data, which the verifier checks calls against
// and the runtime dispatches by. Helpers that exist only in anybpf are numbered from
// FirstAnybpfID on, far above Linux's.
package helpers

import (
	"fmt"

	"github.com/anybpf/anybpf/maps"
)

// ID is a helper id.
type ID int32

// FirstAnybpfID is the first id of helpers that only anybpf has.
const FirstAnybpfID ID = 0x10000

// Name returns the helper's name without the "bpf_" prefix, or "helper#N".
func (id ID) String() string {
	if n, ok := names[id]; ok {
		return n
	}
	return fmt.Sprintf("helper#%d", int32(id))
}

// ArgKind says what a helper argument must be. The kinds follow the kernel's
// enum bpf_arg_type.
type ArgKind uint8

// Argument kinds.
const (
	ArgNone ArgKind = iota
	// ArgAnything is any initialized value.
	ArgAnything
	// ArgConstMapPtr is a map (from a 64-bit map load).
	ArgConstMapPtr
	// ArgPtrToMapKey points to an initialized key of the map argument's key size.
	ArgPtrToMapKey
	// ArgPtrToMapValue points to an initialized value of the map's value size.
	ArgPtrToMapValue
	// ArgPtrToUninitMapValue points to writable memory of the map's value size.
	ArgPtrToUninitMapValue
	// ArgPtrToMem points to initialized memory whose size is the next argument.
	ArgPtrToMem
	// ArgPtrToUninitMem points to writable memory whose size is the next argument.
	ArgPtrToUninitMem
	// ArgConstSize is the size of the previous memory argument, greater than zero.
	ArgConstSize
	// ArgConstSizeOrZero is the size of the previous memory argument, or zero.
	ArgConstSizeOrZero
	// ArgPtrToCtx is the program's context.
	ArgPtrToCtx
	// ArgPtrToSpinLock points to a struct bpf_spin_lock in a map value.
	ArgPtrToSpinLock
	// ArgPtrToFunc is a function of the program (a callback).
	ArgPtrToFunc
	// ArgPtrToRingbufMem is memory returned by ringbuf_reserve.
	ArgPtrToRingbufMem
	// ArgConstAllocSizeOrZero is the size of memory the helper returns.
	ArgConstAllocSizeOrZero
	// ArgPtrToStackOrNull is a pointer to the stack, or zero (callback context).
	ArgPtrToStackOrNull
	// ArgPtrToLong points to 8 writable bytes.
	ArgPtrToLong
	// ArgPtrToConstStr points to a NUL-terminated string in read-only map memory.
	ArgPtrToConstStr
	// ArgPtrToBTFID is a kernel object pointer (tracing programs).
	ArgPtrToBTFID
	// ArgPtrToSocket is a socket from a lookup helper (sk_release).
	ArgPtrToSocket
	// ArgPtrToMapValueOrNull points to a map value, or is zero (sk_storage_get's init).
	ArgPtrToMapValueOrNull
)

// RetKind says what a helper returns.
type RetKind uint8

// Return kinds.
const (
	// RetInteger is a number.
	RetInteger RetKind = iota
	// RetVoid leaves r0 undefined.
	RetVoid
	// RetPtrToMapValueOrNull is a pointer to a value of the map argument, or zero.
	RetPtrToMapValueOrNull
	// RetPtrToMemOrNull is a pointer to memory of the size of the
	// ArgConstAllocSizeOrZero argument, or zero (ringbuf_reserve).
	RetPtrToMemOrNull
	// RetPtrToBTFIDOrNull is a kernel object pointer, or zero (skc_to_tcp_sock, ...).
	RetPtrToBTFIDOrNull
	// RetPtrToSocketOrNull is a referenced socket, or zero (sk_lookup_tcp, ...); it
	// must be released with sk_release.
	RetPtrToSocketOrNull
)

// Prototype is what a helper takes and returns.
type Prototype struct {
	ID   ID
	Ret  RetKind
	Args [5]ArgKind
	// MapTypes, when set, are the map types the map argument may have.
	MapTypes []maps.Type
	// PacketAccess marks helpers that change packet data (they invalidate packet
	// pointers: xdp_adjust_head, skb_store_bytes, ...).
	PacketAccess bool
	// GPLOnly helpers need a GPL-compatible license.
	GPLOnly bool
}

// Name is the helper's name.
func (p *Prototype) Name() string { return p.ID.String() }

// NumArgs is the number of arguments the helper takes.
func (p *Prototype) NumArgs() int {
	n := 0
	for n < 5 && p.Args[n] != ArgNone {
		n++
	}
	return n
}

// Lookup returns the prototype of a helper anybpf knows.
func Lookup(id ID) (*Prototype, bool) {
	p, ok := prototypes[id]
	return p, ok
}

// All returns the ids of every helper with a prototype, in no particular order.
func All() []ID {
	ids := make([]ID, 0, len(prototypes))
	for id := range prototypes {
		ids = append(ids, id)
	}
	return ids
}
