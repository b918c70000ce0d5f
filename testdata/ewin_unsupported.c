/* An ebpf-for-windows program calling bpf_memcpy_s, which Linux lacks: the loader
 * refuses it, naming the helper. */
#include "ewin_helpers.h"

SEC("bind")
int copy_app_id(bind_md_t *ctx)
{
	uint8_t buf[16];
	if (ctx->app_id_start + sizeof(buf) > ctx->app_id_end)
		return BIND_PERMIT;
	bpf_memcpy_s(buf, sizeof(buf), ctx->app_id_start, sizeof(buf));
	return buf[0] == 'x' ? BIND_DENY : BIND_PERMIT;
}

char _license[] SEC("license") = "MIT";
