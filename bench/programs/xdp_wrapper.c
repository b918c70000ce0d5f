/* An XDP entry point around a compute benchmark's NAME_core, so that the same code runs
 * in the Linux kernel (BPF_PROG_TEST_RUN) and in anybpf's test run on the packet as its
 * input. Built once per benchmark with -DBENCH_H='"NAME.h"' -DBENCH_CORE=NAME_core. */
#include <linux/bpf.h>
#include BENCH_H

__attribute__((section("xdp"), used)) int bench(struct xdp_md *ctx)
{
	__u8 *p = (__u8 *)(long)ctx->data;
	__u8 *end = (__u8 *)(long)ctx->data_end;
	return (int)BENCH_CORE(p, end);
}

char _license[] __attribute__((section("license"), used)) = "GPL";
