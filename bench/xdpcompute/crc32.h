#include "common.h"
/* Reflected CRC-32 (polynomial 0xEDB88320), bit by bit, over the first 512 bytes. The
 * mask is a multiplication by the low bit rather than -(crc & 1) & poly: Linux 6.18's
 * verifier splits its state in two on an AND of a value in [-1, 0], 2^8 states per byte,
 * and the loop then exceeds its 1M-instruction limit. */
static __always_inline __u64 crc32_core(__u8 *p, __u8 *end)
{
	__u32 crc = 0xffffffff;
#pragma clang loop unroll(disable)
	for (int i = 0; i < 512; i++) {
		if (p + i + 1 > end)
			break;
		crc ^= p[i];
#pragma clang loop unroll(full)
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320 * (crc & 1));
	}
	return ~crc;
}
