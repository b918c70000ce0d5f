// cgroup/sendmsg4|6 programs for the supervisor's tests: datagrams to a port listed in
// `denied` are refused; datagrams to port 9 (discard) go to the address and port in
// `redirect` (key 0: IPv4 address in network order, port in host order); datagrams to
// port 10 go there too, from the source address 127.0.0.2 (msg_src_ip4).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct target {
	__u32 ip4;
	__u32 port;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u16);
	__type(value, __u8);
} denied SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct target);
} redirect SEC(".maps");

__u64 judged = 0;

static int judge(struct bpf_sock_addr *ctx, int v4)
{
	__u16 port = bpf_ntohs(ctx->user_port);
	__u32 zero = 0;
	struct target *t;

	__sync_fetch_and_add(&judged, 1);
	if (bpf_map_lookup_elem(&denied, &port))
		return 0;
	if ((port == 9 || port == 10) && v4) {
		t = bpf_map_lookup_elem(&redirect, &zero);
		if (t && t->port) {
			ctx->user_ip4 = t->ip4;
			ctx->user_port = bpf_htons(t->port);
		}
		if (port == 10)
			ctx->msg_src_ip4 = bpf_htonl(0x7f000002);
	}
	return 1;
}

SEC("cgroup/sendmsg4")
int sendmsg4(struct bpf_sock_addr *ctx) { return judge(ctx, 1); }

SEC("cgroup/sendmsg6")
int sendmsg6(struct bpf_sock_addr *ctx) { return judge(ctx, 0); }

char LICENSE[] SEC("license") = "GPL";
