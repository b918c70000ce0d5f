// An XDP firewall: drops IPv4 packets whose source address is in an LPM-trie blocklist,
// counts the drops per rule, and reports each drop as a ring buffer event.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct lpm_v4 {
	__u32 prefixlen;
	__u32 addr; /* network byte order */
};

/* Blocked source prefixes; the value is the rule's number (0 to 255). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_v4);
	__type(value, __u32);
} blocklist SEC(".maps");

/* Packets dropped per rule. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

struct event {
	__u32 saddr; /* network byte order */
	__u32 daddr;
	__u32 rule;
	__u32 protocol;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 16);
} events SEC(".maps");

SEC("xdp")
int firewall(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return XDP_PASS;

	struct lpm_v4 key = {.prefixlen = 32, .addr = ip->saddr};
	__u32 *rule = bpf_map_lookup_elem(&blocklist, &key);
	if (!rule)
		return XDP_PASS;
	__u32 r = *rule;
	__u64 *n = bpf_map_lookup_elem(&drops, &r);
	if (n)
		__sync_fetch_and_add(n, 1);
	struct event ev = {.saddr = ip->saddr, .daddr = ip->daddr, .rule = r, .protocol = ip->protocol};
	bpf_ringbuf_output(&events, &ev, sizeof(ev), 0);
	return XDP_DROP;
}

char _license[] SEC("license") = "GPL";
