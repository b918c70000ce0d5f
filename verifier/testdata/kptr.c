/* Tracing programs that read kernel structs through the pointers their arguments give
 * (fentry, fexit, tp_btf) and that helpers return, for the verifier's kernel pointer
 * tests; the Linux kernel loads them too. The layouts come from the kernel's BTF by CO-RE:
 * the local definitions name only the members used. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define __pai __attribute__((preserve_access_index))

struct ns_common {
	unsigned int inum;
} __pai;

struct net {
	struct ns_common ns;
} __pai;

typedef struct {
	struct net *net;
} __pai possible_net_t;

struct sock_common {
	unsigned short skc_family;
	__be16 skc_dport;
	possible_net_t skc_net;
} __pai;

struct sock {
	struct sock_common __sk_common;
} __pai;

struct mm_struct {
	unsigned long total_vm;
} __pai;

struct task_struct {
	int pid;
	int tgid;
	struct mm_struct *mm;
	char comm[16];
} __pai;

struct record {
	__u64 a, b, c;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct record);
} records SEC(".maps");

static struct record *slot(__u32 key)
{
	return bpf_map_lookup_elem(&records, &key);
}

/* sk->__sk_common fields, and the pointer chain sk->__sk_common.skc_net.net->ns.inum. */
SEC("fentry/tcp_connect")
int connect_entry(unsigned long long *ctx)
{
	struct sock *sk = (struct sock *)ctx[0];
	struct record *r;

	if (sk->__sk_common.skc_family != 2)
		return 0;
	r = slot(0);
	if (!r)
		return 0;
	r->a = sk->__sk_common.skc_dport;
	r->b = sk->__sk_common.skc_net.net->ns.inum;
	return 0;
}

/* fexit: the arguments and, after them, the return value. */
SEC("fexit/tcp_connect")
int connect_exit(unsigned long long *ctx)
{
	struct sock *sk = (struct sock *)ctx[0];
	int ret = (int)ctx[1];
	struct record *r = slot(1);

	if (!r)
		return 0;
	r->a = ret;
	r->b = sk->__sk_common.skc_family;
	return 0;
}

/* tp_btf: the tracepoint's arguments after its __data; task->mm may be NULL (kernel
 * threads), which the program tests as Linux lets it. */
SEC("tp_btf/sched_switch")
int on_switch(unsigned long long *ctx)
{
	struct task_struct *next = (struct task_struct *)ctx[2];
	struct mm_struct *mm = next->mm;
	struct record *r = slot(2);

	if (!r)
		return 0;
	r->a = next->pid;
	if (mm)
		r->b = mm->total_vm;
	return 0;
}

/* bpf_get_current_task_btf's task, and a kernel array copied with
 * bpf_probe_read_kernel from a pointer moved into the struct. */
SEC("fentry/tcp_connect")
int connect_task(unsigned long long *ctx)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct record *r = slot(3);

	if (!r)
		return 0;
	r->a = t->tgid;
	bpf_probe_read_kernel(r->comm, sizeof(r->comm), t->comm);
	return 0;
}

char _license[] SEC("license") = "GPL";
