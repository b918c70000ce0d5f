package jit

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/anybpf/anybpf/engine"
)

// TailTable is the table of programs that tail calls reach without leaving native code:
// for each program id, the native entry of its code and its class (engine.Config's
// TailClass). A runtime keeps one, gives it to the programs it compiles (Config.Tails)
// and sets an entry when it registers a program and clears it when the program goes.
//
// Native code reads the table without locks: every change publishes a new copy, and the
// old copy, with the code it names, is handed to the retire function, which must keep
// it reachable until every run that may still use it has ended (the runtime's epochs).
type TailTable struct {
	mu     sync.Mutex
	cur    unsafe.Pointer // *tailEntries; read by native code, written atomically
	retire func(keep func())
}

type tailEntries struct {
	e []tailEntry
}

// tailEntry is what native code reads for a program id: the native entry (0: none) and
// the class; the Go side reads code when native code has switched to it.
type tailEntry struct {
	entry uint64
	class uint64
	// code and id are written before the copy is published and read by the Go side
	// of a run after native code has switched to them; atomics tell the race detector
	// about the order, which native code's loads establish.
	code atomic.Pointer[Code]
	id   atomic.Uint64
}

// Layout that the code generator relies on.
const (
	tailEntrySizeLog = 5
	offTailClass     = int32(unsafe.Offsetof(tailEntry{}.class))
)

var _ [1]struct{} = [unsafe.Sizeof(tailEntry{}) >> tailEntrySizeLog]struct{}{}

// NewTailTable returns an empty table. retire receives a function holding each replaced
// copy of the table; it must not let that function become unreachable while a run
// that started before the replacement may still be under way.
func NewTailTable(retire func(keep func())) *TailTable {
	t := &TailTable{retire: retire}
	t.cur = unsafe.Pointer(&tailEntries{})
	return t
}

func (t *TailTable) load() *tailEntries { return (*tailEntries)(atomic.LoadPointer(&t.cur)) }

// Set makes id reach code, if code is JIT code that can be entered by a tail call
// (unchecked, without a budget); otherwise it clears id.
func (t *TailTable) Set(id uint32, code engine.Code, class uint32) {
	c, _ := code.(*Code)
	entry, ok := c.tailEntry()
	if !ok {
		t.Clear(id)
		return
	}
	t.update(id, entry, uint64(class)+1, c)
}

// Clear makes tail calls to id fall through.
func (t *TailTable) Clear(id uint32) { t.update(id, 0, 0, nil) }

func (t *TailTable) update(id uint32, entry, class uint64, code *Code) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.load()
	n := max(len(old.e), int(id)+1)
	if entry == 0 && int(id) >= len(old.e) {
		return
	}
	next := &tailEntries{e: make([]tailEntry, n)}
	set := func(i int, entry, class uint64, code *Code) {
		e := &next.e[i]
		e.entry, e.class = entry, class
		e.code.Store(code)
		e.id.Store(uint64(i))
	}
	for i := range old.e {
		o := &old.e[i]
		set(i, o.entry, o.class, o.code.Load())
	}
	set(int(id), entry, class, code)
	atomic.StorePointer(&t.cur, unsafe.Pointer(next))
	if t.retire != nil {
		t.retire(func() { runtime.KeepAlive(old) })
	}
}
