/* Context of BIND programs (section "bind"): a process binding, or releasing, a port.
 * The layout is ebpf-for-windows's bind_md, so that its programs build unchanged.
 * Return a bind_action. */
#ifndef ANYBPF_BIND_H
#define ANYBPF_BIND_H

#include <linux/types.h>

enum bind_operation {
	BIND_OPERATION_BIND = 0,      /* entry to bind() */
	BIND_OPERATION_POST_BIND = 1, /* after the port is allocated */
	BIND_OPERATION_UNBIND = 2,    /* the port is released */
};

enum bind_action {
	BIND_PERMIT_SOFT = 0,        /* allow; other policies may still refuse */
	BIND_DENY = 1,
	BIND_REDIRECT = 2,           /* allow, at the socket_address the program wrote */
	BIND_PERMIT_HARD = 3,        /* allow; lower-priority policies cannot refuse */
	BIND_PERMIT = BIND_PERMIT_SOFT,
};

struct bind_md {
	__u8 *app_id_start;          /* the application's image path, UTF-8 */
	__u8 *app_id_end;
	__u64 process_id;
	__u8 socket_address[16];     /* struct sockaddr_in or the start of sockaddr_in6 */
	__u8 socket_address_length;
	enum bind_operation operation; /* at offset 44 */
	__u8 protocol;               /* IPPROTO_TCP, IPPROTO_UDP; at offset 48 */
};                                   /* 56 bytes */

#endif
