package anybpf

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/helpers"
	"github.com/anybpf/anybpf/internal/elfload"
	"github.com/anybpf/anybpf/isa"
	"github.com/anybpf/anybpf/progtype"
)

// Program is a loaded program.
type Program struct {
	Name    string
	Section string
	Type    progtype.Type
	rt      *Runtime
	code    engine.Code
	// maps are the maps the program refers to, each holding a reference for it.
	maps []*Map
	// regions are the fixed map memories the program refers to.
	regions []engine.Region
	// insns is the program as loaded: relocated, context accesses rewritten.
	insns []isa.Instruction
	// err says why the program cannot run, when it cannot.
	err    error
	id     uint32
	closed atomic.Bool
	// windows is set for programs from ebpf-for-windows objects: their return values are
	// translated to Linux's meaning (progtype.WindowsVerdict).
	windows bool
	// lines is the program's BTF line info (by instruction index), if any.
	lines []elfload.LineInfo
	// verifiedInsns is the verifier's count of processed instructions (0: unverified).
	verifiedInsns int
	// stats are the run statistics (stats.go).
	stats runStats
}

// VerifiedInstructions is how many instructions the verifier processed to prove the
// program safe (Linux's verified_insns), or 0 when it was loaded unverified.
func (p *Program) VerifiedInstructions() int { return p.verifiedInsns }

// ID is the program's id in its runtime, what program arrays hold.
func (p *Program) ID() uint32 { return p.id }

// Close unloads the program: it can no longer run, program arrays no longer reach it
// (tail calls to it fall through), and the maps it used are released. Close is
// idempotent; a run already under way finishes.
func (p *Program) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	if p.id != 0 {
		p.rt.unregisterProgram(p)
	}
	p.releaseMaps()
	return nil
}

// uses reports whether the program refers to m directly (and so was given its memory).
func (p *Program) uses(m *Map) bool {
	if p == nil {
		return false
	}
	for _, pm := range p.maps {
		if pm == m {
			return true
		}
	}
	return false
}

func (p *Program) releaseMaps() {
	for _, m := range p.maps {
		m.release()
	}
	// p.maps and p.regions stay: runs under way that tail called the program may still
	// read them.
}

// loadProgram prepares a program of the collection that the verifier has not proven safe:
// it is compiled in checked mode. On failure it lets go of the maps it took.
func (rt *Runtime) loadProgram(eng engine.Engine, ps *elfload.ProgramSpec, coll *Collection) (*Program, error) {
	return rt.loadProgramAs(eng, ps, coll, false)
}

// loadProgramAs prepares a program of the collection. A verified program is compiled
// unchecked (no memory-access checks, no instruction counting unless the configuration
// sets a budget), unless the configuration forces checked execution. On failure it lets
// go of the maps it took.
func (rt *Runtime) loadProgramAs(eng engine.Engine, ps *elfload.ProgramSpec, coll *Collection, verified bool) (_ *Program, err error) {
	p := &Program{Name: ps.Name, Section: ps.Section, Type: ps.Type, rt: rt}
	defer func() {
		if err != nil {
			p.releaseMaps()
		}
	}()
	insns := append([]isa.Instruction(nil), ps.Instructions...)
	seen := map[*Map]bool{}
	for _, ref := range ps.References {
		m := coll.Maps[ref.Map]
		if m == nil {
			return nil, fmt.Errorf("refers to map %q, which the object does not define", ref.Map)
		}
		if m.err != nil {
			return nil, fmt.Errorf("uses map %s: %w", ref.Map, m.err)
		}
		if !seen[m] {
			seen[m] = true
			m.acquire()
			p.maps = append(p.maps, m)
			if m.region.Size > 0 {
				p.regions = append(p.regions, m.region)
			}
		}
		ins := &insns[ref.Instruction]
		ins.Src = isa.Register(isa.PseudoNone)
		if ref.Value {
			if m.region.Size == 0 {
				return nil, fmt.Errorf("%w: direct value access to map %s", ErrNotSupported, ref.Map)
			}
			ins.Constant = int64(m.region.Addr) + int64(ref.Offset)
		} else {
			ins.Constant = int64(m.handle)
		}
	}
	// Callback addresses (bpf_loop, bpf_for_each_map_elem) become function handles that
	// the helpers turn back into entry slots.
	offs, _ := isa.SlotOffsets(insns)
	for i := range insns {
		if insns[i].IsLDDW() && insns[i].Src == isa.Register(isa.PseudoFunc) {
			insns[i].Src = isa.Register(isa.PseudoNone)
			insns[i].Constant = int64(funcHandleBase | uint64(offs[i]+1+int(insns[i].Imm())))
		}
	}
	p.windows = ps.Windows
	if ps.Type == progtype.Tracing || ps.Type == progtype.LSM {
		// Their verification lets them read kernel memory through the pointers their
		// arguments give: there is no such memory here, and they get no code.
		return nil, fmt.Errorf("%w: running %s programs (they read kernel structs)", ErrNotSupported, ps.Type)
	}
	if len(ps.Poisoned) > 0 {
		return nil, fmt.Errorf("%w: instruction %d: %s", ErrNotSupported, ps.Poisoned[0].Instruction, ps.Poisoned[0].Reason)
	}
	c := progtype.ContextFor(ps.Type, ps.AttachType)
	if ps.Windows && c != nil {
		if c = progtype.WindowsContextFor(ps.Type, ps.AttachType); c == nil {
			return nil, fmt.Errorf("%w: running ebpf-for-windows %s programs (their context differs from Linux's in more than layout)", ErrNotSupported, ps.Type)
		}
	}
	if c != nil {
		var err error
		if insns, err = progtype.RewriteContext(insns, c); err != nil {
			if errors.Is(err, progtype.ErrNotSupported) {
				return nil, fmt.Errorf("%w: %w", ErrNotSupported, err)
			}
			return nil, err
		}
	} else if ps.Type != progtype.Unspec {
		return nil, fmt.Errorf("%w: running %s programs (no context layout yet)", ErrNotSupported, ps.Type)
	}
	table := rt.helperTable()
	for _, ins := range insns {
		if ins.IsHelperCall() {
			if err := progtype.CheckHelper(ps.Type, helpers.ID(ins.Imm()).String()); err != nil {
				return nil, err
			}
			if _, ok := table[ins.Imm()]; !ok {
				return nil, fmt.Errorf("%w: helper bpf_%s (%d) is not implemented yet", ErrNotSupported, helpers.ID(ins.Imm()), ins.Imm())
			}
		}
	}
	cfg := engine.Config{Helpers: table, Checked: true, Budget: rt.cfg.budget}
	if verified && !rt.cfg.checked {
		cfg.Checked = false
		if !rt.cfg.budgetSet {
			cfg.Budget = 0 // verified programs are bounded
		}
		cfg.Maps = rt.mapInfo
		cfg.Tails, cfg.TailClass = rt.tails, uint32(ps.Type)
	}
	code, err := eng.Compile(insns, cfg)
	if err != nil {
		return nil, err
	}
	p.code, p.insns, p.lines = code, insns, ps.Lines
	return p, nil
}

// Instructions returns the program as it runs: relocated, map references resolved and
// context accesses rewritten.
func (p *Program) Instructions() []isa.Instruction { return p.insns }
