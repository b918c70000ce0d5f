// Redirects: redirect_dev sends every frame out of the interface a devmap-hash keyed by
// the ingress ifindex names (frames from interfaces it does not name are dropped);
// redirect_if sends every frame out of the interface target[0] holds, with bpf_redirect.
// redirected counts the frames each ingress interface sent on.
#include "pkt.h"

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u32);
} out SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} target SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} redirected SEC(".maps");

static __always_inline void count(__u32 ifindex)
{
	__u64 one = 1, *n = bpf_map_lookup_elem(&redirected, &ifindex);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&redirected, &ifindex, &one, BPF_NOEXIST);
}

SEC("xdp")
int redirect_dev(struct xdp_md *ctx)
{
	long ret = bpf_redirect_map(&out, ctx->ingress_ifindex, XDP_DROP);
	if (ret == XDP_REDIRECT)
		count(ctx->ingress_ifindex);
	return ret;
}

SEC("xdp")
int redirect_if(struct xdp_md *ctx)
{
	__u32 zero = 0, *ifindex = bpf_map_lookup_elem(&target, &zero);
	if (!ifindex)
		return XDP_DROP;
	count(ctx->ingress_ifindex);
	return bpf_redirect(*ifindex, 0);
}

char _license[] SEC("license") = "GPL";
