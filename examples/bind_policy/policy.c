// A bind policy: a process may bind only to the ports in the allowed map (port 0, "any
// port", is always allowed); other binds fail with EPERM.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u16); /* host byte order */
	__type(value, __u8);
} allowed SEC(".maps");

/* Binds refused. */
__u64 refused = 0;

static __always_inline int check(__u16 port)
{
	if (port == 0 || bpf_map_lookup_elem(&allowed, &port))
		return 1;
	__sync_fetch_and_add(&refused, 1);
	return 0;
}

SEC("cgroup/bind4")
int bind4(struct bpf_sock_addr *ctx) { return check(bpf_ntohs(ctx->user_port)); }

SEC("cgroup/bind6")
int bind6(struct bpf_sock_addr *ctx) { return check(bpf_ntohs(ctx->user_port)); }

char _license[] SEC("license") = "GPL";
