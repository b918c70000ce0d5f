/* A CO-RE access to a field struct xdp_md does not have: refused at load. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct xdp_md___bad {
	__u32 data;
	__u32 no_such_field;
} __attribute__((preserve_access_index));

SEC("xdp")
int bad_field(struct xdp_md *ctx)
{
	struct xdp_md___bad *c = (void *)ctx;
	return c->no_such_field == 7 ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
