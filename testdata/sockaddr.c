// cgroup/connect4 policy: redirect a virtual service address to a backend, deny a port.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

__u64 connects = 0;

SEC("cgroup/connect4")
int connect4(struct bpf_sock_addr *ctx)
{
	connects++;
	if (ctx->user_port == bpf_htons(23))
		return 0; // telnet: refused
	if (ctx->user_ip4 == bpf_htonl(0xc6120a0a) && ctx->user_port == bpf_htons(80)) {
		ctx->user_ip4 = bpf_htonl(0x7f000001);
		ctx->user_port = bpf_htons(8080);
	}
	return 1;
}

char _license[] SEC("license") = "GPL";
