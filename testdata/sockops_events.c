// A sock_ops program that records the connection events it sees into a ring buffer,
// and asks for state callbacks (BPF_SOCK_OPS_STATE_CB_FLAG) on every connection it sees
// established, so that their close is reported too. Used by the supervisor's tests.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct event {
	__u32 op;
	__u32 family;
	__u32 local_ip4;  // network order
	__u32 remote_ip4; // network order
	__u32 local_ip6[4];
	__u32 remote_ip6[4];
	__u32 local_port;  // host order
	__u32 remote_port; // host order (converted from Linux's layout)
	__u32 old_state;   // args[0] of a state callback
	__u32 new_state;   // args[1] of a state callback
	__u32 state;
	__u32 pad;
	__u64 cookie; // bpf_get_socket_cookie: the same for every event of a connection
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 16);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps"); // events per op

SEC("sockops")
int record(struct bpf_sock_ops *skops)
{
	__u32 op = skops->op;
	__u64 *n = bpf_map_lookup_elem(&counts, &op);
	struct event *e;

	if (n)
		__sync_fetch_and_add(n, 1);
	if (op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB && op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB &&
	    op != BPF_SOCK_OPS_STATE_CB)
		return 1;
	if (op != BPF_SOCK_OPS_STATE_CB)
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 1;
	e->op = op;
	e->family = skops->family;
	e->local_ip4 = skops->local_ip4;
	e->remote_ip4 = skops->remote_ip4;
	e->local_ip6[0] = skops->local_ip6[0];
	e->local_ip6[1] = skops->local_ip6[1];
	e->local_ip6[2] = skops->local_ip6[2];
	e->local_ip6[3] = skops->local_ip6[3];
	e->remote_ip6[0] = skops->remote_ip6[0];
	e->remote_ip6[1] = skops->remote_ip6[1];
	e->remote_ip6[2] = skops->remote_ip6[2];
	e->remote_ip6[3] = skops->remote_ip6[3];
	e->local_port = skops->local_port;
	e->remote_port = bpf_ntohl(skops->remote_port);
	e->old_state = op == BPF_SOCK_OPS_STATE_CB ? skops->args[0] : 0;
	e->new_state = op == BPF_SOCK_OPS_STATE_CB ? skops->args[1] : 0;
	e->state = skops->state;
	e->pad = 0;
	e->cookie = bpf_get_socket_cookie(skops);
	bpf_ringbuf_submit(e, 0);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
