// Map lookups and tail calls that the JIT specialises: an array lookup it inlines, a hash
// lookup bound to its map, and a tail call through a program array; the keys and the tail
// call index come from the packet, so tests reach every path, out of range included.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct val {
	__u64 hits;
	__u32 tag;
	__u32 pad;
	__u32 odd; // 20 bytes: a stride of 24, not a power of two
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, struct val);
} arr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} hash SEC(".maps");

int tail_a(struct xdp_md *ctx);
int tail_b(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__array(values, int(void *));
} progs SEC(".maps") = {
	.values = {
		[0] = (void *)&tail_a,
		[1] = (void *)&tail_b,
	},
};

__u64 tail_runs = 0;

static __always_inline __u32 key_at(struct xdp_md *ctx, int off)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	if (data + off + 4 > end)
		return 0;
	return *(__u32 *)(data + off);
}

SEC("xdp")
int array_lookup(struct xdp_md *ctx)
{
	__u32 k = key_at(ctx, 0);
	struct val *v = bpf_map_lookup_elem(&arr, &k);
	if (!v)
		return 1000;
	v->hits++;
	v->tag = k * 3;
	v->odd = k ^ 0x5a;
	return v->hits + v->tag;
}

SEC("xdp")
int hash_lookup(struct xdp_md *ctx)
{
	__u32 k = key_at(ctx, 0);
	__u64 *v = bpf_map_lookup_elem(&hash, &k);
	if (!v) {
		__u64 one = 1;
		bpf_map_update_elem(&hash, &k, &one, BPF_ANY);
		return 1000;
	}
	*v += 1;
	return *v;
}

SEC("xdp")
int tail_b(struct xdp_md *ctx)
{
	tail_runs += 100;
	return 7;
}

SEC("xdp")
int tail_a(struct xdp_md *ctx)
{
	tail_runs++;
	// Calls itself through slot 0 until the limit: then tail_runs has grown by 33+1
	// and the program returns 5; slot 1 goes to tail_b; others fall through.
	__u32 i = key_at(ctx, 4);
	bpf_tail_call(ctx, &progs, i);
	return 5;
}

SEC("xdp")
int tail_entry(struct xdp_md *ctx)
{
	tail_runs = 0;
	__u32 i = key_at(ctx, 4);
	bpf_tail_call(ctx, &progs, i);
	return 3;
}

char _license[] SEC("license") = "GPL";
