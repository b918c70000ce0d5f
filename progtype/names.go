package progtype

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrUnknownType is wrapped by ParseType's error for a name that is no program type.
var ErrUnknownType = errors.New("unknown program type")

// ParseType returns the program type and attach type that name stands for, as bpftool's
// `prog load ... type TYPE` takes it: a libbpf section name ("xdp", "socket", "tc",
// "cgroup/connect4", "sockops", "kprobe/do_sys_open", ...) or the program type's own name
// ("socket_filter", "sched_cls", "cgroup_sock_addr", ...). Unlike FromSection it does not
// take the loose legacy prefixes ("xdp_anything").
func ParseType(name string) (Type, AttachType, error) {
	for t, n := range typeNames {
		if n == name && t != Unspec {
			return t, AttachNone, nil
		}
	}
	best := -1
	for i, s := range sections {
		if (name == s.prefix || strings.HasPrefix(name, s.prefix+"/")) && (best < 0 || len(s.prefix) > len(sections[best].prefix)) {
			best = i
		}
	}
	if best < 0 {
		return 0, 0, fmt.Errorf("%w %q (use a section name such as %s, or a type name such as %s)", ErrUnknownType, name, strings.Join(exampleSections, ", "), strings.Join(TypeNames()[:4], ", "))
	}
	return sections[best].typ, sections[best].attach, nil
}

var exampleSections = []string{"xdp", "socket", "tc", "cgroup/connect4", "sockops"}

// TypeNames lists the program types' own names, sorted.
func TypeNames() []string {
	var out []string
	for t, n := range typeNames {
		if t != Unspec {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
