#include "common.h"
/* Reflected CRC-32 (polynomial 0xEDB88320), bit by bit, over 1024 bytes. */
static __always_inline __u64 crc32_core(__u8 *p, __u8 *end)
{
	__u32 crc = 0xffffffff;
#pragma clang loop unroll(disable)
	for (int i = 0; i < 1024; i++) {
		if (p + i + 1 > end)
			break;
		crc ^= p[i];
#pragma clang loop unroll(disable)
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320 & (0 - (crc & 1)));
	}
	return ~crc;
}
