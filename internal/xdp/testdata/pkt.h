// Packet parsing shared by the datapath's test programs.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
// (linux/in.h pulls in libc headers; the protocol numbers are defined here.)
#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#include <linux/udp.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

// (linux/icmp.h pulls in libc headers too.)
#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8
struct icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be16 id;
	__be16 sequence;
};

// ipv4 returns the IPv4 header of the frame (options allowed) and sets *l4 to what
// follows it, or returns 0 for frames that are not IPv4.
static __always_inline struct iphdr *ipv4(void *data, void *end, void **l4)
{
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return 0;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->ihl < 5)
		return 0;
	*l4 = (void *)ip + ip->ihl * 4;
	return ip;
}
