// tc programs that rewrite packets and fix checksums: TTL decrement (l3_csum_replace of a
// 16-bit word), destination address rewrite (l3 and l4 with a pseudo header), UDP port
// rewrite, csum_diff, and skb_load_bytes / skb_store_bytes.
#include <stddef.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define IP_OFF ETH_HLEN
#define UDP_OFF (ETH_HLEN + sizeof(struct iphdr))

__u64 results[4] = {};

SEC("tc")
int ttl_dec(struct __sk_buff *skb)
{
	__u8 ttl;
	if (bpf_skb_load_bytes(skb, IP_OFF + offsetof(struct iphdr, ttl), &ttl, 1))
		return TC_ACT_SHOT;
	// The TTL shares a 16-bit checksum word with the protocol.
	__u16 old, new;
	if (bpf_skb_load_bytes(skb, IP_OFF + offsetof(struct iphdr, ttl), &old, 2))
		return TC_ACT_SHOT;
	__u8 nttl = ttl - 1;
	bpf_skb_store_bytes(skb, IP_OFF + offsetof(struct iphdr, ttl), &nttl, 1, 0);
	if (bpf_skb_load_bytes(skb, IP_OFF + offsetof(struct iphdr, ttl), &new, 2))
		return TC_ACT_SHOT;
	bpf_l3_csum_replace(skb, IP_OFF + offsetof(struct iphdr, check), old, new, 2);
	return TC_ACT_OK;
}

SEC("tc")
int nat_dst(struct __sk_buff *skb)
{
	__be32 old, new = bpf_htonl(0xc6120063); // 198.18.0.99
	if (bpf_skb_load_bytes(skb, IP_OFF + offsetof(struct iphdr, daddr), &old, 4))
		return TC_ACT_SHOT;
	bpf_l4_csum_replace(skb, UDP_OFF + offsetof(struct udphdr, check), old, new, BPF_F_PSEUDO_HDR | 4 | BPF_F_MARK_MANGLED_0);
	bpf_l3_csum_replace(skb, IP_OFF + offsetof(struct iphdr, check), old, new, 4);
	bpf_skb_store_bytes(skb, IP_OFF + offsetof(struct iphdr, daddr), &new, 4, 0);
	// The port too, by difference.
	__be16 oport, nport = bpf_htons(4242);
	if (bpf_skb_load_bytes(skb, UDP_OFF + offsetof(struct udphdr, dest), &oport, 2))
		return TC_ACT_SHOT;
	bpf_l4_csum_replace(skb, UDP_OFF + offsetof(struct udphdr, check), oport, nport, 2 | BPF_F_MARK_MANGLED_0);
	bpf_skb_store_bytes(skb, UDP_OFF + offsetof(struct udphdr, dest), &nport, 2, 0);
	return TC_ACT_OK;
}

SEC("tc")
int diff(struct __sk_buff *skb)
{
	__be32 a[2] = {bpf_htonl(0x01020304), bpf_htonl(0xa0b0c0d0)};
	__be32 b[2] = {bpf_htonl(0x11121314), bpf_htonl(0x0000ffff)};
	results[0] = bpf_csum_diff(a, sizeof(a), b, sizeof(b), 0);
	results[1] = bpf_csum_diff(0, 0, b, sizeof(b), 7);
	results[2] = bpf_csum_diff(a, 3, b, sizeof(b), 0) + (bpf_csum_diff(a, sizeof(a), 0, 0, 0x12345) << 32);
	__u8 tooFar[4];
	results[3] = bpf_skb_load_bytes(skb, 4000, tooFar, 4); // -EFAULT
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
