// bpf_get_socket_cookie on the socket a test run gives an skb: nonzero, and the same for
// every call in one run.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} changed SEC(".maps");

static __u64 last;

SEC("socket")
int cookie_stable(struct __sk_buff *skb)
{
	__u64 a = bpf_get_socket_cookie(skb);
	__u64 b = bpf_get_socket_cookie(skb);
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&changed, &zero);
	if (n && a != last)
		*n += 1;
	last = a;
	return a != 0 && a == b;
}

char _license[] SEC("license") = "GPL";
