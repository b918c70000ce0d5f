/* ewin_xdp.c's count_cpu, built with Linux's headers, to compare instructions with. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

typedef __u32 uint32_t;
typedef __u64 uint64_t;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, uint32_t);
	__type(value, uint64_t);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

#include "ewin_count.h"

char _license[] SEC("license") = "GPL";
