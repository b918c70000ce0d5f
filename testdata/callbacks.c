// bpf_loop and bpf_for_each_map_elem callbacks.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} values SEC(".maps");

__u64 results[4] = {};

struct loop_ctx {
	__u64 sum;
	__u32 stop_at;
};

static long add_index(__u32 i, struct loop_ctx *c)
{
	c->sum += i * i;
	return i == c->stop_at ? 1 : 0;
}

static long visit(void *map, __u32 *key, __u64 *value, struct loop_ctx *c)
{
	c->sum += *key * 1000 + *value;
	*value += 1; // callbacks may write the value
	return 0;
}

SEC("xdp")
int loops(struct xdp_md *ctx)
{
	struct loop_ctx c = {.sum = 0, .stop_at = 1000};
	results[0] = bpf_loop(10, add_index, &c, 0);
	results[1] = c.sum;
	c.sum = 0;
	c.stop_at = 4;
	results[2] = bpf_loop(100, add_index, &c, 0) * 1000000 + c.sum;
	results[3] = bpf_loop(1, add_index, &c, 1); // flags must be 0: -EINVAL
	return XDP_PASS;
}

SEC("xdp")
int each(struct xdp_md *ctx)
{
	struct loop_ctx c = {};
	long n = bpf_for_each_map_elem(&values, visit, &c, 0);
	results[0] = n;
	results[1] = c.sum;
	return XDP_PASS;
}

static long drop_odd(void *map, __u32 *key, __u64 *value, struct loop_ctx *c)
{
	c->sum += 1; // visits
	if (*value & 1)
		bpf_map_delete_elem(map, key); // a callback may delete the element it was given
	return 0;
}

SEC("xdp")
int each_delete(struct xdp_md *ctx)
{
	struct loop_ctx c = {};
	results[2] = bpf_for_each_map_elem(&values, drop_odd, &c, 0);
	results[3] = c.sum;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
