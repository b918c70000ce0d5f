// A BIND program (ebpf-for-windows's bind_md, include/anybpf/bind.h) for the supervisor's
// bind hook: port 18081 is refused, binds to 18082 go to 18083, port 18084 is allowed
// hard (the programs after it are not asked), others are allowed. It counts the binds
// it saw and keeps the length of the last application id (the executable's path).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <anybpf/bind.h>

__u64 seen = 0;
__u64 app_id_len = 0;

SEC("bind")
int port_policy(struct bind_md *ctx)
{
	if (ctx->operation != BIND_OPERATION_BIND)
		return BIND_PERMIT;
	seen++;
	app_id_len = ctx->app_id_end - ctx->app_id_start;
	__u16 port = (ctx->socket_address[2] << 8) | ctx->socket_address[3];
	switch (port) {
	case 18081:
		return BIND_DENY;
	case 18082:
		ctx->socket_address[3] = 18083 & 0xff; // 18082 and 18083 differ in the low byte
		return BIND_REDIRECT;
	case 18084:
		return BIND_PERMIT_HARD;
	}
	return BIND_PERMIT;
}

// deny_all refuses every bind: after port_policy, only what port_policy allows hard
// gets through.
SEC("bind")
int deny_all(struct bind_md *ctx)
{
	return BIND_DENY;
}

char _license[] SEC("license") = "GPL";
