// Tail calls: a chain through a program array declared with initial values, an empty
// slot, and a program that tail-calls itself until the limit stops it.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

int stage1(struct xdp_md *ctx);
int stage2(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__array(values, int(void *));
} jmp SEC(".maps") = {
	.values = {
		[1] = (void *)&stage1,
		[2] = (void *)&stage2,
	},
};

__u64 hops = 0;
__u64 loops = 0;

SEC("xdp")
int stage2(struct xdp_md *ctx)
{
	hops++;
	return XDP_TX;
}

SEC("xdp")
int stage1(struct xdp_md *ctx)
{
	hops++;
	bpf_tail_call(ctx, &jmp, 2);
	return XDP_ABORTED;
}

SEC("xdp")
int entry(struct xdp_md *ctx)
{
	hops = 0;
	bpf_tail_call(ctx, &jmp, 1);
	return XDP_DROP;
}

SEC("xdp")
int empty_slot(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &jmp, 3);
	return XDP_PASS;
}

SEC("xdp")
int self_loop(struct xdp_md *ctx)
{
	loops++;
	bpf_tail_call(ctx, &jmp, 0);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
