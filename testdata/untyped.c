// An XDP program in a section that names no program type, as hand-written loaders use:
// it loads only when the loader is told its type (bpftool's `prog load ... type xdp`,
// CollectionOptions.ProgramType). It drops IPv6 frames and counts the frames it sees.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} seen SEC(".maps");

SEC("filter_by_hand")
int untyped_filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&seen, &zero);

	if (n)
		__sync_fetch_and_add(n, 1);
	if ((void *)(eth + 1) > end)
		return XDP_DROP;
	return eth->h_proto == bpf_htons(ETH_P_IPV6) ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
