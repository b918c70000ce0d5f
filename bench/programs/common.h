/* Shared definitions for the compute benchmarks. Each NAME.h defines
 * NAME_core(p, end), which reads (and for memcpy writes) the span [p, end) with every
 * access bounds-checked and every loop bounded by a constant, so that the same code can
 * pass the Linux verifier. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H
#include <linux/types.h>
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#endif
