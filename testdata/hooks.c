// A bind policy and an exec audit for the BIND and PROCESS program types, with anybpf's
// headers (include/anybpf).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <anybpf/bind.h>
#include <anybpf/process.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u16);
	__type(value, __u8);
} allowed_ports SEC(".maps");

__u64 execs = 0;

SEC("bind")
int bind_policy(struct bind_md *ctx)
{
	if (ctx->operation != BIND_OPERATION_BIND)
		return BIND_PERMIT;
	__u16 port = (ctx->socket_address[2] << 8) | ctx->socket_address[3]; // sin_port, network order
	return bpf_map_lookup_elem(&allowed_ports, &port) ? BIND_PERMIT : BIND_DENY;
}

SEC("process")
int exec_audit(struct process_md *ctx)
{
	if (ctx->operation != PROCESS_OPERATION_CREATE)
		return 0;
	execs++;
	// Refuse command lines that start with "nc ".
	__u8 *p = ctx->command_start;
	if (p + 3 > ctx->command_end)
		return 0;
	return p[0] == 'n' && p[1] == 'c' && p[2] == ' ';
}

char _license[] SEC("license") = "GPL";
