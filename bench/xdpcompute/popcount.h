#include "common.h"
/* Population count (SWAR, no popcnt instruction) of the first 256 little-endian u64
 * words, each also rotated by its index so that the counts differ. */
static __always_inline __u64 popcount_core(__u8 *p, __u8 *end)
{
	__u64 sum = 0;
#pragma clang loop unroll(disable)
	for (int i = 0; i < 256; i++) {
		__u64 *q = (__u64 *)(p + i * 8);
		if ((__u8 *)(q + 1) > end)
			break;
		__u64 x = *q;
		x ^= x >> (i & 31);
		x = x - ((x >> 1) & 0x5555555555555555ULL);
		x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
		x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
		sum += (x * 0x0101010101010101ULL) >> 56;
	}
	return sum;
}
