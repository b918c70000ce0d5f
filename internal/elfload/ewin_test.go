package elfload_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anybpf/anybpf/internal/elfload"
	"github.com/anybpf/anybpf/isa"
	"github.com/anybpf/anybpf/maps"
	"github.com/anybpf/anybpf/progtype"
)

func loadTestdata(t *testing.T, name string) *elfload.Object {
	t.Helper()
	obj, err := elfload.LoadFile(filepath.Join("..", "..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

func helperCalls(p *elfload.ProgramSpec) []int64 {
	var ids []int64
	for _, ins := range p.Instructions {
		if ins.IsHelperCall() {
			ids = append(ids, ins.Constant)
		}
	}
	return ids
}

// TestWindowsXDP: an object built with ebpf-for-windows's headers is detected; its
// 32-byte legacy map definitions, its BTF map type numbers and its helper ids come out
// in Linux's numbering.
func TestWindowsXDP(t *testing.T) {
	obj := loadTestdata(t, "ewin_xdp.o")
	if !obj.Windows {
		t.Fatal("not detected as an ebpf-for-windows object")
	}
	want := map[string]elfload.MapSpec{
		"counters":    {Type: maps.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 16},
		"inner":       {Type: maps.Array, KeySize: 4, ValueSize: 4, MaxEntries: 4},
		"outer":       {Type: maps.ArrayOfMaps, KeySize: 4, ValueSize: 4, MaxEntries: 2, Pinning: 1},
		"outer_by_id": {Type: maps.HashOfMaps, KeySize: 4, ValueSize: 4, MaxEntries: 2},
		"events":      {Type: maps.RingBuf, MaxEntries: 4096},
	}
	for name, w := range want {
		m := obj.Map(name)
		if m == nil {
			t.Errorf("map %s missing", name)
			continue
		}
		if m.Type != w.Type || m.KeySize != w.KeySize || m.ValueSize != w.ValueSize || m.MaxEntries != w.MaxEntries || m.Pinning != w.Pinning {
			t.Errorf("map %s: %v %d/%d/%d pinning %d, want %v %d/%d/%d pinning %d", name, m.Type, m.KeySize, m.ValueSize, m.MaxEntries, m.Pinning,
				w.Type, w.KeySize, w.ValueSize, w.MaxEntries, w.Pinning)
		}
	}
	for _, name := range []string{"outer", "outer_by_id"} {
		if in := obj.Map(name).InnerMap; in == nil || in.Name != "inner" || in.Type != maps.Array || in.MaxEntries != 4 {
			t.Errorf("%s: inner map %+v", name, in)
		}
	}

	p := obj.Program("count_cpu")
	if p.Type != progtype.XDP || !p.Windows {
		t.Errorf("count_cpu: type %v, windows %v", p.Type, p.Windows)
	}
	// get_smp_processor_id, lookup, update, ringbuf_output, ktime_get_ns.
	if got, want := helperCalls(p), []int64{8, 1, 2, 130, 5}; !equalInts(got, want) {
		t.Errorf("count_cpu calls %v, want %v", got, want)
	}
	if got := helperCalls(obj.Program("strip")); !equalInts(got, []int64{44}) {
		t.Errorf("strip calls %v, want [44] (xdp_adjust_head)", got)
	}

	// The same program built with Linux's headers has the same instructions.
	lin := loadTestdata(t, "ewin_xdp_linux.o")
	if lin.Windows {
		t.Error("a Linux object detected as ebpf-for-windows")
	}
	lp := lin.Program("count_cpu")
	if a, b := isa.Disassemble(p.Instructions, isa.SyntaxLLVM), isa.Disassemble(lp.Instructions, isa.SyntaxLLVM); a != b {
		t.Errorf("instructions differ:\nebpf-for-windows:\n%s\nLinux:\n%s", a, b)
	}
	if len(p.References) != len(lp.References) {
		t.Errorf("references: %v vs %v", p.References, lp.References)
	}
	for i := range p.References {
		if p.References[i] != lp.References[i] {
			t.Errorf("reference %d: %+v vs %+v", i, p.References[i], lp.References[i])
		}
	}
}

// TestWindowsBind: BIND, sock_addr and PROCESS programs get their types, and the sock_addr
// extension helper is translated by program type.
func TestWindowsBind(t *testing.T) {
	obj := loadTestdata(t, "ewin_bind.o")
	if m := obj.Map("binds"); m == nil || m.Type != maps.LRUHash || m.KeySize != 8 || m.ValueSize != 4 {
		t.Errorf("binds: %+v", m)
	}
	if m := obj.Map("cookies"); m == nil || m.Type != maps.Queue {
		t.Errorf("cookies: %+v", m)
	}
	b := obj.Program("limit_binds")
	if b.Type != progtype.Bind || b.AttachType != progtype.AttachBind {
		t.Errorf("limit_binds: %v/%v", b.Type, b.AttachType)
	}
	if got := helperCalls(b); !equalInts(got, []int64{1, 2}) {
		t.Errorf("limit_binds calls %v", got)
	}
	c := obj.Program("authorize_connect4")
	if c.Type != progtype.CgroupSockAddr || c.AttachType != progtype.AttachCgroupInet4Connect {
		t.Errorf("authorize_connect4: %v/%v", c.Type, c.AttachType)
	}
	// get_socket_cookie, sock_addr_get_current_pid_tgid, map_push_elem.
	if got := helperCalls(c); !equalInts(got, []int64{46, 14, 87}) {
		t.Errorf("authorize_connect4 calls %v", got)
	}
	if p := obj.Program("odd_parent"); p == nil || p.Type != progtype.Process || p.AttachType != progtype.AttachProcess {
		t.Errorf("odd_parent: %+v", p)
	}
}

// TestWindowsUnsupported: a helper Linux lacks refuses the object, naming the helper.
func TestWindowsUnsupported(t *testing.T) {
	_, err := elfload.LoadFile(filepath.Join("..", "..", "testdata", "ewin_unsupported.o"))
	if err == nil || !errors.Is(err, elfload.ErrNotSupported) || !strings.Contains(err.Error(), "bpf_memcpy_s") {
		t.Errorf("error %v, want one naming bpf_memcpy_s", err)
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
