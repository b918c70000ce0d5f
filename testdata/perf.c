// An XDP program that reports each packet to user space through a perf event array,
// with the first 14 packet bytes appended to the sample.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

struct event {
	__u32 len;
	__u32 magic;
};

SEC("xdp")
int report(struct xdp_md *ctx)
{
	struct event e = {.len = ctx->data_end - ctx->data, .magic = 0xfeedf00d};
	long err = bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU | (14ULL << 32), &e, sizeof(e));
	return err ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
