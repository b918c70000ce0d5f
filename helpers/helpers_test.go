package helpers

import (
	"os"
	"regexp"
	"strconv"
	"testing"
)

// TestNamesMatchLibbpf checks the id ↔ name table against libbpf's bpf_helper_defs.h,
// when the machine has it (libbpf-dev).
func TestNamesMatchLibbpf(t *testing.T) {
	defs, err := os.ReadFile("/usr/include/bpf/bpf_helper_defs.h")
	if err != nil {
		t.Skip("/usr/include/bpf/bpf_helper_defs.h not found (install libbpf-dev)")
	}
	n := 0
	for _, m := range regexp.MustCompile(`\(\*bpf_(\w+)\)\(.*?\) = \(void \*\) (\d+);`).FindAllSubmatch(defs, -1) {
		id, _ := strconv.Atoi(string(m[2]))
		if got := ID(id).String(); got != string(m[1]) {
			t.Errorf("helper %d: have %q, libbpf says %q", id, got, m[1])
		}
		n++
	}
	if n < 200 {
		t.Errorf("read only %d helpers", n)
	}
}

func TestPrototypes(t *testing.T) {
	for _, tc := range []struct {
		name string
		ret  RetKind
		args []ArgKind
	}{
		{"map_lookup_elem", RetPtrToMapValueOrNull, []ArgKind{ArgConstMapPtr, ArgPtrToMapKey}},
		{"map_update_elem", RetInteger, []ArgKind{ArgConstMapPtr, ArgPtrToMapKey, ArgPtrToMapValue, ArgAnything}},
		{"ktime_get_ns", RetInteger, nil},
		{"ringbuf_reserve", RetPtrToMemOrNull, []ArgKind{ArgConstMapPtr, ArgConstAllocSizeOrZero, ArgAnything}},
		{"spin_lock", RetVoid, []ArgKind{ArgPtrToSpinLock}},
		{"trace_printk", RetInteger, []ArgKind{ArgPtrToMem, ArgConstSize}}, // format arguments unchecked, as in Linux
	} {
		id, ok := ByName(tc.name)
		if !ok {
			t.Fatalf("no helper %s", tc.name)
		}
		p, ok := Lookup(id)
		if !ok {
			t.Fatalf("no prototype for %s (%d)", tc.name, id)
		}
		if p.Name() != tc.name || p.Ret != tc.ret || p.NumArgs() != len(tc.args) {
			t.Errorf("%s: %+v", tc.name, p)
			continue
		}
		for i, k := range tc.args {
			if p.Args[i] != k {
				t.Errorf("%s arg %d: %d, want %d", tc.name, i+1, p.Args[i], k)
			}
		}
	}
	// Every memory argument is followed by its size, as the verifier expects.
	for _, id := range All() {
		p, _ := Lookup(id)
		for i, k := range p.Args {
			if k == ArgPtrToMem || k == ArgPtrToUninitMem {
				if i == 4 || (p.Args[i+1] != ArgConstSize && p.Args[i+1] != ArgConstSizeOrZero) {
					t.Errorf("%s: memory argument %d is not followed by a size", p.Name(), i+1)
				}
			}
		}
	}
	if ID(99999).String() != "helper#99999" {
		t.Error(ID(99999).String())
	}
}
