#include "common.h"
/* Byte-wise copy of bytes 0..2047 to 2048..4095, then a checksum of a few bytes. */
static __always_inline __u64 memcpy_core(__u8 *p, __u8 *end)
{
	__u64 n = 0;
#pragma clang loop unroll(disable) vectorize(disable)
	for (int i = 0; i < 2048; i++) {
		if (p + 2048 + i + 1 > end)
			break;
		p[2048 + i] = p[i];
		n++;
	}
	if (p + 4096 > end)
		return n;
	return n + p[2048] + p[3000] + p[4095];
}
