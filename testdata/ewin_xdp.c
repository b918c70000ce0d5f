/* XDP programs built the way ebpf-for-windows's headers build them (ewin_helpers.h):
 * legacy maps in its 32-byte format, a BTF ring buffer with its type number, helper ids
 * in its numbering, and its XDP context with 64-bit pointers. */
#include "ewin_helpers.h"

SEC("maps") struct bpf_map_def counters = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(uint32_t),
	.value_size = sizeof(uint64_t),
	.max_entries = 16,
};

/* Inner map template (index 1 in "maps") and an array of maps using it by index, and a
 * hash of maps using it by id. */
SEC("maps") struct bpf_map_def inner = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(uint32_t),
	.value_size = sizeof(uint32_t),
	.max_entries = 4,
	.id = 7,
};

SEC("maps") struct bpf_map_def outer = {
	.type = BPF_MAP_TYPE_ARRAY_OF_MAPS,
	.key_size = sizeof(uint32_t),
	.value_size = sizeof(uint32_t),
	.max_entries = 2,
	.inner_map_idx = 1,
	.pinning = 1,
};

SEC("maps") struct bpf_map_def outer_by_id = {
	.type = BPF_MAP_TYPE_HASH_OF_MAPS,
	.key_size = sizeof(uint32_t),
	.value_size = sizeof(uint32_t),
	.max_entries = 2,
	.inner_id = 7,
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

#include "ewin_count.h"

SEC("xdp/strip")
int strip(xdp_md_t *ctx)
{
	if ((char *)ctx->data + 14 > (char *)ctx->data_end)
		return XDP_DROP;
	if (bpf_xdp_adjust_head(ctx, 14) < 0)
		return 0; /* no XDP_ABORTED in ebpf-for-windows: an unknown verdict aborts */
	return XDP_PASS;
}

char _license[] SEC("license") = "MIT";
