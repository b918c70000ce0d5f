// Shared counters for the concurrency test: a hash map keyed by the packet's first payload
// byte modulo 4, and a per-CPU array.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} by_key SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} total SEC(".maps");

SEC("xdp")
int count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u8 *b = data + 14;
	if ((void *)(b + 1) > end)
		return XDP_ABORTED;
	__u32 k = *b % 4;
	__u64 *v = bpf_map_lookup_elem(&by_key, &k);
	if (!v) {
		__u64 zero = 0;
		bpf_map_update_elem(&by_key, &k, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&by_key, &k);
	}
	if (v)
		__sync_fetch_and_add(v, 1);
	__u32 z = 0;
	__u64 *t = bpf_map_lookup_elem(&total, &z);
	if (t)
		*t += 1;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
