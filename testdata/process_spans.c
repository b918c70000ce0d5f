// Mixes the two spans of a process_md: the verifier knows one packet per context, so
// after a check that the command line holds 64 bytes it accepts a read of the 64th byte
// of the image path. The runtime lays the spans out so that such a read stays in memory
// it owns (run.go, spans).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <anybpf/process.h>

SEC("process")
int mixed_spans(struct process_md *ctx)
{
	__u8 *command = ctx->command_start;
	if (command + 64 > ctx->command_end)
		return 0;
	__u8 *image = ctx->image_path_start;
	return image[63] + 1;
}

char _license[] SEC("license") = "GPL";
