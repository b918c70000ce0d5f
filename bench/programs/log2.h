#include "common.h"
/* Sum of floor(log2(x)) over 128 little-endian u64 values, four passes with the values
 * rotated differently each pass; log2 by branchy binary search. */
static __always_inline __u64 log2_core(__u8 *p, __u8 *end)
{
	__u64 sum = 0;
#pragma clang loop unroll(disable)
	for (int pass = 0; pass < 4; pass++) {
#pragma clang loop unroll(disable)
		for (int i = 0; i < 128; i++) {
			__u64 *q = (__u64 *)(p + i * 8);
			if ((__u8 *)(q + 1) > end)
				break;
			__u64 x = *q;
			x = (x >> (pass * 7)) | (x << ((64 - pass * 7) & 63));
			__u64 r = 0;
			if (x >= (1ULL << 32)) { x >>= 32; r += 32; }
			if (x >= (1ULL << 16)) { x >>= 16; r += 16; }
			if (x >= (1ULL << 8)) { x >>= 8; r += 8; }
			if (x >= (1ULL << 4)) { x >>= 4; r += 4; }
			if (x >= (1ULL << 2)) { x >>= 2; r += 2; }
			if (x >= (1ULL << 1)) { r += 1; }
			sum += r;
		}
	}
	return sum;
}
