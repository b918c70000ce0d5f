// Socket filter and tc programs for the __sk_buff context: fields, the legacy LD_ABS
// packet loads, direct packet access and writes to writable fields.
#include <stddef.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} seen SEC(".maps");

static void record(__u32 k, __u64 value)
{
	__u64 *v = bpf_map_lookup_elem(&seen, &k);
	if (v)
		*v = value;
}

SEC("socket")
int sock_proto(struct __sk_buff *skb)
{
	__u64 proto = load_byte(skb, offsetof(struct iphdr, protocol));
	record(0, proto);
	record(1, skb->len);
	record(2, skb->protocol);
	record(3, skb->pkt_type);
	record(4, skb->ifindex);
	record(5, load_half(skb, offsetof(struct iphdr, tot_len)));
	skb->cb[1] = 99;
	record(6, skb->cb[1]);
	return proto == IPPROTO_UDP ? skb->len : 0;
}

SEC("tc")
int tc_mark(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return TC_ACT_SHOT;
	skb->mark = 0x1234;
	record(7, skb->len + skb->mark);
	record(8, end - data);
	record(9, eth->h_proto);
	return eth->h_proto == __builtin_bswap16(ETH_P_IP) ? TC_ACT_OK : TC_ACT_SHOT;
}

char _license[] SEC("license") = "GPL";

SEC("tc")
int tc_fields(struct __sk_buff *skb)
{
	record(10, skb->wire_len);
	record(11, skb->gso_segs);
	record(12, skb->ingress_ifindex);
	record(13, skb->mark + skb->priority);
	record(14, skb->cb[0] + skb->cb[4]);
	record(15, skb->ifindex);
	skb->cb[2] = 77;
	skb->mark = 5;
	return TC_ACT_OK;
}
