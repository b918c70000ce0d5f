// XDP programs for the runtime tests: map lookups and updates, global data, an atomic
// add, bpf_xdp_adjust_head and bpf_printk.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u16);
	__type(value, __u64);
} by_proto SEC(".maps");

volatile const __u16 drop_proto = ETH_P_IPV6;
__u64 packets = 0;

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return XDP_ABORTED;
	__u16 proto = bpf_ntohs(eth->h_proto);

	__u32 k = 0;
	__u64 *c = bpf_map_lookup_elem(&counts, &k);
	if (c)
		__sync_fetch_and_add(c, 1);

	__u64 *v = bpf_map_lookup_elem(&by_proto, &proto);
	if (v) {
		(*v)++;
	} else {
		__u64 one = 1;
		bpf_map_update_elem(&by_proto, &proto, &one, BPF_NOEXIST);
	}
	packets++;
	return proto == drop_proto ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int xdp_strip2(struct xdp_md *ctx)
{
	if (bpf_xdp_adjust_head(ctx, 2))
		return XDP_ABORTED;
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	if (data + 1 > end)
		return XDP_ABORTED;
	bpf_printk("first byte %x, length %d", *(__u8 *)data, (int)(end - data));
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
