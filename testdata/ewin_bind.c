/* BIND, CGROUP_SOCK_ADDR and PROCESS programs built the way ebpf-for-windows's headers build them
 * (ewin_helpers.h). */
#include "ewin_helpers.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 64);
	__type(key, uint64_t);
	__type(value, uint32_t);
} binds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 8);
	__type(value, uint64_t);
} cookies SEC(".maps");

SEC("bind")
int limit_binds(bind_md_t *ctx)
{
	uint64_t pid = ctx->process_id;
	uint32_t *n;

	if (ctx->operation != BIND_OPERATION_BIND)
		return BIND_PERMIT;
	n = bpf_map_lookup_elem(&binds, &pid);
	if (n) {
		if (*n >= 3)
			return BIND_DENY;
		*n += 1;
		return BIND_PERMIT;
	}
	uint32_t one = 1;
	bpf_map_update_elem(&binds, &pid, &one, 0);
	return BIND_PERMIT;
}

SEC("cgroup/connect4")
int authorize_connect4(bpf_sock_addr_t *ctx)
{
	uint64_t cookie = bpf_get_socket_cookie(ctx);
	uint64_t pid_tgid = bpf_sock_addr_get_current_pid_tgid(ctx);

	bpf_map_push_elem(&cookies, &cookie, 0);
	if (ctx->user_port == 0x5000 && (pid_tgid >> 32) != 1) /* port 80 */
		return BPF_SOCK_ADDR_VERDICT_REJECT;
	return BPF_SOCK_ADDR_VERDICT_PROCEED_HARD;
}

SEC("process")
int odd_parent(process_md_t *ctx)
{
	if (ctx->operation != PROCESS_OPERATION_CREATE)
		return 0;
	return ctx->parent_process_id & 1;
}

char _license[] SEC("license") = "MIT";
