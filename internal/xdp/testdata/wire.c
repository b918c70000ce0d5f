// A bump-in-the-wire filter: IPv4 ICMP, UDP and TCP connection attempts (SYN without
// ACK) are counted in `counts`, keyed by protocol << 16 | destination port (the ICMP
// type for ICMP), and get the verdict config[0] holds (XDP_PASS when 0). Everything else
// (ARP, other TCP segments) passes.
#include "pkt.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} config SEC(".maps");

SEC("xdp")
int wire(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end, *l4;
	struct iphdr *ip = ipv4(data, end, &l4);
	if (!ip)
		return XDP_PASS;
	__u32 key;
	switch (ip->protocol) {
	case IPPROTO_ICMP: {
		struct icmphdr *icmp = l4;
		if ((void *)(icmp + 1) > end)
			return XDP_PASS;
		key = IPPROTO_ICMP << 16 | icmp->type;
		break;
	}
	case IPPROTO_UDP: {
		struct udphdr *udp = l4;
		if ((void *)(udp + 1) > end)
			return XDP_PASS;
		key = IPPROTO_UDP << 16 | bpf_ntohs(udp->dest);
		break;
	}
	case IPPROTO_TCP: {
		struct tcphdr *tcp = l4;
		if ((void *)(tcp + 1) > end || !tcp->syn || tcp->ack)
			return XDP_PASS;
		key = IPPROTO_TCP << 16 | bpf_ntohs(tcp->dest);
		break;
	}
	default:
		return XDP_PASS;
	}
	__u64 one = 1, *n = bpf_map_lookup_elem(&counts, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);
	__u32 zero = 0, *verdict = bpf_map_lookup_elem(&config, &zero);
	if (verdict && *verdict)
		return *verdict;
	return XDP_PASS;
}

// drop drops every frame, counting them in dropped: the benchmark's drop program.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} dropped SEC(".maps");

SEC("xdp")
int drop(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&dropped, &zero);
	if (n)
		__sync_fetch_and_add(n, 1);
	return XDP_DROP;
}

// pass passes every frame: the benchmark's pass-forward program.
SEC("xdp")
int pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
