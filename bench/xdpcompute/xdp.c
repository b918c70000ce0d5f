/* An XDP entry point around one XDP compute benchmark's NAME_core, so that the same
 * code runs in the Linux kernel (BPF_PROG_TEST_RUN) and in anybpf's test run with the
 * packet as its input. Built once per benchmark with -DBENCH_H='"NAME.h"'
 * -DBENCH_CORE=NAME_core. The result is folded to 32 bits (XDP returns an int). */
#include <linux/bpf.h>
#include BENCH_H

__attribute__((section("xdp"), used)) int bench(struct xdp_md *ctx)
{
	__u8 *p = (__u8 *)(long)ctx->data;
	__u8 *end = (__u8 *)(long)ctx->data_end;
	__u64 r = BENCH_CORE(p, end);
	return (int)(r ^ (r >> 32));
}

char _license[] __attribute__((section("license"), used)) = "GPL";
