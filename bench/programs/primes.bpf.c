#include "primes.h"

/* Raw entry point: r1 = input, r2 = its length, r0 = result. */
__attribute__((section(".text"))) __u64 bench_primes(__u8 *data, __u64 len)
{
	return primes_core(data, data + len);
}
