// Maps of maps: an array of maps and a hash of maps with initial values, looked up from
// an XDP program that counts packets in the inner maps.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct inner_array {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} inner_a SEC(".maps"), inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 3);
	__type(key, __u32);
	__array(values, struct inner_array);
} outer_array SEC(".maps") = {
	.values = { &inner_a, &inner_b },
};

struct inner_hash {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u32);
} inner_h SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner_hash);
} outer_hash SEC(".maps") = {
	.values = { [3] = &inner_h },
};

// The byte after the Ethernet header picks the slot of outer_array; the byte after it
// the key of outer_hash. Returns XDP_PASS when both inner maps were found, XDP_DROP when
// the array slot is empty, XDP_TX when the hash slot is.
SEC("xdp")
int count_inner(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *p = data + 14;
	if ((void *)(p + 2) > data_end)
		return XDP_ABORTED;
	__u32 slot = p[0], hkey = p[1];

	void *inner = bpf_map_lookup_elem(&outer_array, &slot);
	if (!inner)
		return XDP_DROP;
	__u32 k = slot;
	__u64 *cnt = bpf_map_lookup_elem(inner, &k);
	if (cnt)
		__sync_fetch_and_add(cnt, 1);

	void *h = bpf_map_lookup_elem(&outer_hash, &hkey);
	if (!h)
		return XDP_TX;
	__u32 one = 1, *v = bpf_map_lookup_elem(h, &slot);
	if (v)
		*v += 1;
	else
		bpf_map_update_elem(h, &slot, &one, BPF_NOEXIST);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
