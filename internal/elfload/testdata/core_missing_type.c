/* CO-RE accesses to a kernel type anybpf does not provide: refused in an XDP program,
 * poisoned (not refused) in a kprobe program, which anybpf loads but does not run. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct task_struct {
	int pid;
} __attribute__((preserve_access_index));

SEC("kprobe/do_exit")
int probe(struct task_struct *t)
{
	return t->pid;
}

char _license[] SEC("license") = "GPL";
