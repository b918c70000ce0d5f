package anybpf

import (
	"crypto/sha1"
	"encoding/hex"
	"sync/atomic"
	"time"

	"github.com/anybpf/anybpf/isa"
)

// ProgramStats are a program's run statistics, Linux's run_cnt and run_time_ns. They
// count only while statistics are on (Runtime.SetStats), as the kernel's do only while
// the kernel.bpf_stats_enabled sysctl is set.
type ProgramStats struct {
	// RunCount is how many times the program ran.
	RunCount uint64
	// RunTime is the time those runs took.
	RunTime time.Duration
}

// runStats are a program's counters.
type runStats struct {
	count atomic.Uint64
	ns    atomic.Uint64
}

// SetStats turns run statistics on or off for every program of the runtime and reports
// whether they were on before. They start off.
func (rt *Runtime) SetStats(on bool) (was bool) { return rt.stats.Swap(on) }

// StatsEnabled reports whether run statistics are on.
func (rt *Runtime) StatsEnabled() bool { return rt.stats.Load() }

// Stats returns the program's run statistics.
func (p *Program) Stats() ProgramStats {
	return ProgramStats{RunCount: p.stats.count.Load(), RunTime: time.Duration(p.stats.ns.Load())}
}

// recordRun counts n runs that took d in all, when statistics are on.
func (p *Program) recordRun(n uint32, d time.Duration) {
	if !p.rt.stats.Load() {
		return
	}
	p.stats.count.Add(uint64(n))
	p.stats.ns.Add(uint64(d))
}

// MapIDs returns the ids (Map.ID) of the maps the program refers to, in the order it
// first refers to them, like the kernel's bpf_prog_info.map_ids.
func (p *Program) MapIDs() []uint32 {
	ids := make([]uint32, 0, len(p.maps))
	for _, m := range p.maps {
		ids = append(ids, m.id)
	}
	return ids
}

// Tag returns 16 hex digits naming the program's code: the start of a SHA-1 of its
// instructions as they run, with the 64-bit immediates (map references, which differ from
// load to load) zeroed. Like the kernel's tag, two loads of the same program have the same
// tag; the value itself is not the kernel's.
func (p *Program) Tag() string {
	insns := make([]isa.Instruction, len(p.insns))
	for i, ins := range p.insns {
		if ins.IsLDDW() {
			ins.Constant = 0
		}
		insns[i] = ins
	}
	sum := sha1.Sum(isa.Encode(insns))
	return hex.EncodeToString(sum[:8])
}

// Err reports why the program cannot run (an unsupported helper or context, say), or nil
// when it can.
func (p *Program) Err() error { return p.err }
