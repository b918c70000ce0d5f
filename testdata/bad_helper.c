// A socket filter calling an XDP-only helper: the load must be refused, naming it.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("socket")
int adjusts(struct __sk_buff *skb)
{
	return bpf_xdp_adjust_head((struct xdp_md *)skb, 4);
}

char _license[] SEC("license") = "GPL";
