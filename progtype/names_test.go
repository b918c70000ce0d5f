package progtype

import (
	"errors"
	"testing"
)

func TestParseType(t *testing.T) {
	tests := []struct {
		name   string
		typ    Type
		attach AttachType
		err    error
	}{
		{"xdp", XDP, AttachNone, nil},
		{"socket", SocketFilter, AttachNone, nil},
		{"socket_filter", SocketFilter, AttachNone, nil},
		{"sched_cls", SchedCls, AttachNone, nil},
		{"cgroup/connect4", CgroupSockAddr, AttachCgroupInet4Connect, nil},
		{"cgroup/bind6", CgroupSockAddr, AttachCgroupInet6Bind, nil},
		{"sockops", SockOps, AttachCgroupSockOps, nil},
		{"kprobe/do_sys_open", Kprobe, AttachNone, nil},
		{"xdp_legacy_name", 0, 0, ErrUnknownType},
		{"nonsense", 0, 0, ErrUnknownType},
		{"", 0, 0, ErrUnknownType},
		{"unspec", 0, 0, ErrUnknownType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ, attach, err := ParseType(tt.name)
			if !errors.Is(err, tt.err) {
				t.Fatalf("ParseType(%q): error %v, want %v", tt.name, err, tt.err)
			}
			if err == nil && (typ != tt.typ || attach != tt.attach) {
				t.Fatalf("ParseType(%q) = %v, %v; want %v, %v", tt.name, typ, attach, tt.typ, tt.attach)
			}
		})
	}
}
