/* Shared definitions of the XDP compute benchmarks: each NAME.h defines
 * NAME_core(p, end) over the packet [p, end), written so that both the Linux verifier and
 * anybpf's verifier accept it (every loop bounded by a constant, every packet access
 * checked against end, stack indices masked), and so that the same source builds
 * natively with clang -O2 for the comparison. */
#ifndef XC_COMMON_H
#define XC_COMMON_H
#include <linux/types.h>
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#endif
