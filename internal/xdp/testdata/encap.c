// Encapsulation with bpf_xdp_adjust_head. encap puts IPv4 UDP frames to port 9200 inside
// an outer Ethernet header of type 0x88b5 (local experimental) followed by the 4 bytes
// "ABPF" (the outer addresses are the inner ones); decap takes such frames out again.
// Other frames pass unchanged.
#include "pkt.h"

#define ETH_P_ANYBPF 0x88b5
#define OUTER (sizeof(struct ethhdr) + 4)

SEC("xdp")
int encap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end, *l4;
	struct iphdr *ip = ipv4(data, end, &l4);
	if (!ip || ip->protocol != IPPROTO_UDP)
		return XDP_PASS;
	struct udphdr *udp = l4;
	if ((void *)(udp + 1) > end || udp->dest != bpf_htons(9200))
		return XDP_PASS;
	if (bpf_xdp_adjust_head(ctx, -(int)OUTER))
		return XDP_ABORTED;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	struct ethhdr *outer = data, *inner = data + OUTER;
	if ((void *)(inner + 1) > end)
		return XDP_ABORTED;
	__builtin_memcpy(outer->h_dest, inner->h_dest, ETH_ALEN);
	__builtin_memcpy(outer->h_source, inner->h_source, ETH_ALEN);
	outer->h_proto = bpf_htons(ETH_P_ANYBPF);
	__builtin_memcpy((void *)(outer + 1), "ABPF", 4);
	return XDP_PASS;
}

SEC("xdp")
int decap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *outer = data;
	if (data + OUTER + sizeof(struct ethhdr) > end || outer->h_proto != bpf_htons(ETH_P_ANYBPF))
		return XDP_PASS;
	char *tag = (void *)(outer + 1);
	if (tag[0] != 'A' || tag[1] != 'B' || tag[2] != 'P' || tag[3] != 'F')
		return XDP_DROP;
	if (bpf_xdp_adjust_head(ctx, OUTER))
		return XDP_ABORTED;
	return XDP_PASS;
}

// trim shortens IPv4 UDP datagrams to port 9400 by their last 4 bytes with
// bpf_xdp_adjust_tail (fixing the lengths and the IPv4 checksum, and dropping the UDP
// checksum, which IPv4 allows), after leaving 4 bytes of metadata with
// bpf_xdp_adjust_meta that must not be sent.
SEC("xdp")
int trim(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end, *l4;
	struct iphdr *ip = ipv4(data, end, &l4);
	if (!ip || ip->protocol != IPPROTO_UDP || ip->ihl != 5)
		return XDP_PASS;
	struct udphdr *udp = l4;
	if ((void *)(udp + 1) > end || udp->dest != bpf_htons(9400) || bpf_ntohs(udp->len) < 8 + 4)
		return XDP_PASS;
	if (bpf_xdp_adjust_meta(ctx, -4))
		return XDP_ABORTED;
	__u32 *meta = (void *)(long)ctx->data_meta;
	if ((void *)(meta + 1) > (void *)(long)ctx->data)
		return XDP_ABORTED;
	*meta = 0xdeadbeef;
	if (bpf_xdp_adjust_tail(ctx, -4))
		return XDP_ABORTED;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	ip = ipv4(data, end, &l4);
	if (!ip)
		return XDP_ABORTED;
	udp = l4;
	if ((void *)(udp + 1) > end)
		return XDP_ABORTED;
	__u16 old = ip->tot_len, new = bpf_htons(bpf_ntohs(old) - 4);
	ip->tot_len = new;
	__u32 sum = (__u16)~ip->check + (__u16)~old + new;
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	ip->check = ~sum;
	udp->len = bpf_htons(bpf_ntohs(udp->len) - 4);
	udp->check = 0;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
