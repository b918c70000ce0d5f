package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/anybpf/anybpf"
	"github.com/anybpf/anybpf/engine"
	"github.com/anybpf/anybpf/isa"
)

var engineNames = []string{"auto", "interp", "jit"}

// engineByName returns the engine for a --engine value.
func engineByName(name string) (engine.Engine, error) { return anybpf.EngineByName(name) }

// errELF is returned for object files while only raw bytecode is supported.
var errELF = errors.New("ELF object files are not supported yet: give raw bytecode (8-byte little-endian instructions, e.g. from llvm-objcopy -O binary --only-section=.text)")

// readRawProgram reads and decodes a raw bytecode file.
func readRawProgram(path string) ([]isa.Instruction, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if bytes.HasPrefix(b, []byte("\x7fELF")) {
		return nil, fmt.Errorf("%s: %w", path, errELF)
	}
	insns, err := isa.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return insns, nil
}

func newProgCommand(g *globalFlags) *cobra.Command {
	prog := &cobra.Command{
		Use:   "prog",
		Short: "Inspect and run programs",
	}
	prog.AddCommand(newProgRunCommand(g), newProgShowCommand(g), newProgDumpCommand(g), newProgVerifyCommand(g),
		newProgLoadCommand(g, false), newProgLoadCommand(g, true), newProgPinCommand(g), newProgTracelogCommand(g))
	return prog
}

// keywordArgs parses bpftool-style "keyword value" pairs; flags are the keywords that
// take no value.
func keywordArgs(args []string, valued []string, flags []string) (map[string]string, error) {
	out := map[string]string{}
	isValued := map[string]bool{}
	for _, k := range valued {
		isValued[k] = true
	}
	isFlag := map[string]bool{}
	for _, k := range flags {
		isFlag[k] = true
	}
	for i := 0; i < len(args); i++ {
		k := args[i]
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%q given twice", k)
		}
		switch {
		case isFlag[k]:
			out[k] = ""
		case isValued[k]:
			if i+1 >= len(args) {
				return nil, fmt.Errorf("%q needs a value", k)
			}
			out[k] = args[i+1]
			i++
		default:
			return nil, fmt.Errorf("unknown argument %q", k)
		}
	}
	return out, nil
}

func newProgRunCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "run FILE|PROG [name NAME | section SEC] [data_in FILE] [data_out FILE] [ctx_in FILE] [ctx_out FILE] [repeat N] [engine auto|interp] [unchecked] [dump-maps]",
		Short: "Run a program on input data, like bpftool prog run",
		Long: `Run a program once or repeat times and print its return value and the average
duration of one run. Every run works on the same buffer and the same maps, as
BPF_PROG_TEST_RUN does.

FILE is an ELF object or raw bytecode. From an object, the program named NAME runs (or,
by name order, the first in section SEC, or the first of all): XDP programs get data_in as the packet,
with 256 bytes of headroom; programs in sections without a program type get r1 = pointer
to the data and r2 = its length. Other program types cannot run yet.

Raw bytecode gets r1 = pointer to a copy of the data_in bytes and r2 = their length (the
bpf_conformance convention). Programs are not verified yet, so they run in checked mode:
every load and store is checked, and a bad access is an error. For raw bytecode,
"unchecked" turns the checks off for trusted programs.

PROG (id N | pinned PATH | name NAME | tag TAG) runs a program the daemon holds, with
data_in, data_out, ctx_in, ctx_out and repeat, and prints the same output.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var sel []string
			if isSelector(args[0]) {
				if len(args) < 2 {
					return fmt.Errorf("prog run: %s needs a value", args[0])
				}
				sel, args = args[:2], args[1:]
			}
			kw, err := keywordArgs(args[1:], []string{"data_in", "data_out", "ctx_in", "ctx_out", "repeat", "engine", "name", "section"}, []string{"unchecked", "dump-maps"})
			if err != nil {
				return fmt.Errorf("prog run: %w", err)
			}
			repeat := uint64(1)
			if v, ok := kw["repeat"]; ok {
				if repeat, err = strconv.ParseUint(v, 0, 32); err != nil || repeat == 0 {
					return fmt.Errorf("prog run: repeat %q is not a positive number", v)
				}
			}
			var data []byte
			if path, ok := kw["data_in"]; ok {
				if data, err = os.ReadFile(path); err != nil {
					return fmt.Errorf("prog run: data_in: %w", err)
				}
			}
			var ctxIn []byte
			if path, ok := kw["ctx_in"]; ok {
				if ctxIn, err = os.ReadFile(path); err != nil {
					return fmt.Errorf("prog run: ctx_in: %w", err)
				}
			}
			var res runResult
			if sel != nil {
				res, err = runRemote(g, sel, kw, data, ctxIn, repeat)
			} else if isELF(args[0]) {
				res, err = runObject(args[0], kw, data, ctxIn, repeat)
			} else {
				if ctxIn != nil || kw["ctx_out"] != "" {
					return fmt.Errorf("prog run: ctx_in and ctx_out need an object file; raw bytecode has no program type")
				}
				res, err = runRaw(args[0], kw, data, repeat)
			}
			if err != nil {
				return fmt.Errorf("prog run: %w", err)
			}
			if path, ok := kw["data_out"]; ok {
				if err := os.WriteFile(path, res.dataOut, 0o644); err != nil {
					return fmt.Errorf("prog run: data_out: %w", err)
				}
			}
			if path, ok := kw["ctx_out"]; ok {
				if err := os.WriteFile(path, res.ctxOut, 0o644); err != nil {
					return fmt.Errorf("prog run: ctx_out: %w", err)
				}
			}
			if g.json {
				out := map[string]any{"retval": res.retval, "duration_ns": res.duration.Nanoseconds()}
				if len(res.dataOut) > 0 {
					out["data_out"] = hex.EncodeToString(res.dataOut)
				}
				if len(res.ctxOut) > 0 {
					out["ctx_out"] = hex.EncodeToString(res.ctxOut)
				}
				if res.maps != nil {
					out["maps"] = mapsJSON(res.maps)
				}
				return g.printJSON(cmd.OutOrStdout(), out)
			}
			if _, err := fmt.Fprintf(cmd.OutOrStdout(), "Return value: %d, duration (average): %dns\n", res.retval, res.duration.Nanoseconds()); err != nil {
				return err
			}
			printMaps(cmd.OutOrStdout(), res.maps)
			return nil
		},
	}
}

func isELF(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	magic := make([]byte, 4)
	n, _ := f.Read(magic)
	return n == 4 && bytes.Equal(magic, []byte("\x7fELF"))
}

func runRaw(path string, kw map[string]string, data []byte, repeat uint64) (runResult, error) {
	if _, ok := kw["name"]; ok {
		return runResult{}, fmt.Errorf("name: %s is raw bytecode, which has no program names", path)
	}
	if _, ok := kw["dump-maps"]; ok {
		return runResult{}, fmt.Errorf("dump-maps: %s is raw bytecode, which has no maps", path)
	}
	eng, err := engineByName(kw["engine"])
	if err != nil {
		return runResult{}, err
	}
	insns, err := readRawProgram(path)
	if err != nil {
		return runResult{}, err
	}
	_, checkedOff := kw["unchecked"]
	code, err := eng.Compile(insns, engine.Config{Checked: !checkedOff, Budget: 1 << 32})
	if err != nil {
		return runResult{}, fmt.Errorf("%s: %w", path, err)
	}
	res, err := runRepeated(code, data, repeat)
	if err != nil {
		return res, fmt.Errorf("%s: %w", path, err)
	}
	return res, nil
}

func runObject(path string, kw map[string]string, data, ctxIn []byte, repeat uint64) (runResult, error) {
	if _, ok := kw["unchecked"]; ok {
		return runResult{}, errors.New("unchecked: object programs always run checked until the verifier exists")
	}
	cfg := anybpf.NewRuntimeConfig().WithTraceLog(os.Stderr)
	if e, ok := kw["engine"]; ok {
		cfg = cfg.WithEngine(e)
	}
	coll, err := anybpf.NewRuntime(context.Background(), cfg).LoadCollection(path)
	if err != nil {
		return runResult{}, err
	}
	prog, err := pickProgram(coll, path, kw)
	if err != nil {
		return runResult{}, err
	}
	opts := &anybpf.RunOptions{Data: data, Context: ctxIn, Repeat: uint32(repeat)}
	ret, err := prog.Run(opts)
	if err != nil {
		return runResult{}, err
	}
	res := runResult{retval: uint64(ret), duration: opts.Duration, dataOut: opts.DataOut, ctxOut: opts.ContextOut}
	if _, ok := kw["dump-maps"]; ok {
		res.maps = map[string][]anybpf.Entry{}
		for name, m := range coll.Maps {
			if entries, err := m.Dump(); err == nil {
				res.maps[name] = entries
			}
		}
	}
	return res, nil
}

// pickProgram selects by name or section, or takes the first program in section order.
func pickProgram(coll *anybpf.Collection, path string, kw map[string]string) (*anybpf.Program, error) {
	if name, ok := kw["name"]; ok {
		if p := coll.Programs[name]; p != nil {
			return p, nil
		}
		return nil, fmt.Errorf("%s has no program named %q", path, name)
	}
	var progs []*anybpf.Program
	for _, p := range coll.Programs {
		progs = append(progs, p)
	}
	sort.Slice(progs, func(i, j int) bool { return progs[i].Name < progs[j].Name })
	for _, p := range progs {
		if sec, ok := kw["section"]; !ok || p.Section == sec {
			return p, nil
		}
	}
	return nil, fmt.Errorf("%s has no program in section %q", path, kw["section"])
}

type runResult struct {
	retval   uint64
	duration time.Duration // average of one run
	dataOut  []byte
	ctxOut   []byte
	maps     map[string][]anybpf.Entry // with dump-maps
}

// runRepeated runs code repeat times on one buffer holding a copy of data, as
// BPF_PROG_TEST_RUN does, and reports the last return value and the average duration.
func runRepeated(code engine.Code, data []byte, repeat uint64) (runResult, error) {
	env := engine.NewEnv()
	buf := append([]byte(nil), data...)
	var r1, r2 uint64
	if len(buf) > 0 {
		region := engine.RegionOf("data", buf, true)
		env.AddRegion(region)
		r1, r2 = uint64(region.Addr), uint64(len(buf))
	}
	var res runResult
	start := time.Now()
	for i := uint64(0); i < repeat; i++ {
		r0, err := code.Run(env, r1, r2)
		if err != nil {
			return res, err
		}
		res.retval = r0
	}
	res.duration = time.Since(start) / time.Duration(repeat)
	runtime.KeepAlive(buf)
	res.dataOut = buf
	return res, nil
}
