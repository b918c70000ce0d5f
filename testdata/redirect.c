// bpf_redirect and bpf_redirect_map verdicts for XDP and tc.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} ports SEC(".maps");

SEC("xdp")
int xdp_redirect_if(struct xdp_md *ctx)
{
	return bpf_redirect(1, 0);
}

SEC("xdp")
int xdp_redirect_bad_flags(struct xdp_md *ctx)
{
	return bpf_redirect(1, 1);
}

SEC("xdp")
int xdp_redirect_port0(struct xdp_md *ctx)
{
	return bpf_redirect_map(&ports, 0, XDP_DROP);
}

SEC("xdp")
int xdp_redirect_port3(struct xdp_md *ctx)
{
	return bpf_redirect_map(&ports, 3, XDP_PASS);
}

SEC("tc")
int tc_redirect(struct __sk_buff *skb)
{
	return bpf_redirect(1, BPF_F_INGRESS);
}

char _license[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

// To the AF_XDP socket of the receive queue, or up the stack when there is none.
SEC("xdp")
int xdp_to_xsk(struct xdp_md *ctx)
{
	return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
}
