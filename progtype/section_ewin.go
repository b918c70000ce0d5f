package progtype

// Attach types of ebpf-for-windows's sock_addr attach points that Linux lacks, beyond
// those declared with the other anybpf-only attach types.
const (
	// AttachListen4 is ebpf-for-windows's BPF_CGROUP_INET4_LISTEN (section
	// "cgroup/listen4"): an IPv4 socket's listen().
	AttachListen4 AttachType = 0x10100 + iota
	// AttachListen6 is ebpf-for-windows's BPF_CGROUP_INET6_LISTEN (section
	// "cgroup/listen6").
	AttachListen6
)
