#include "common.h"
/* Product of two 8x8 matrices of u32 read from the first 512 bytes of the packet,
 * computed in a stack array; returns a checksum of the result. */
static __always_inline __u64 matmul_core(__u8 *p, __u8 *end)
{
	__u32 c[64];
	if (p + 512 > end)
		return 0;
	__u32 *a = (__u32 *)p, *b = (__u32 *)(p + 256);
#pragma clang loop unroll(disable)
	for (int i = 0; i < 8; i++) {
#pragma clang loop unroll(disable)
		for (int j = 0; j < 8; j++) {
			__u32 acc = 0;
#pragma clang loop unroll(full)
			for (int k = 0; k < 8; k++)
				acc += a[i * 8 + k] * b[k * 8 + j];
			c[(i * 8 + j) & 63] = acc;
		}
	}
	__u64 sum = 0;
#pragma clang loop unroll(disable)
	for (int i = 0; i < 64; i++)
		sum = sum * 33 + c[i & 63];
	return sum;
}
