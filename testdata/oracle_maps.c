// Programs for the kernel oracle: every map type anybpf provides, bpf-to-bpf calls,
// bounded loops and global data, each an XDP program run on a test frame.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} pcpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} lru SEC(".maps");

struct lpm_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16);
	__type(key, struct lpm_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} routes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 8);
	__type(value, __u32);
} fifo SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 8);
	__type(value, __u32);
} lifo SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} hash SEC(".maps");

__u32 results[8] = {};
const volatile __u32 seed = 7;

static __attribute__((noinline)) __u32 mix(__u32 a, __u32 b)
{
	return (a * 2654435761u) ^ (b + seed);
}

static __attribute__((noinline)) __u32 sum_bytes(void *data, void *end)
{
	__u32 s = 0;
	for (int i = 0; i < 64; i++) {
		__u8 *p = data + i;
		if ((void *)(p + 1) > end)
			break;
		s += *p;
	}
	return s;
}

SEC("xdp")
int percpu_count(struct xdp_md *ctx)
{
	__u32 k = 1;
	__u64 *v = bpf_map_lookup_elem(&pcpu, &k);
	if (!v)
		return XDP_ABORTED;
	*v += 3;
	return XDP_PASS;
}

SEC("xdp")
int lru_insert(struct xdp_md *ctx)
{
	// Insert six keys into a 4-entry LRU map, touching key 1 in between.
	for (__u32 i = 1; i <= 6; i++) {
		__u32 k = i, v = i * 10;
		bpf_map_update_elem(&lru, &k, &v, BPF_ANY);
		__u32 one = 1;
		bpf_map_lookup_elem(&lru, &one);
	}
	__u32 one = 1;
	return bpf_map_lookup_elem(&lru, &one) ? XDP_PASS : XDP_DROP;
}

SEC("xdp")
int lpm_route(struct xdp_md *ctx)
{
	struct lpm_key k = {.prefixlen = 8, .addr = {10, 0, 0, 0}};
	__u32 v = 8;
	bpf_map_update_elem(&routes, &k, &v, BPF_ANY);
	k.prefixlen = 24;
	k.addr[1] = 1;
	k.addr[2] = 2;
	v = 24;
	bpf_map_update_elem(&routes, &k, &v, BPF_ANY);
	struct lpm_key q = {.prefixlen = 32, .addr = {10, 1, 2, 77}};
	__u32 *r1 = bpf_map_lookup_elem(&routes, &q);
	q.addr[2] = 3;
	__u32 *r2 = bpf_map_lookup_elem(&routes, &q);
	q.addr[0] = 11;
	__u32 *r3 = bpf_map_lookup_elem(&routes, &q);
	results[0] = r1 ? *r1 : 0;
	results[1] = r2 ? *r2 : 0;
	results[2] = r3 ? *r3 : 99;
	return XDP_PASS;
}

SEC("xdp")
int queue_stack(struct xdp_md *ctx)
{
	for (__u32 i = 1; i <= 3; i++) {
		__u32 v = i;
		bpf_map_push_elem(&fifo, &v, 0);
		bpf_map_push_elem(&lifo, &v, 0);
	}
	__u32 a = 0, b = 0, c = 0;
	bpf_map_pop_elem(&fifo, &a);
	bpf_map_pop_elem(&lifo, &b);
	bpf_map_peek_elem(&fifo, &c);
	results[3] = a * 100 + b * 10 + c;
	return XDP_PASS;
}

SEC("xdp")
int calls_and_loops(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 s = sum_bytes(data, end);
	results[4] = mix(s, ctx->data_end - ctx->data);
	return results[4] & 1 ? XDP_PASS : XDP_DROP;
}

SEC("xdp")
int hash_flags(struct xdp_md *ctx)
{
	__u32 k = 5;
	__u64 v = 1;
	long r1 = bpf_map_update_elem(&hash, &k, &v, BPF_EXIST);   // -ENOENT
	long r2 = bpf_map_update_elem(&hash, &k, &v, BPF_NOEXIST); // 0
	long r3 = bpf_map_update_elem(&hash, &k, &v, BPF_NOEXIST); // -EEXIST
	long r4 = bpf_map_delete_elem(&hash, &k);                  // 0
	long r5 = bpf_map_delete_elem(&hash, &k);                  // -ENOENT
	results[5] = (__u32)(r1 * 10000 + r2 * 1000 + r3 * 100 + r4 * 10 + r5);
	for (__u32 i = 0; i < 9; i++) {
		__u32 key = i;
		__u64 x = i;
		if (bpf_map_update_elem(&hash, &key, &x, BPF_ANY)) {
			results[6] = i; // the ninth insert fails: the map is full
			break;
		}
	}
	return XDP_PASS;
}

SEC("xdp")
int rewrite_packet(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return XDP_ABORTED;
	// Swap the MAC addresses and send the frame back.
	__u8 tmp[ETH_ALEN];
	__builtin_memcpy(tmp, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, tmp, ETH_ALEN);
	if (bpf_xdp_adjust_tail(ctx, -2))
		return XDP_ABORTED;
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
