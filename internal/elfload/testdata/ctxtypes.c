/* The types anybpf provides to CO-RE relocations: the Linux UAPI context structs of the
 * program types it runs, the packet headers programs parse, and anybpf's own contexts.
 * Compiled with -g (Makefile); the loader embeds the BTF of ctxtypes.o and resolves
 * every CO-RE relocation against it. Add a type by naming it in struct anybpf_types. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/icmpv6.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <anybpf/bind.h>
#include <anybpf/process.h>

struct anybpf_types {
	struct xdp_md xdp_md;
	struct __sk_buff sk_buff;
	struct bpf_sock_addr sock_addr;
	struct bpf_sock_ops sock_ops;
	struct bpf_sock sock;
	struct bpf_sock_tuple sock_tuple;
	struct bpf_flow_keys flow_keys;
	struct bind_md bind_md;
	struct process_md process_md;
	enum bind_operation bind_operation;
	enum bind_action bind_action;
	enum process_operation process_operation;
	enum xdp_action xdp_action;
	struct ethhdr ethhdr;
	struct iphdr iphdr;
	struct ipv6hdr ipv6hdr;
	struct tcphdr tcphdr;
	struct udphdr udphdr;
	struct icmp6hdr icmp6hdr;
	struct sockaddr_in sockaddr_in;
	struct sockaddr_in6 sockaddr_in6;
};

struct anybpf_types anybpf_types __attribute__((used));
