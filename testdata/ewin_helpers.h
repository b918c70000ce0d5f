/* A small stand-in for ebpf-for-windows's bpf_helpers.h, written for anybpf's tests: it
 * declares what objects built with ebpf-for-windows's headers contain, with that
 * project's numbering (include/ebpf_structs.h, bpf_helper_defs.h, ebpf_nethooks.h):
 * the .ebpf_for_windows marker section, the 32-byte legacy map definition, map type
 * numbers, helper ids as constant function pointers, and the hook contexts. */
#ifndef EWIN_HELPERS_H
#define EWIN_HELPERS_H

typedef unsigned char uint8_t;
typedef unsigned short uint16_t;
typedef unsigned int uint32_t;
typedef unsigned long long uint64_t;
typedef int int32_t;
typedef long long int64_t;
typedef _Bool bool;

/* The marker: a bool in a section of its own. */
const bool __ebpf_for_windows_tag __attribute__((section(".ebpf_for_windows"))) = 1;

#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define NULL ((void *)0)

enum bpf_map_type {
	BPF_MAP_TYPE_UNSPEC = 0,
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PROG_ARRAY = 3,
	BPF_MAP_TYPE_PERCPU_HASH = 4,
	BPF_MAP_TYPE_PERCPU_ARRAY = 5,
	BPF_MAP_TYPE_HASH_OF_MAPS = 6,
	BPF_MAP_TYPE_ARRAY_OF_MAPS = 7,
	BPF_MAP_TYPE_LRU_HASH = 8,
	BPF_MAP_TYPE_LPM_TRIE = 9,
	BPF_MAP_TYPE_QUEUE = 10,
	BPF_MAP_TYPE_LRU_PERCPU_HASH = 11,
	BPF_MAP_TYPE_STACK = 12,
	BPF_MAP_TYPE_RINGBUF = 13,
	BPF_MAP_TYPE_PERF_EVENT_ARRAY = 14,
	BPF_MAP_TYPE_SAMPLE_HASH_MAP = 15,
};

/* A map in the legacy "maps" section. */
struct _ebpf_map_definition_in_file {
	uint32_t type;
	uint32_t key_size;
	uint32_t value_size;
	uint32_t max_entries;
	uint32_t inner_map_idx; /* index in the maps section of the inner map template */
	uint32_t pinning;
	uint32_t id;            /* an id other maps' inner_id may name */
	uint32_t inner_id;
};
#define bpf_map_def _ebpf_map_definition_in_file

/* Helpers: a call through a constant pointer whose value is the helper id. */
#define EWIN_HELPER(ret, name, args, id) \
	typedef ret (*const name##_t) args; \
	static const name##_t name = (name##_t)id

EWIN_HELPER(void *, bpf_map_lookup_elem, (void *map, const void *key), 1);
EWIN_HELPER(int64_t, bpf_map_update_elem, (void *map, const void *key, const void *value, uint64_t flags), 2);
EWIN_HELPER(int64_t, bpf_map_delete_elem, (void *map, const void *key), 3);
EWIN_HELPER(void *, bpf_map_lookup_and_delete_elem, (void *map, const void *key), 4);
EWIN_HELPER(int64_t, bpf_tail_call, (const void *ctx, const void *prog_array, uint32_t index), 5);
EWIN_HELPER(uint32_t, bpf_get_prandom_u32, (void), 6);
EWIN_HELPER(uint64_t, bpf_ktime_get_boot_ns, (void), 7);
EWIN_HELPER(uint64_t, bpf_get_smp_processor_id, (void), 8);
EWIN_HELPER(uint64_t, bpf_ktime_get_ns, (void), 9);
EWIN_HELPER(int, bpf_ringbuf_output, (void *ring, const void *data, uint64_t size, uint64_t flags), 11);
EWIN_HELPER(long, bpf_trace_printk3, (const char *fmt, uint32_t fmt_size, uint64_t arg3), 13);
EWIN_HELPER(int64_t, bpf_map_push_elem, (void *map, const void *value, uint64_t flags), 16);
EWIN_HELPER(uint64_t, bpf_get_current_pid_tgid, (void), 19);
EWIN_HELPER(long, bpf_memcpy_s, (void *dst, uint64_t dst_size, const void *src, uint64_t src_size), 22);
EWIN_HELPER(int64_t, bpf_get_socket_cookie, (const void *ctx), 26);

/* XDP (ebpf-for-windows's layout: 64-bit pointers) and its extension helper. */
typedef struct xdp_md_ {
	void *data;
	void *data_end;
	uint64_t data_meta;
	uint32_t ingress_ifindex;
} xdp_md_t;
typedef enum _xdp_action { XDP_PASS = 1, XDP_DROP, XDP_TX } xdp_action_t; /* not Linux's numbers */
EWIN_HELPER(int, bpf_xdp_adjust_head, (xdp_md_t *ctx, int delta), 0xFFFF + 1);

/* BIND. */
typedef enum _bind_operation {
	BIND_OPERATION_BIND,
	BIND_OPERATION_POST_BIND,
	BIND_OPERATION_UNBIND,
} bind_operation_t;
typedef struct _bind_md {
	uint8_t *app_id_start;
	uint8_t *app_id_end;
	uint64_t process_id;
	uint8_t socket_address[16];
	uint8_t socket_address_length;
	bind_operation_t operation;
	uint8_t protocol;
} bind_md_t;
typedef enum _bind_action {
	BIND_PERMIT_SOFT,
	BIND_DENY,
	BIND_REDIRECT,
	BIND_PERMIT_HARD,
	BIND_PERMIT = BIND_PERMIT_SOFT,
} bind_action_t;

/* CGROUP_SOCK_ADDR (ebpf-for-windows's layout) and its extension helpers. */
typedef struct bpf_sock_addr {
	uint32_t family;
	struct {
		union {
			uint32_t msg_src_ip4;
			uint32_t msg_src_ip6[4];
		};
		uint16_t msg_src_port;
	};
	struct {
		union {
			uint32_t user_ip4;
			uint32_t user_ip6[4];
		};
		uint16_t user_port;
	};
	uint32_t protocol;
	uint32_t compartment_id;
	uint64_t interface_luid;
} bpf_sock_addr_t;
typedef enum _ebpf_sock_addr_verdict {
	BPF_SOCK_ADDR_VERDICT_REJECT,
	BPF_SOCK_ADDR_VERDICT_PROCEED_SOFT,
	BPF_SOCK_ADDR_VERDICT_PROCEED_HARD,
} ebpf_sock_addr_verdict_t;
EWIN_HELPER(uint64_t, bpf_sock_addr_get_current_pid_tgid, (bpf_sock_addr_t *ctx), 0xFFFF + 1);
EWIN_HELPER(int, bpf_sock_addr_set_redirect_context, (bpf_sock_addr_t *ctx, void *data, uint32_t size), 0xFFFF + 2);

/* PROCESS (ntosebpfext's process_md). */
typedef enum _process_operation { PROCESS_OPERATION_CREATE, PROCESS_OPERATION_DELETE } process_operation_t;
typedef struct _process_md {
	uint8_t *command_start;
	uint8_t *command_end;
	uint64_t process_id;
	uint64_t parent_process_id;
	uint64_t creating_process_id;
	uint64_t creating_thread_id;
	uint64_t creation_time;
	uint64_t exit_time;
	uint32_t process_exit_code;
	process_operation_t operation : 8;
} process_md_t;

#endif
