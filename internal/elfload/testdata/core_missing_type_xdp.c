/* A CO-RE access to a kernel type anybpf does not provide, in a program anybpf runs:
 * refused at load. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct task_struct {
	int pid;
} __attribute__((preserve_access_index));

SEC("xdp")
int task_xdp(struct xdp_md *ctx)
{
	struct task_struct *t = (void *)(long)ctx->data;
	return t->pid;
}

char _license[] SEC("license") = "GPL";
