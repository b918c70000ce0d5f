// One map or helper operation per program, for comparing the cost of a program
// invocation in anybpf with the Linux kernel's through BPF_PROG_TEST_RUN (one invocation
// per iteration, as microsoft/bpf_performance measures).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} lru SEC(".maps");

struct lpm_key {
	__u32 prefixlen;
	__u32 addr;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1100000);
	__type(key, struct lpm_key);
	__type(value, __u64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} lpm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24);
} ring SEC(".maps");

int target(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__array(values, int(void *));
} progs SEC(".maps") = {
	.values = {[0] = (void *)&target},
};

SEC("xdp")
int empty(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int array_lookup(struct xdp_md *ctx)
{
	__u32 k = 7;
	return bpf_map_lookup_elem(&array, &k) ? XDP_PASS : XDP_DROP;
}

SEC("xdp")
int hash_lookup(struct xdp_md *ctx)
{
	__u32 k = 7;
	return bpf_map_lookup_elem(&hash, &k) ? XDP_PASS : XDP_DROP;
}

SEC("xdp")
int hash_update(struct xdp_md *ctx)
{
	__u32 k = 7;
	__u64 v = 1;
	return bpf_map_update_elem(&hash, &k, &v, BPF_ANY) ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int lru_update(struct xdp_md *ctx)
{
	__u32 k = 7;
	__u64 v = 1;
	return bpf_map_update_elem(&lru, &k, &v, BPF_ANY) ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int lpm_lookup(struct xdp_md *ctx)
{
	struct lpm_key k = {.prefixlen = 32, .addr = 0x0a0b0c0d};
	return bpf_map_lookup_elem(&lpm, &k) ? XDP_PASS : XDP_DROP;
}

SEC("xdp")
int target(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int tail_call(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &progs, 0);
	return XDP_DROP;
}

SEC("xdp")
int ringbuf_output(struct xdp_md *ctx)
{
	__u64 v = 42;
	return bpf_ringbuf_output(&ring, &v, sizeof(v), BPF_RB_NO_WAKEUP) ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int prandom(struct xdp_md *ctx)
{
	return bpf_get_prandom_u32() ? XDP_PASS : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
