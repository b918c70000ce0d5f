// cgroup/sock programs (struct bpf_sock): mark new sockets, keep low ports on loopback.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define AF_INET6 10
#define SOCK_RAW 3

__u64 created = 0;

SEC("cgroup/sock_create")
int sock_create(struct bpf_sock *sk)
{
	if (sk->type == SOCK_RAW)
		return 0; // refused
	created++;
	sk->mark = 0x100 | sk->protocol;
	sk->priority = sk->family == AF_INET6 ? 6 : 4;
	return 1;
}

SEC("cgroup/post_bind4")
int post_bind4(struct bpf_sock *sk)
{
	// Ports below 1024 only on 127.0.0.1.
	if (sk->src_port < 1024 && sk->src_ip4 != bpf_htonl(0x7f000001))
		return 0;
	return 1;
}

char _license[] SEC("license") = "GPL";
