#include "common.h"
/* Sieve of Eratosthenes below 256 in a stack array, seeded by the first packet byte
 * (which is crossed off as well), returning the sum of the numbers left. Multiples of
 * every number below 16 are crossed off, prime or not, and the sum is taken without a
 * branch, so that the Linux verifier, which walks every path, sees a single one. */
static __always_inline __u64 sieve_core(__u8 *p, __u8 *end)
{
	__u8 s[256];
	if (p + 1 > end)
		return 0;
#pragma clang loop unroll(full)
	for (int i = 0; i < 256; i += 8)
		*(__u64 *)&s[i] = 0x0101010101010101ULL;
	s[p[0]] = 0;
#pragma clang loop unroll(disable)
	for (__u32 i = 2; i < 16; i++) {
#pragma clang loop unroll(disable)
		for (__u32 j = i * i; j < 256; j += i)
			s[j & 255] = 0;
	}
	__u64 sum = 0;
#pragma clang loop unroll(disable)
	for (__u32 i = 2; i < 256; i++)
		sum += i * s[i & 255];
	return sum;
}
