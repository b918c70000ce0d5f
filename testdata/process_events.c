// Records the process events a PROCESS program sees (link.AttachProcess): per process,
// how many creations and exits, their order, the parent, the exit code, the start of the
// image path and command line, and how long after the event the program ran.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <anybpf/process.h>

#define PREFIX 32

struct record {
	__u64 parent;
	__u64 creator;
	__u64 create_seq;
	__u64 delete_seq;
	__u64 create_latency_ns; /* bpf_ktime_get_ns() minus the event's time */
	__u64 delete_latency_ns;
	__u32 creates;
	__u32 deletes;
	__u32 exit_code;
	__u32 image_len;
	__u8 image[PREFIX];
	__u8 command[PREFIX];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct record);
} records SEC(".maps");

__u64 seq = 0;

static __always_inline void copy_prefix(__u8 *dst, __u8 *p, __u8 *end)
{
#pragma unroll
	for (int i = 0; i < PREFIX - 1; i++) {
		if (p + i + 1 > end)
			break;
		dst[i] = p[i];
	}
}

SEC("process")
int record_process(struct process_md *ctx)
{
	__u32 pid = ctx->process_id;
	struct record *r = bpf_map_lookup_elem(&records, &pid);
	if (!r) {
		struct record zero = {};
		bpf_map_update_elem(&records, &pid, &zero, BPF_NOEXIST);
		r = bpf_map_lookup_elem(&records, &pid);
		if (!r)
			return 0;
	}
	__u64 s = __sync_fetch_and_add(&seq, 1);
	__u64 now = bpf_ktime_get_ns();
	if (ctx->operation == PROCESS_OPERATION_CREATE) {
		r->creates++;
		r->create_seq = s;
		r->parent = ctx->parent_process_id;
		r->creator = ctx->creating_process_id;
		r->create_latency_ns = now - ctx->creation_time;
		r->image_len = ctx->image_path_end - ctx->image_path_start;
		copy_prefix(r->image, ctx->image_path_start, ctx->image_path_end);
		copy_prefix(r->command, ctx->command_start, ctx->command_end);
	} else {
		r->deletes++;
		r->delete_seq = s;
		r->exit_code = ctx->process_exit_code;
		r->delete_latency_ns = now - ctx->exit_time;
	}
	return 0;
}

char _license[] SEC("license") = "GPL";
