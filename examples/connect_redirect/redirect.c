// Connect redirection: connections to the virtual service address 198.18.0.10:80 go to
// a backend chosen from the backends map (by the connecting socket's cookie, so that
// every connection picks one); connections to ports in the denied map fail with EPERM.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define VIP_ADDR 0xc612000a /* 198.18.0.10 */
#define VIP_PORT 80

struct backend {
	__u32 addr; /* network byte order */
	__u32 port; /* host byte order */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct backend);
} backends SEC(".maps");

__u32 backend_count = 1;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u16); /* host byte order */
	__type(value, __u8);
} denied SEC(".maps");

SEC("cgroup/connect4")
int connect4(struct bpf_sock_addr *ctx)
{
	__u16 port = bpf_ntohs(ctx->user_port);
	if (bpf_map_lookup_elem(&denied, &port))
		return 0; /* EPERM */
	if (ctx->user_ip4 != bpf_htonl(VIP_ADDR) || port != VIP_PORT)
		return 1;
	__u32 n = backend_count;
	if (n == 0)
		return 1;
	__u32 i = (__u32)bpf_get_prandom_u32() % n;
	struct backend *b = bpf_map_lookup_elem(&backends, &i);
	if (!b || b->addr == 0)
		return 1;
	ctx->user_ip4 = b->addr;
	ctx->user_port = bpf_htons(b->port);
	return 1;
}

char _license[] SEC("license") = "GPL";
