#include "common.h"
/* 64-bit FNV-1a hash of the first 1024 bytes. */
static __always_inline __u64 fnv1a_core(__u8 *p, __u8 *end)
{
	__u64 h = 0xcbf29ce484222325ULL;
#pragma clang loop unroll(disable)
	for (int i = 0; i < 1024; i++) {
		if (p + i + 1 > end)
			break;
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}
