#include "log2.h"

/* Raw entry point: r1 = input, r2 = its length, r0 = result. */
__attribute__((section(".text"))) __u64 bench_log2(__u8 *data, __u64 len)
{
	return log2_core(data, data + len);
}
