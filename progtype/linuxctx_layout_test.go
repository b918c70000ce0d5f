package progtype

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// layoutCase ties a descriptor to the C struct of linux/bpf.h it describes.
type layoutCase struct {
	c      *Context
	cType  string
	noSize bool // Context.Size is a bound, not sizeof(cType)
}

func linuxLayoutCases() []layoutCase {
	return []layoutCase{
		{KprobeContext, "struct pt_regs", false},
		{PerfEventContext, "struct bpf_perf_event_data", false},
		{RawTracepointContext, "struct bpf_raw_tracepoint_args", true},
		{RawTracepointWritableContext, "struct bpf_raw_tracepoint_args", true},
		{CgroupSKBContext, "struct __sk_buff", false},
		{SKSKBContext, "struct __sk_buff", false},
		{LWTContext, "struct __sk_buff", false},
		{FlowDissectorContext, "struct __sk_buff", false},
		{SKMsgContext, "struct sk_msg_md", false},
		{SKReuseportContext, "struct sk_reuseport_md", false},
		{SKLookupContext, "struct bpf_sk_lookup", false},
		{CgroupDevContext, "struct bpf_cgroup_dev_ctx", false},
		{SysctlContext, "struct bpf_sysctl", false},
		{SockoptContext, "struct bpf_sockopt", false},
		{FlowKeysContext, "struct bpf_flow_keys", false},
	}
}

// cMember returns the C member designator of a descriptor field, and whether its size
// is the member's: fields that are parts of a member (eth_protocol's halves,
// remote_port's 2 bytes) or not members at all (padding, the whole of bpf_flow_keys) are
// checked by offset or not at all.
func cMember(c *Context, i int) (member string, checkSize, ok bool) {
	f := c.Fields[i]
	switch {
	case strings.Contains(f.Name, " "), c == FlowKeysContext:
		return "", false, false
	}
	for j := 0; j < i; j++ {
		if c.Fields[j].Name == f.Name {
			return f.Name, false, f.Offset == c.Fields[j].Offset
		}
	}
	// bpf_sk_lookup's remote_port is a __be16 that programs may read as 4 bytes.
	return f.Name, !(c == SKLookupContext && f.Name == "remote_port"), true
}

// TestLinuxLayouts compiles a C program that prints the offsetof and sizeof of every
// member the descriptors name, from linux/bpf.h and linux/bpf_perf_event.h, and compares.
// It needs a C compiler and the kernel headers of an x86-64 host (pt_regs is x86-64's);
// the hand-written tables of TestLinuxLayoutTable hold what it found.
func TestLinuxLayouts(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("pt_regs is described for x86-64")
	}
	cc, err := exec.LookPath("clang")
	if err != nil {
		if cc, err = exec.LookPath("cc"); err != nil {
			t.Skip("no C compiler")
		}
	}
	if _, err := os.Stat("/usr/include/linux/bpf.h"); err != nil {
		t.Skip("no linux/bpf.h")
	}
	var src strings.Builder
	src.WriteString("#include <stdio.h>\n#include <stddef.h>\n#include <linux/bpf.h>\n#include <linux/bpf_perf_event.h>\n#include <asm/ptrace.h>\n")
	src.WriteString("#define M(t, m) printf(\"%s|%s|%zu|%zu\\n\", #t, #m, offsetof(t, m), sizeof(((t *)0)->m))\n")
	src.WriteString("#define S(t) printf(\"%s||%zu|\\n\", #t, sizeof(t))\nint main(void) {\n")
	for _, lc := range linuxLayoutCases() {
		src.WriteString(fmt.Sprintf("S(%s);\n", lc.cType))
		for i := range lc.c.Fields {
			if m, _, ok := cMember(lc.c, i); ok {
				src.WriteString(fmt.Sprintf("M(%s, %s);\n", lc.cType, m))
			}
		}
	}
	for m := range FlowKeysOffsets {
		src.WriteString(fmt.Sprintf("M(struct bpf_flow_keys, %s);\n", m))
	}
	src.WriteString("return 0;\n}\n")
	dir := t.TempDir()
	cfile, bin := filepath.Join(dir, "layout.c"), filepath.Join(dir, "layout")
	if err := os.WriteFile(cfile, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(cc, "-o", bin, cfile).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cc, err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	type member struct{ off, size int }
	got := map[string]member{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		p := strings.Split(sc.Text(), "|")
		off, _ := strconv.Atoi(p[2])
		size, _ := strconv.Atoi(p[3])
		got[p[0]+"|"+p[1]] = member{off, size}
	}
	n := 0
	for _, lc := range linuxLayoutCases() {
		if sz := got[lc.cType+"|"].off; !lc.noSize && sz != lc.c.Size {
			t.Errorf("%s: Size %d, sizeof(%s) = %d", lc.c.Name, lc.c.Size, lc.cType, sz)
		}
		for i, f := range lc.c.Fields {
			m, checkSize, ok := cMember(lc.c, i)
			if !ok {
				continue
			}
			g := got[lc.cType+"|"+m]
			if g.off != f.Offset || (checkSize && g.size != f.Size) {
				t.Errorf("%s.%s at %d, %d bytes; offsetof %d, sizeof %d", lc.c.Name, f.Name, f.Offset, f.Size, g.off, g.size)
			}
			n++
		}
	}
	for m, off := range FlowKeysOffsets {
		if g := got["struct bpf_flow_keys|"+m]; g.off != off {
			t.Errorf("bpf_flow_keys.%s at %d, offsetof %d", m, off, g.off)
		}
		n++
	}
	t.Logf("%d members checked against %s", n, cc)
}
