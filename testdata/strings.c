// bpf_snprintf, bpf_strncmp and bpf_spin_lock.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct locked {
	struct bpf_spin_lock lock;
	__u64 count;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct locked);
} counters SEC(".maps");

char out[64] = {};
__s64 results[6] = {};

SEC("xdp")
int strings(struct xdp_md *ctx)
{
	static const char fmt[] = "len=%u x=%x s=%d c=%c %%";
	__u64 args[] = {ctx->data_end - ctx->data, 0xbeef, -42, 'Z'};
	results[0] = bpf_snprintf(out, sizeof(out), fmt, args, sizeof(args));
	results[1] = bpf_snprintf(out + 40, 8, fmt, args, sizeof(args)); // cut short
	static const char hello[] = "hello";
	char buf[8] = "help";
	results[2] = bpf_strncmp(buf, 4, hello);
	results[3] = bpf_strncmp(buf, 3, hello);
	buf[3] = 'a';
	results[4] = bpf_strncmp(buf, 5, hello);
	return XDP_PASS;
}

SEC("xdp")
int locked_count(struct xdp_md *ctx)
{
	__u32 k = 0;
	struct locked *v = bpf_map_lookup_elem(&counters, &k);
	if (!v)
		return XDP_ABORTED;
	bpf_spin_lock(&v->lock);
	v->count++;
	bpf_spin_unlock(&v->lock);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
