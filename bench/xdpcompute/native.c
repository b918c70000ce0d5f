/* Native reference for the XDP compute benchmarks: the same C as the eBPF builds
 * (NAME.h), compiled for the host with clang -O2 (baseline x86-64, no -march=native).
 *
 *   native FILE   run every benchmark on the bytes of FILE (the packet) and print
 *                 "NAME 0xRESULT NS/RUN", RESULT folded to 32 bits as the XDP entry
 *                 point returns it
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "crc32.h"
#include "fnv1a.h"
#include "popcount.h"
#include "sort.h"
#include "sieve.h"
#include "matmul.h"

typedef __u64 (*core_fn)(__u8 *, __u8 *);

/* noinline wrappers keep each core a real function call, like one program run. */
#define WRAP(n) \
	static __attribute__((noinline)) __u64 run_##n(__u8 *p, __u8 *e) { return n##_core(p, e); }
WRAP(crc32)
WRAP(fnv1a)
WRAP(popcount)
WRAP(sort)
WRAP(sieve)
WRAP(matmul)

static const struct {
	const char *name;
	core_fn fn;
} benches[] = {
	{"crc32", run_crc32}, {"fnv1a", run_fnv1a}, {"popcount", run_popcount},
	{"sort", run_sort}, {"sieve", run_sieve}, {"matmul", run_matmul},
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* time scheduled out is not counted */
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Time runs of fn on the packet: the count is doubled until a batch takes 20 ms, then
 * the median of 7 batches is returned. The barrier makes the packet's address and
 * contents unknown to the compiler on every run, so that no run is hoisted out of the
 * loop. */
static double time_runs(core_fn fn, __u8 *buf, size_t n)
{
	long iters = 1;
	double t[7];
	for (int round = 0; round < 7;) {
		double t0 = now();
		for (long i = 0; i < iters; i++) {
			__u8 *p = buf;
			__asm__ volatile("" : "+r"(p) : : "memory");
			__u64 r = fn(p, p + n);
			__asm__ volatile("" : : "r"(r) : "memory");
		}
		double d = now() - t0;
		if (d < 2e7 && round == 0) {
			iters *= 2;
			continue;
		}
		t[round++] = d / iters;
	}
	qsort(t, 7, sizeof t[0], cmp_double);
	return t[3];
}

int main(int argc, char **argv)
{
	static __u8 buf[4096];
	if (argc != 2) {
		fprintf(stderr, "usage: native FILE\n");
		return 2;
	}
	FILE *f = fopen(argv[1], "rb");
	if (!f) {
		perror(argv[1]);
		return 2;
	}
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++) {
		__u64 r = benches[i].fn(buf, buf + n);
		__u32 folded = (__u32)(r ^ (r >> 32));
		printf("%s 0x%x %.1f\n", benches[i].name, folded, time_runs(benches[i].fn, buf, n));
	}
	return 0;
}
