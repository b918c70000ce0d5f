/* A function in .text with a CO-RE access to a kernel type anybpf does not provide,
 * called by a kprobe program (linked with the access resolved against the kernel's BTF,
 * or poisoned without it) and not by the XDP program of the same object. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct task_struct {
	int tgid;
} __attribute__((preserve_access_index));

__attribute__((noinline)) int tgid_of(struct task_struct *t)
{
	return t->tgid;
}

SEC("kprobe/do_exit")
int probe(void *ctx)
{
	return tgid_of((struct task_struct *)bpf_get_current_task());
}

SEC("xdp")
int pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
