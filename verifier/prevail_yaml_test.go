package verifier

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/anybpf/anybpf/isa"
	"github.com/anybpf/anybpf/maps"
	"github.com/anybpf/anybpf/progtype"
	"github.com/anybpf/anybpf/verifier/internal/interval"
	"github.com/anybpf/anybpf/verifier/internal/zone"
)

// PREVAIL's YAML test cases (../shared/corpus/prevail-yaml): each gives an abstract state
// before some code, the code in PREVAIL's syntax, and the messages PREVAIL reports. This
// test runs anybpf's verifier from the same state on the same code and compares the
// verdicts: PREVAIL accepts a case when it reports no error (its "Code becomes
// unreachable" notes are not errors: they do not fail verification), anybpf when the
// analysis finds nothing to refuse.

const prevailYAMLDir = "../../shared/corpus/prevail-yaml"

// prevailAgreementFloor is the share of cases (in percent) on which anybpf and PREVAIL
// must agree; docs/verifier.md has the per-file figures.
const prevailAgreementFloor = 92

type prevailCase struct {
	Name      string    `yaml:"test-case"`
	Options   []string  `yaml:"options"`
	Pre       []string  `yaml:"pre"`
	Code      yaml.Node `yaml:"code"`
	Messages  []string  `yaml:"messages"`
	Exception string    `yaml:"expected-exception"`
}

type prevailBlock struct {
	label string
	lines []string
}

func (c *prevailCase) blocks() ([]prevailBlock, error) {
	if c.Code.Kind != yaml.MappingNode {
		return nil, errors.New("code is not a mapping")
	}
	var out []prevailBlock
	for i := 0; i+1 < len(c.Code.Content); i += 2 {
		out = append(out, prevailBlock{label: c.Code.Content[i].Value, lines: strings.Split(c.Code.Content[i+1].Value, "\n")})
	}
	return out, nil
}

func (c *prevailCase) option(name string) bool {
	for _, o := range c.Options {
		if o == name {
			return true
		}
	}
	return false
}

// prevailAccepts is PREVAIL's verdict: no message other than unreachable-code notes.
func (c *prevailCase) prevailAccepts() bool {
	if c.Exception != "" {
		return false
	}
	for _, m := range c.Messages {
		if !strings.Contains(m, "Code becomes unreachable") {
			return false
		}
	}
	return true
}

// prevailContext is the context PREVAIL's YAML tests use: 64 bytes, the packet's start
// at offset 0 and its end at 4 (32-bit fields, as xdp_md's), no metadata field.
var prevailContext = func() *progtype.Context {
	c := &progtype.Context{Name: "prevail_test_ctx", Size: 64, RealSize: 64, Fields: []progtype.Field{
		{Name: "data", Offset: 0, Size: 4, RealOffset: 0, RealSize: 4, Kind: progtype.PacketStart},
		{Name: "data_end", Offset: 4, Size: 4, RealOffset: 4, RealSize: 4, Kind: progtype.PacketEnd},
	}}
	for off := 8; off < 64; off += 8 {
		c.Fields = append(c.Fields, progtype.Field{Name: fmt.Sprintf("f%d", off), Offset: off, Size: 8, RealOffset: off, RealSize: 8, Writable: true, Narrow: true})
	}
	return c
}()

// prevailMaps are the maps of the tests: the one map PREVAIL's harness describes for
// every fd (4-byte keys and values, 4 entries), a program array, then one array per
// size of "shared" region the states mention.
func prevailMaps() []MapInfo {
	return []MapInfo{
		{Name: "test", Type: maps.Hash, KeySize: 4, ValueSize: 4, MaxEntries: 4, Inner: -1},
		{Name: "progs", Type: maps.ProgArray, KeySize: 4, ValueSize: 4, MaxEntries: 4, Inner: -1},
	}
}

var (
	rxRegFact   = regexp.MustCompile(`^r(\d+)\.(\w+)=(.+)$`)
	rxTypeSet   = regexp.MustCompile(`^r(\d+)\.type in \{(.*)\}$`)
	rxStackFact = regexp.MustCompile(`^s\[(\d+)\.\.\.(\d+)\]\.(\w+)=(.+)$`)
)

// parseRange reads "N" or "[A, B]" (bounds may be "-oo"/"+oo").
func parseRange(s string) (lo, hi int64, ok bool) {
	s = strings.TrimSpace(s)
	parse := func(x string) (int64, bool) {
		x = strings.TrimSpace(x)
		switch x {
		case "-oo":
			return zone.NegInf, true
		case "+oo", "oo":
			return zone.Inf, true
		}
		v, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			u, uerr := strconv.ParseUint(x, 10, 64)
			if uerr != nil {
				return 0, false
			}
			v = int64(u)
		}
		return v, true
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		a, b, found := strings.Cut(s[1:len(s)-1], ",")
		if !found {
			return 0, 0, false
		}
		l, ok1 := parse(a)
		h, ok2 := parse(b)
		return l, h, ok1 && ok2
	}
	v, ok := parse(s)
	return v, v, ok
}

// errUnsupportedFact marks a pre-state this harness cannot express in anybpf's domains.
var errUnsupportedFact = errors.New("pre-state fact not expressible")

// prevailState builds the abstract state a case starts in.
func prevailState(a *analysis, pre []string) (*state, error) {
	s := a.entry()
	for i := range s.regs {
		s.regs[i] = uninit
	}
	s.z.Forget(zReg0 + 1)
	s.z.Forget(zNum0 + 2)
	regFacts := map[int]map[string]string{}
	var stackFacts [][4]string
	for _, f := range pre {
		f = strings.TrimSpace(f)
		switch {
		case rxTypeSet.MatchString(f):
			return nil, fmt.Errorf("%w: %s", errUnsupportedFact, f)
		case rxRegFact.MatchString(f):
			m := rxRegFact.FindStringSubmatch(f)
			r, _ := strconv.Atoi(m[1])
			if regFacts[r] == nil {
				regFacts[r] = map[string]string{}
			}
			regFacts[r][m[2]] = m[3]
		case rxStackFact.MatchString(f):
			m := rxStackFact.FindStringSubmatch(f)
			stackFacts = append(stackFacts, [4]string{m[1], m[2], m[3], m[4]})
		case strings.HasPrefix(f, "packet_size="):
			lo, hi, ok := parseRange(strings.TrimPrefix(f, "packet_size="))
			if !ok {
				return nil, fmt.Errorf("%w: %s", errUnsupportedFact, f)
			}
			s.z.AssignRange(zPktSize, lo, hi)
		case strings.HasPrefix(f, "meta_offset="):
			v := strings.TrimPrefix(f, "meta_offset=")
			if m := regexp.MustCompile(`^r(\d+)\.packet_offset$`).FindStringSubmatch(v); m != nil {
				r, _ := strconv.Atoi(m[1])
				defer func() { s.z.Assign(zMeta, zReg0+zone.Var(r), 0) }()
				continue
			}
			lo, hi, ok := parseRange(v)
			if !ok {
				return nil, fmt.Errorf("%w: %s", errUnsupportedFact, f)
			}
			s.z.AssignRange(zMeta, lo, hi)
		default:
			return nil, fmt.Errorf("%w: %s", errUnsupportedFact, f)
		}
	}
	// PREVAIL numbers stack bytes from the bottom of all frames; this frame's top is
	// r10's offset (512 when the state does not say).
	top := int64(stackSize)
	if v, ok := regFacts[10]["stack_offset"]; ok {
		lo, hi, ok := parseRange(v)
		if !ok || lo != hi || lo < stackSize {
			return nil, fmt.Errorf("%w: r10.stack_offset=%s", errUnsupportedFact, v)
		}
		top = lo
	}
	regs := make([]int, 0, len(regFacts))
	for r := range regFacts {
		regs = append(regs, r)
	}
	sort.Ints(regs)
	for _, r := range regs {
		if r > 10 {
			return nil, fmt.Errorf("%w: register r%d", errUnsupportedFact, r)
		}
		x, err := prevailReg(a, s, r, regFacts[r], top)
		if err != nil {
			return nil, err
		}
		s.regs[r] = x
		if x.k == kNum {
			s.boundNum(isa.Register(r))
		}
	}
	for _, sf := range stackFacts {
		lo, _ := strconv.Atoi(sf[0])
		hi, _ := strconv.Atoi(sf[1])
		lo, hi = lo-int(top)+stackSize, hi-int(top)+stackSize
		if lo < 0 || hi >= stackSize || lo > hi {
			return nil, fmt.Errorf("%w: stack bytes %d...%d", errUnsupportedFact, lo, hi)
		}
		f := s.frames[0]
		switch sf[2] {
		case "type":
			if sf[3] != "number" {
				return nil, fmt.Errorf("%w: stack of type %s", errUnsupportedFact, sf[3])
			}
			for b := lo; b <= hi; b++ {
				f.init[b] = true
			}
		case "svalue", "uvalue":
			l, h, ok := parseRange(sf[3])
			if !ok {
				return nil, fmt.Errorf("%w: stack value %s", errUnsupportedFact, sf[3])
			}
			if hi-lo == 7 && lo%8 == 0 {
				v := interval.SignedRange(l, h)
				if sf[2] == "uvalue" {
					v = interval.UnsignedRange(uint64(l), uint64(h))
				}
				if old := f.spill[lo/8]; old != nil && old.k == kNum {
					v = interval.Meet(v, old.num)
				}
				x := number(v)
				f.spill[lo/8] = &x
			}
		default:
			return nil, fmt.Errorf("%w: stack fact %s", errUnsupportedFact, sf[2])
		}
	}
	return s, nil
}

// prevailReg builds register r from its facts.
func prevailReg(a *analysis, s *state, r int, facts map[string]string, top int64) (reg, error) {
	bad := func(k string) (reg, error) {
		return reg{}, fmt.Errorf("%w: r%d.%s=%s", errUnsupportedFact, r, k, facts[k])
	}
	value := interval.Top()
	for _, k := range []string{"svalue", "uvalue"} {
		v, ok := facts[k]
		if !ok {
			continue
		}
		if m := regexp.MustCompile(`^r(\d+)\.(s|u)value$`).FindStringSubmatch(v); m != nil {
			if m[1] == strconv.Itoa(r) && m[2] != k[:1] {
				// svalue = uvalue: the value is not negative.
				value = interval.Meet(value, interval.SignedRange(0, 1<<63-1))
				continue
			}
			return bad(k)
		}
		lo, hi, ok := parseRange(v)
		if !ok {
			return bad(k)
		}
		if k == "svalue" {
			value = interval.Meet(value, interval.SignedRange(lo, hi))
		} else {
			if lo == zone.NegInf {
				lo = 0
			}
			uhi := uint64(hi)
			if hi == zone.Inf {
				uhi = 1<<64 - 1
			}
			value = interval.Meet(value, interval.UnsignedRange(uint64(lo), uhi))
		}
	}
	offset := func(k string) (interval.Value, bool) {
		v, ok := facts[k]
		if !ok {
			return interval.Top(), true
		}
		lo, hi, ok := parseRange(v)
		if !ok {
			return interval.Value{}, false
		}
		return interval.SignedRange(lo, hi), true
	}
	nullable := !value.IsBottom() && value.Contains(0)
	typ, ok := facts["type"]
	if !ok {
		// Values without a type: PREVAIL's type is unconstrained, which anybpf can only
		// say as "different kinds on different paths".
		return reg{k: kMixed}, nil
	}
	switch typ {
	case "number":
		return number(value), nil
	case "stack":
		off, ok := offset("stack_offset")
		if !ok {
			return bad("stack_offset")
		}
		// PREVAIL numbers stack bytes from the bottom of all frames; this frame's top
		// is r10's offset (512 when the state does not say).
		return reg{k: kStack, num: interval.ALU64(interval.Sub, off, interval.Const(uint64(top)))}, nil
	case "ctx":
		off, ok := offset("ctx_offset")
		if !ok {
			return bad("ctx_offset")
		}
		return reg{k: kCtx, num: off}, nil
	case "packet":
		v := pktVar(isa.Register(r))
		switch po := facts["packet_offset"]; {
		case po == "packet_size":
			s.z.Assign(v, zPktSize, 0)
		case po == "":
			s.z.Forget(v)
		default:
			lo, hi, ok := parseRange(po)
			if !ok {
				return bad("packet_offset")
			}
			s.z.AssignRange(v, lo, hi)
		}
		return reg{k: kPacket}, nil
	case "shared":
		size, err := strconv.Atoi(facts["shared_region_size"])
		if err != nil {
			return bad("shared_region_size")
		}
		off, ok := offset("shared_offset")
		if !ok {
			return bad("shared_offset")
		}
		m := prevailRegionMap(a, size)
		x := reg{k: kMapValue, m: m, ms: 1 << uint(m), num: off}
		if nullable {
			a.nextID++
			x.nullable, x.nullID = true, a.nextID
		}
		return x, nil
	case "map_fd":
		return reg{k: kMapPtr, m: prevailTestMap, ms: 1 << prevailTestMap}, nil
	case "map_fd_programs":
		return reg{k: kMapPtr, m: prevailProgsMap, ms: 1 << prevailProgsMap}, nil
	}
	return bad("type")
}

// prevailRegionMap returns the index of an array map whose value is size bytes, adding
// one to the program's maps if needed.
func prevailRegionMap(a *analysis, size int) int {
	for i, m := range a.p.Maps {
		if m.Type == maps.Array && int(m.ValueSize) == size {
			return i
		}
	}
	a.p.Maps = append(a.p.Maps, MapInfo{Name: fmt.Sprintf("shared%d", size), Type: maps.Array, KeySize: 4, ValueSize: uint32(size), MaxEntries: 1, Inner: -1})
	return len(a.p.Maps) - 1
}

// runPrevailCase runs anybpf's verifier on a case and says whether it accepts it.
func runPrevailCase(c *prevailCase) (accepted bool, why string, err error) {
	blocks, err := c.blocks()
	if err != nil {
		return false, "", err
	}
	prog, err := assemblePrevail(blocks)
	if err != nil {
		return false, "", err
	}
	p := &Program{Name: c.Name, Instructions: prog.insns, Type: progtype.Unspec, Context: prevailContext, Maps: prevailMaps(), MapRefs: prog.mapRefs}
	// PREVAIL bounds loops at 100,000 iterations.
	opts := Options{AllowUnreachable: true, SkipTermination: !c.option("termination"), MaxInstructions: 1_000_000, MaxLoopIterations: 100_000}
	a, verr := newAnalysis(p, opts)
	if verr != nil {
		return false, verr.Error(), nil
	}
	a.fragment, a.fragmentEnd = true, len(prog.insns)-1
	s, err := prevailState(a, c.Pre)
	if err != nil {
		return false, "", err
	}
	if _, verr := a.function(a.prog.Funcs[0], s); verr != nil {
		return false, verr.Error(), nil
	}
	if c.option("!allow_division_by_zero") {
		for _, w := range a.warnings() {
			if strings.Contains(w, "by a value that may be 0") {
				return false, w, nil
			}
		}
	}
	return true, "", nil
}

func TestPrevailYAML(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(prevailYAMLDir, "*.yaml"))
	if len(files) == 0 {
		t.Skip("PREVAIL's YAML tests are not in ../shared/corpus/prevail-yaml")
	}
	type tally struct{ cases, agree, unsupported, falseAccept int }
	total := tally{}
	perFile := map[string]*tally{}
	var names []string
	verbose := os.Getenv("PREVAIL_YAML_VERBOSE") != ""
	for _, file := range files {
		base := filepath.Base(file)
		if base == "test-schema.yaml" {
			continue
		}
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(f)
		ft := &tally{}
		perFile[base] = ft
		names = append(names, base)
		for {
			var c prevailCase
			if err := dec.Decode(&c); err != nil {
				if err.Error() != "EOF" {
					t.Fatalf("%s: %v", base, err)
				}
				break
			}
			if c.Name == "" {
				continue
			}
			ft.cases++
			want := c.prevailAccepts()
			got, why, err := runPrevailCase(&c)
			switch {
			case err != nil:
				ft.unsupported++
				if verbose {
					t.Logf("%s: %q: not run: %v", base, c.Name, err)
				}
			case got == want:
				ft.agree++
			default:
				if got {
					ft.falseAccept++
				}
				if verbose {
					t.Logf("%s: %q: PREVAIL accepts=%v, anybpf accepts=%v %s; PREVAIL says %q", base, c.Name, want, got, why, c.Messages)
				}
			}
		}
		f.Close()
		total.cases += ft.cases
		total.agree += ft.agree
		total.unsupported += ft.unsupported
		total.falseAccept += ft.falseAccept
	}
	sort.Strings(names)
	var report strings.Builder
	fmt.Fprintf(&report, "| file | cases | agree | not expressible | anybpf accepts, PREVAIL refuses |\n|---|---:|---:|---:|---:|\n")
	for _, n := range names {
		ft := perFile[n]
		fmt.Fprintf(&report, "| %s | %d | %d | %d | %d |\n", n, ft.cases, ft.agree, ft.unsupported, ft.falseAccept)
	}
	fmt.Fprintf(&report, "| **all** | %d | %d (%.1f%%) | %d | %d |\n", total.cases, total.agree, 100*float64(total.agree)/float64(total.cases), total.unsupported, total.falseAccept)
	t.Logf("agreement with PREVAIL's YAML tests:\n%s", report.String())
	if pct := 100 * float64(total.agree) / float64(total.cases); pct < prevailAgreementFloor {
		t.Errorf("agreement %.1f%% is below the floor %d%%", pct, prevailAgreementFloor)
	}
}
