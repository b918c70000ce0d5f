/* CO-RE field accesses on context and packet header types, resolved against anybpf's
 * types. The local struct xdp_md___swapped lists data_end before data: relocation must
 * move both accesses to the real offsets (data 0, data_end 4). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct xdp_md___swapped {
	__u32 data_end;
	__u32 data;
	__u32 not_in_linux;
} __attribute__((preserve_access_index));

struct ethhdr {
	unsigned char h_dest[6];
	unsigned char h_source[6];
	__be16 h_proto;
} __attribute__((preserve_access_index));

struct iphdr {
	__u8 ihl : 4, version : 4;
	__u8 tos;
	__be16 tot_len;
} __attribute__((preserve_access_index));

struct __sk_buff___mine {
	__u32 mark;
	__u32 len;
} __attribute__((preserve_access_index));

SEC("xdp")
int core_xdp(struct xdp_md *ctx)
{
	struct xdp_md___swapped *c = (void *)ctx;
	void *data = (void *)(long)c->data;
	void *data_end = (void *)(long)c->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);

	if (bpf_core_field_exists(c->not_in_linux))
		return XDP_ABORTED;
	if ((void *)(ip + 1) > data_end)
		return XDP_DROP;
	if (eth->h_proto != __builtin_bswap16(0x0800))
		return XDP_PASS;
	return BPF_CORE_READ_BITFIELD(ip, ihl) == 5 ? XDP_PASS : XDP_DROP;
}

SEC("tc")
int core_skb(struct __sk_buff *skb)
{
	struct __sk_buff___mine *s = (void *)skb;
	return s->len > 100 ? s->mark : 0;
}

char _license[] SEC("license") = "GPL";
