// Exec auditing: every process start and exit becomes a ring buffer event; under
// "anybpf run", starting a program whose path is in the deny list fails with EPERM.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <anybpf/process.h>

#define PATH_MAX_LEN 64

struct path_key {
	__u8 path[PATH_MAX_LEN]; /* zero-padded */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct path_key);
	__type(value, __u8);
} denied SEC(".maps");

struct event {
	__u32 pid;
	__u32 parent;
	__u32 operation; /* 0: start, 1: exit */
	__u32 exit_code;
	__u32 denied;
	__u8 path[PATH_MAX_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 16);
} events SEC(".maps");

SEC("process")
int audit(struct process_md *ctx)
{
	struct event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	struct path_key key = {};
	__u8 *p = ctx->image_path_start, *end = ctx->image_path_end;
#pragma unroll
	for (int i = 0; i < PATH_MAX_LEN; i++) {
		if (p + i + 1 > end)
			break;
		key.path[i] = p[i];
	}
	int deny = ctx->operation == PROCESS_OPERATION_CREATE && bpf_map_lookup_elem(&denied, &key) != 0;
	if (ev) {
		ev->pid = ctx->process_id;
		ev->parent = ctx->parent_process_id;
		ev->operation = ctx->operation;
		ev->exit_code = ctx->process_exit_code;
		ev->denied = deny;
		__builtin_memcpy(ev->path, key.path, PATH_MAX_LEN);
		bpf_ringbuf_submit(ev, 0);
	}
	return deny;
}

char _license[] SEC("license") = "GPL";
