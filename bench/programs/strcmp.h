#include "common.h"
/* strcmp of the NUL-terminated strings at offsets 0 and 2048. */
static __always_inline __u64 strcmp_core(__u8 *p, __u8 *end)
{
	int diff = 0;
#pragma clang loop unroll(disable) vectorize(disable)
	for (int i = 0; i < 2048; i++) {
		if (p + 2048 + i + 1 > end)
			break;
		__u8 a = p[i], b = p[2048 + i];
		if (a != b || a == 0) {
			diff = (int)a - (int)b;
			break;
		}
	}
	return (__u64)(__s64)diff;
}
