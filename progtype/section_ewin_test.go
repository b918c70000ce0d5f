package progtype

import "testing"

// TestWindowsSections: ebpf-for-windows's section names select their program and attach
// types.
func TestWindowsSections(t *testing.T) {
	for _, tc := range []struct {
		section string
		typ     Type
		attach  AttachType
	}{
		{"bind", Bind, AttachBind},
		{"process", Process, AttachProcess},
		{"xdp", XDP, AttachXDP},
		{"sockops", SockOps, AttachCgroupSockOps},
		{"cgroup/connect4", CgroupSockAddr, AttachCgroupInet4Connect},
		{"cgroup/recv_accept6", CgroupSockAddr, AttachRecvAccept6},
		{"cgroup/connect_authorization4", CgroupSockAddr, AttachConnectAuthorization4},
		{"cgroup/listen4", CgroupSockAddr, AttachListen4},
		{"cgroup/listen6", CgroupSockAddr, AttachListen6},
	} {
		typ, attach, ok := FromSection(tc.section)
		if !ok || typ != tc.typ || attach != tc.attach {
			t.Errorf("FromSection(%q) = %v, %v, %v; want %v, %v", tc.section, typ, attach, ok, tc.typ, tc.attach)
		}
	}
}
