// A reflector: IPv4 ICMP echo requests get their reply, and UDP datagrams to port 7 (echo)
// are sent back to their source, both with XDP_TX out of the interface they came in on.
// reflected counts the frames turned around. swap_tx turns every frame around (swapping
// the Ethernet addresses only): the benchmark's TX program.
#include "pkt.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} reflected SEC(".maps");

static __always_inline void swap_eth(struct ethhdr *eth)
{
	unsigned char tmp[ETH_ALEN];
	__builtin_memcpy(tmp, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, tmp, ETH_ALEN);
}

SEC("xdp")
int reflect(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end, *l4;
	struct iphdr *ip = ipv4(data, end, &l4);
	if (!ip)
		return XDP_PASS;
	if (ip->protocol == IPPROTO_ICMP) {
		struct icmphdr *icmp = l4;
		if ((void *)(icmp + 1) > end || icmp->type != ICMP_ECHO)
			return XDP_PASS;
		icmp->type = ICMP_ECHOREPLY;
		// The type is the high byte of the first 16-bit word: the sum loses 8 << 8.
		__u32 sum = (__u16)~icmp->checksum;
		sum += (__u16)~bpf_htons(ICMP_ECHO << 8) + bpf_htons(ICMP_ECHOREPLY << 8);
		sum = (sum & 0xffff) + (sum >> 16);
		sum = (sum & 0xffff) + (sum >> 16);
		icmp->checksum = ~sum;
	} else if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *udp = l4;
		if ((void *)(udp + 1) > end || udp->dest != bpf_htons(7))
			return XDP_PASS;
		__be16 port = udp->source;
		udp->source = udp->dest;
		udp->dest = port;
	} else {
		return XDP_PASS;
	}
	__be32 addr = ip->saddr;
	ip->saddr = ip->daddr;
	ip->daddr = addr;
	swap_eth(data);
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&reflected, &zero);
	if (n)
		__sync_fetch_and_add(n, 1);
	return XDP_TX;
}

SEC("xdp")
int swap_tx(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	if (data + sizeof(struct ethhdr) > end)
		return XDP_DROP;
	swap_eth(data);
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
