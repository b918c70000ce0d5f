package progtype

// Context descriptors of Linux's cgroup program types that anybpf does not run yet:
// device, sysctl and sockopt hooks, with the access rules of kernel/bpf/cgroup.c.

// CgroupDevContext is struct bpf_cgroup_dev_ctx, for CGROUP_DEVICE programs
// (cgroup_dev_is_valid_access), read-only: access_type whole or in aligned parts, major
// and minor as 4 bytes.
var CgroupDevContext = &Context{
	Name: "bpf_cgroup_dev_ctx", Size: 12, RealSize: 12,
	Fields: []Field{
		sameLayout(Field{Name: "access_type", Offset: 0, Size: 4, Narrow: true}),
		sameLayout(Field{Name: "major", Offset: 4, Size: 4}),
		sameLayout(Field{Name: "minor", Offset: 8, Size: 4}),
	},
}

// SysctlContext is struct bpf_sysctl, for CGROUP_SYSCTL programs
// (sysctl_is_valid_access): write is read whole or in aligned parts and never stored;
// file_pos likewise read and stored as 4 bytes.
var SysctlContext = &Context{
	Name: "bpf_sysctl", Size: 8, RealSize: 8,
	Fields: []Field{
		sameLayout(Field{Name: "write", Offset: 0, Size: 4, Narrow: true}),
		sameLayout(Field{Name: "file_pos", Offset: 4, Size: 4, Narrow: true, Writable: true, MinWrite: 4}),
	},
}

// SockoptContextSize is the size of struct bpf_sockopt.
const SockoptContextSize = 40

// sockoptContext returns struct bpf_sockopt as CGROUP_SOCKOPT programs of attach type a
// see it (cg_sockopt_is_valid_access): sk (the socket), optval and optval_end (the
// option's value, as packet pointers) are read as 8 bytes, level, optname and optlen as
// 4; optlen may be stored (4 bytes) by both hooks, level and optname by setsockopt
// programs only; retval is read and stored (4 bytes) by getsockopt programs only.
// AttachNone (or another attach type) gives the union of both hooks.
func sockoptContext(a AttachType) *Context {
	get := a != AttachCgroupSetsockopt
	set := a != AttachCgroupGetsockopt
	name := "bpf_sockopt"
	switch a {
	case AttachCgroupGetsockopt:
		name += " (getsockopt)"
	case AttachCgroupSetsockopt:
		name += " (setsockopt)"
	}
	c := &Context{Name: name, Size: SockoptContextSize, RealSize: SockoptContextSize}
	c.Fields = append(c.Fields,
		sameLayout(Field{Name: "sk", Offset: 0, Size: 8, Kind: SocketPointer}),
		sameLayout(Field{Name: "optval", Offset: 8, Size: 8, Kind: PacketStart}),
		sameLayout(Field{Name: "optval_end", Offset: 16, Size: 8, Kind: PacketEnd}),
		sameLayout(Field{Name: "level", Offset: 24, Size: 4, Writable: set}),
		sameLayout(Field{Name: "optname", Offset: 28, Size: 4, Writable: set}),
		sameLayout(Field{Name: "optlen", Offset: 32, Size: 4, Writable: true}),
	)
	if get {
		c.Fields = append(c.Fields, sameLayout(Field{Name: "retval", Offset: 36, Size: 4, Writable: true}))
	}
	return c
}

// SockoptContext is struct bpf_sockopt with the fields of both getsockopt and
// setsockopt programs; LinuxContextFor gives those of one attach type.
var SockoptContext = sockoptContext(AttachNone)
