#include "common.h"
/* Odd-even transposition sort of the first 32 bytes of the packet, copied into a stack
 * array (32 rounds of compare-exchange, branch-free), then a checksum of the sorted
 * array, weighted by position so that the order matters. */
static __always_inline __u64 sort_core(__u8 *p, __u8 *end)
{
	__u8 a[32];
	if (p + 32 > end)
		return 0;
#pragma clang loop unroll(full)
	for (int i = 0; i < 32; i++)
		a[i] = p[i];
#pragma clang loop unroll(disable)
	for (__u32 r = 0; r < 32; r++) {
#pragma clang loop unroll(disable)
		for (__u32 i = r & 1; i < 31; i += 2) {
			__u32 x = a[i & 31], y = a[(i + 1) & 31];
			__u32 lt = 0 - (__u32)(y < x); /* all ones when the pair is out of order */
			__u32 d = (x ^ y) & lt;
			a[i & 31] = x ^ d;
			a[(i + 1) & 31] = y ^ d;
		}
	}
	__u64 sum = 0;
#pragma clang loop unroll(full)
	for (int i = 0; i < 32; i++)
		sum = sum * 31 + a[i];
	return sum;
}
