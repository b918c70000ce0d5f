/* Native reference for the compute benchmarks: the same C as the eBPF builds, compiled
 * for the host with clang -O2 (baseline x86-64, no -march=native).
 *
 *   harness DIR         time every benchmark on DIR/NAME.in, print "NAME 0xRESULT NS/RUN"
 *   harness -check DIR  compare every result with DIR/NAME.expect, exit 1 on a mismatch
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../programs/log2.h"
#include "../programs/primes.h"
#include "../programs/memcpy.h"
#include "../programs/strcmp.h"
#include "../programs/switch64.h"
#include "../programs/crc32.h"

typedef __u64 (*core_fn)(__u8 *, __u8 *);

struct bench {
	const char *name;
	core_fn fn;
};

/* noinline wrappers keep each core a real function call, like one program run. */
#define WRAP(n) \
	static __attribute__((noinline)) __u64 run_##n(__u8 *p, __u8 *e) { return n##_core(p, e); }
WRAP(log2)
WRAP(primes)
WRAP(memcpy)
WRAP(strcmp)
WRAP(switch64)
WRAP(crc32)

static const struct bench benches[] = {
	{"log2", run_log2}, {"primes", run_primes}, {"memcpy", run_memcpy},
	{"strcmp", run_strcmp}, {"switch64", run_switch64}, {"crc32", run_crc32},
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static size_t read_file(const char *path, __u8 *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		exit(2);
	}
	size_t n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

/* Time runs of fn, each on a fresh copy of the input, minus the cost of the copies. */
static double time_runs(core_fn fn, __u8 *buf, const __u8 *pristine, size_t n)
{
	long iters = 1;
	for (;;) {
		double t0 = now();
		for (long i = 0; i < iters; i++) {
			memcpy(buf, pristine, n);
			__asm__ volatile("" : : "r"(buf) : "memory");
			__u64 r = fn(buf, buf + n);
			__asm__ volatile("" : : "r"(r) : "memory");
		}
		double t1 = now();
		for (long i = 0; i < iters; i++) {
			memcpy(buf, pristine, n);
			__asm__ volatile("" : : "r"(buf) : "memory");
		}
		double t2 = now();
		if (t1 - t0 >= 5e8)
			return ((t1 - t0) - (t2 - t1)) / iters;
		iters *= 2;
	}
}

int main(int argc, char **argv)
{
	int check = argc > 2 && strcmp(argv[1], "-check") == 0;
	const char *dir = argc > 1 ? argv[argc - 1] : "programs";
	static __u8 buf[8192], pristine[8192];
	int failed = 0;

	for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++) {
		char path[512];
		snprintf(path, sizeof path, "%s/%s.in", dir, benches[i].name);
		size_t n = read_file(path, pristine, sizeof pristine);
		memcpy(buf, pristine, n);
		__u64 result = benches[i].fn(buf, buf + n);
		if (check) {
			char want[64] = {0};
			snprintf(path, sizeof path, "%s/%s.expect", dir, benches[i].name);
			read_file(path, (__u8 *)want, sizeof want - 1);
			if (strtoull(want, NULL, 0) != result) {
				fprintf(stderr, "%s: native result 0x%llx, %s.expect says %s", benches[i].name,
					(unsigned long long)result, benches[i].name, want);
				failed = 1;
			}
			continue;
		}
		printf("%s 0x%llx %.2f\n", benches[i].name, (unsigned long long)result,
		       time_runs(benches[i].fn, buf, pristine, n));
	}
	return failed;
}
