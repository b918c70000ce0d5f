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

char _license[] SEC("license") = "GPL";
