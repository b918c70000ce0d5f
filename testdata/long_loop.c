// Loops longer than the verifier walks round by round (1024 rounds): the Linux kernel
// accepts them, and so must anybpf. fnv_packet hashes up to 2048 packet bytes, each
// read checked against data_end inside the loop; the counter's bound comes from that
// check after widening. TestKernelAccepted loads this object into the kernel too.
#include <linux/bpf.h>

#define SEC(name) __attribute__((section(name), used))

SEC("xdp") int fnv_packet(struct xdp_md *ctx)
{
	__u8 *p = (__u8 *)(long)ctx->data;
	__u8 *end = (__u8 *)(long)ctx->data_end;
	__u64 h = 0xcbf29ce484222325ULL;
#pragma clang loop unroll(disable)
	for (int i = 0; i < 2048; i++) {
		if (p + i + 1 > end)
			break;
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return (int)(h ^ (h >> 32)) & 3;
}

char _license[] SEC("license") = "GPL";
