// More programs for the kernel oracle: atomics on map values, initialized global data,
// a packet parser with a bounded loop, ring buffer output, and errors from empty maps.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64[8]);
} atom SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 2);
	__type(value, __u64);
} empty_q SEC(".maps");

__u64 greeting[2] = {0x1122334455667788ULL, 42};
__s64 out[8] = {};

SEC("xdp")
int atomics(struct xdp_md *ctx)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&atom, &k);
	if (!v)
		return XDP_ABORTED;
	__sync_fetch_and_add(&v[0], 5);
	v[1] = __sync_fetch_and_add(&v[2], 3);
	__sync_fetch_and_or(&v[3], 0x0f0);
	__sync_fetch_and_xor(&v[4], 0xff);
	v[5] = __sync_lock_test_and_set(&v[6], v[6] + 1);
	v[7] = __sync_val_compare_and_swap(&v[0], 10, 100);
	return XDP_PASS;
}

SEC("xdp")
int globals(struct xdp_md *ctx)
{
	greeting[1] += greeting[0] >> 56;
	out[0] = greeting[1];
	return XDP_PASS;
}

SEC("xdp")
int parse_udp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
		return XDP_PASS;
	struct udphdr *udp = (void *)(ip + 1);
	if ((void *)(udp + 1) > end)
		return XDP_PASS;
	__u8 *payload = (void *)(udp + 1);
	__u64 sum = 0;
	for (int i = 0; i < 32; i++) {
		if ((void *)(payload + i + 1) > end)
			break;
		sum = sum * 31 + payload[i];
	}
	out[1] = sum;
	out[2] = bpf_ntohs(udp->dest);
	ip->ttl--;
	return udp->dest == bpf_htons(53) ? XDP_TX : XDP_DROP;
}

SEC("xdp")
int ring_out(struct xdp_md *ctx)
{
	__u64 v = 7;
	out[3] = bpf_ringbuf_output(&ring, &v, sizeof(v), BPF_RB_NO_WAKEUP);
	out[4] = bpf_ringbuf_query(&ring, BPF_RB_AVAIL_DATA);
	__u64 *r = bpf_ringbuf_reserve(&ring, 16, 0);
	if (r) {
		r[0] = 1;
		r[1] = 2;
		bpf_ringbuf_discard(r, BPF_RB_NO_WAKEUP);
	}
	out[5] = bpf_ringbuf_query(&ring, BPF_RB_RING_SIZE);
	return XDP_PASS;
}

SEC("xdp")
int empty_errors(struct xdp_md *ctx)
{
	__u64 v = 0;
	out[6] = bpf_map_pop_elem(&empty_q, &v);
	out[7] = bpf_map_peek_elem(&empty_q, &v);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
