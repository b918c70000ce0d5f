package maps

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Epochs delays the reuse of map memory that a running program may still point to, the
// way the kernel's RCU does. An invocation enters before it runs and leaves after; memory
// retired while it ran is kept until every invocation that was running has left.
//
// Memory here is Go memory, so "freeing" means dropping the last reference and letting
// the garbage collector have it.
type Epochs struct {
	current atomic.Uint64
	slots   []slot

	mu      sync.Mutex
	retired []retiredItem
	// collectAt is the length of retired at which retiring collects; it grows with what
	// survives a collection, so that a long-running invocation (which keeps everything
	// retired alive) does not make every retirement scan the list.
	collectAt int
	// sweeping is set while a timer is due to collect deferred functions (Defer), so
	// that what they release (a map's file, its registration) goes soon even when
	// nothing else retires or collects.
	sweeping bool
	sweepIn  time.Duration
}

// Bounds of the delay between the sweeps that run deferred functions: the first sweep
// comes soon after a Defer; while invocations keep them waiting, sweeps back off.
const (
	firstSweep = time.Millisecond
	maxSweep   = 100 * time.Millisecond
)

type slot struct {
	// epoch is the epoch the invocation in this slot entered, 0 when the slot is free.
	epoch atomic.Uint64
	_     [56]byte // one cache line each
}

type retiredItem struct {
	epoch uint64
	mem   []byte
	fn    func()
	// rel, when set, gets slot back (a file-backed map's slot, without a closure).
	rel  releaser
	slot uint32
}

// releaser takes back a numbered piece of memory once no invocation can reach it.
type releaser interface{ release(slot uint32) }

// releaseLater hands slot back to rel once every invocation running now has left.
func (e *Epochs) releaseLater(rel releaser, slot uint32) {
	e.retire(retiredItem{rel: rel, slot: slot})
}

// runDue runs the deferred functions and releases that collectLocked found due.
func runDue(due []retiredItem) {
	for _, r := range due {
		if r.fn != nil {
			r.fn()
		} else {
			r.rel.release(r.slot)
		}
	}
}

// NewEpochs returns an epoch tracker for up to slots concurrent invocations (0: twice
// GOMAXPROCS).
func NewEpochs(slots int) *Epochs {
	if slots <= 0 {
		slots = 2 * runtime.GOMAXPROCS(0)
	}
	e := &Epochs{slots: make([]slot, slots)}
	e.current.Store(1)
	return e
}

// Guard is an entered invocation. Its slot number doubles as the "CPU" of per-CPU maps
// and bpf_get_smp_processor_id: no two running invocations share one.
type Guard struct {
	s   *slot
	cpu int
}

// CPU returns the invocation's slot number, 0 to NumCPU()-1.
func (g Guard) CPU() int { return g.cpu }

// NumCPU returns the number of slots, which is the number of values per-CPU maps keep.
func (e *Epochs) NumCPU() int { return len(e.slots) }

// Enter marks the start of an invocation. It spins only if every slot is taken.
func (e *Epochs) Enter() Guard {
	epoch := e.current.Load()
	for {
		for i := range e.slots {
			s := &e.slots[i]
			if s.epoch.Load() == 0 && s.epoch.CompareAndSwap(0, epoch) {
				return Guard{s, i}
			}
		}
		runtime.Gosched()
	}
}

// Leave marks the end of the invocation.
func (g Guard) Leave() { g.s.epoch.Store(0) }

// Retire hands memory that a program may still use to the tracker, which drops it once
// every invocation running now has left.
func (e *Epochs) Retire(mem []byte) { e.retire(retiredItem{mem: mem}) }

// Defer runs fn once every invocation running now has left (at the latest on the next
// Collect after that), the way call_rcu does: for unpublishing what running programs
// may still reach. fn runs without the tracker's lock held.
func (e *Epochs) Defer(fn func()) {
	e.retire(retiredItem{fn: fn})
	e.mu.Lock()
	if !e.sweeping && len(e.retired) > 0 {
		e.sweeping, e.sweepIn = true, firstSweep
		time.AfterFunc(e.sweepIn, e.sweep)
	}
	e.mu.Unlock()
}

// sweep collects, and comes back later while deferred functions are still waiting.
func (e *Epochs) sweep() {
	e.Collect()
	e.mu.Lock()
	defer e.mu.Unlock()
	waiting := false
	for _, r := range e.retired {
		if r.fn != nil {
			waiting = true
			break
		}
	}
	if !waiting {
		e.sweeping = false
		return
	}
	e.sweepIn = min(2*e.sweepIn, maxSweep)
	time.AfterFunc(e.sweepIn, e.sweep)
}

func (e *Epochs) retire(r retiredItem) {
	r.epoch = e.current.Add(1) - 1
	e.mu.Lock()
	e.retired = append(e.retired, r)
	var due []retiredItem
	if len(e.retired) >= max(e.collectAt, 64) {
		due = e.collectLocked()
		e.collectAt = 2 * len(e.retired)
	}
	e.mu.Unlock()
	runDue(due)
}

// Collect drops the retired memory that no running invocation can reach and returns how
// much is still held.
func (e *Epochs) Collect() int {
	e.mu.Lock()
	due := e.collectLocked()
	n := len(e.retired)
	e.mu.Unlock()
	runDue(due)
	return n
}

// collectable reports whether Collect would free anything: whether the oldest item
// retired (nearly: items may be a little out of order) is older than every running
// invocation.
func (e *Epochs) collectable() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.retired) > 0 && e.retired[0].epoch < e.oldestLocked()
}

// oldestLocked is the oldest epoch a running invocation entered, or the current one.
func (e *Epochs) oldestLocked() uint64 {
	oldest := e.current.Load()
	for i := range e.slots {
		if ep := e.slots[i].epoch.Load(); ep != 0 && ep < oldest {
			oldest = ep
		}
	}
	return oldest
}

// collectLocked drops what no running invocation can reach and returns the deferred
// functions and releases that are due, for the caller to run after unlocking.
func (e *Epochs) collectLocked() (due []retiredItem) {
	oldest := e.oldestLocked()
	kept := e.retired[:0]
	for _, r := range e.retired {
		switch {
		case r.epoch >= oldest:
			kept = append(kept, r)
		case r.fn != nil || r.rel != nil:
			due = append(due, r)
		}
	}
	clear(e.retired[len(kept):])
	e.retired = kept
	return due
}
