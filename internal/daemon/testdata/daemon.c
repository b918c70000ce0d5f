// The daemon tests' program: an XDP program that counts packets in an array and by
// EtherType in a hash map, sends each packet's first bytes to a ring buffer and logs
// with bpf_printk.
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

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct event {
	__u16 proto;
	__u16 pad;
	__u32 len;
};

SEC("xdp")
int xdp_daemon(struct xdp_md *ctx)
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
		__sync_fetch_and_add(v, 1);
	} else {
		__u64 one = 1;
		bpf_map_update_elem(&by_proto, &proto, &one, BPF_NOEXIST);
	}
	struct event e = {.proto = proto, .len = (__u32)(end - data)};
	bpf_ringbuf_output(&events, &e, sizeof(e), 0);
	bpf_printk("proto %x len %d", proto, (int)(end - data));
	return proto == ETH_P_IPV6 ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
