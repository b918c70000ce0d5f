package maps

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestLinuxNumbering checks the map type numbers against the kernel's UAPI header.
func TestLinuxNumbering(t *testing.T) {
	h, err := os.ReadFile("/usr/include/linux/bpf.h")
	if err != nil {
		t.Skip("/usr/include/linux/bpf.h not found (install linux-libc-dev)")
	}
	body := regexp.MustCompile(`(?s)enum bpf_map_type \{(.*?)\};`).FindSubmatch(h)
	if body == nil {
		t.Fatal("enum bpf_map_type not in the header")
	}
	i := Type(0)
	for _, m := range regexp.MustCompile(`(?m)^\s*BPF_MAP_TYPE_(\w+)`).FindAllSubmatch(body[1], -1) {
		if want := strings.ToLower(string(m[1])); i.String() != want {
			t.Errorf("map type %d: have %q, header says %q", i, i, want)
		}
		i++
	}
	if i < 30 || Array != 2 || RingBuf != 27 || LPMTrie != 11 {
		t.Errorf("read %d types; Array=%d RingBuf=%d LPMTrie=%d", i, Array, RingBuf, LPMTrie)
	}
}
