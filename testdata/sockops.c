// sock_ops programs: count callbacks, remember established peers, tune new connections.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define AF_INET 2
#define AF_INET6 10
#define TCP_CLOSE 7

struct peer {
	__u32 family;
	__u32 ip;          // remote IPv4 address, or the last word of the IPv6 one (network order)
	__u16 remote_port; // host order
	__u16 local_port;  // host order
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} ops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct peer);
	__type(value, __u64); // bytes_acked when established
} peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} states SEC(".maps"); // transitions into each TCP state

static void peer_of(struct bpf_sock_ops *skops, struct peer *p)
{
	p->family = skops->family;
	// Both reads are volatile so that clang does not turn them into one load through a
	// computed context pointer, which Linux's verifier refuses.
	__u32 ip4 = *(volatile __u32 *)&skops->remote_ip4;
	__u32 ip6 = *(volatile __u32 *)&skops->remote_ip6[3];

	p->ip = p->family == AF_INET6 ? ip6 : ip4;
	p->remote_port = bpf_ntohl(skops->remote_port); // network order, upper 16 bits
	p->local_port = skops->local_port;              // host order
}

SEC("sockops")
int sockops_prog(struct bpf_sock_ops *skops)
{
	__u32 op = skops->op;
	__u64 *n = bpf_map_lookup_elem(&ops, &op);
	struct peer p = {};

	if (n)
		__sync_fetch_and_add(n, 1);
	switch (op) {
	case BPF_SOCK_OPS_TIMEOUT_INIT:
		// A short SYN timeout (in jiffies) towards 10.0.0.0/8.
		skops->reply = (skops->remote_ip4 & bpf_htonl(0xff000000)) == bpf_htonl(0x0a000000) ? 10 : -1;
		break;
	case BPF_SOCK_OPS_RWND_INIT:
		skops->reply = skops->local_port == 5201 ? 40 : 0;
		break;
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		peer_of(skops, &p);
		bpf_map_update_elem(&peers, &p, &(__u64){0}, BPF_NOEXIST);
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB: {
		__u64 acked = skops->bytes_acked;
		peer_of(skops, &p);
		bpf_map_update_elem(&peers, &p, &acked, BPF_ANY);
		if (skops->is_fullsock)
			skops->sk_txhash = p.ip ^ p.remote_port ^ skops->snd_cwnd;
		skops->reply = 1;
		break;
	}
	case BPF_SOCK_OPS_STATE_CB: {
		__u32 state = skops->args[1]; // args[0] is the old state
		__u64 *s = bpf_map_lookup_elem(&states, &state);
		if (s)
			__sync_fetch_and_add(s, 1);
		if (state == TCP_CLOSE) {
			peer_of(skops, &p);
			bpf_map_delete_elem(&peers, &p);
		}
		break;
	}
	}
	return 1;
}

// Asks for state callbacks on established connections.
SEC("sockops")
int sockops_flags(struct bpf_sock_ops *skops)
{
	long rv;

	if (skops->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB)
		return 1;
	rv = bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG | 0x100);
	skops->reply = rv;
	return 1;
}

// Reads the TCP header a header-option callback sees: reply is the header length, bit 8
// whether its flags byte is skb_tcp_flags, and bits 16 on skb_len.
SEC("sockops")
int sockops_hdr(struct bpf_sock_ops *skops)
{
	__u8 *data = (void *)(long)skops->skb_data;
	__u8 *end = (void *)(long)skops->skb_data_end;
	__u32 flags = skops->skb_tcp_flags;

	if (data + 20 > end) {
		skops->reply = 0;
		return 1;
	}
	skops->reply = (data[12] >> 4) * 4 | (data[13] == (__u8)flags) << 8 | skops->skb_len << 16;
	return 1;
}

char _license[] SEC("license") = "GPL";
