#include "common.h"
/* Number of primes below 5000 by trial division (669). The input is not used. */
static __always_inline __u64 primes_core(__u8 *p, __u8 *end)
{
	__u64 count = 0;
#pragma clang loop unroll(disable)
	for (__u32 n = 2; n < 5000; n++) {
		int prime = 1;
#pragma clang loop unroll(disable)
		for (__u32 d = 2; d < 71; d++) {
			if (d * d > n)
				break;
			if (n % d == 0) {
				prime = 0;
				break;
			}
		}
		count += prime;
	}
	return count;
}
