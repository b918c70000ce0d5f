/* Context of PROCESS programs (section "process"): a process was created or exited.
 * The first fields are ebpf-for-windows's process_md; image_path_start/end are anybpf's.
 * At creation under "anybpf run", a non-zero return value refuses the execve (EPERM). */
#ifndef ANYBPF_PROCESS_H
#define ANYBPF_PROCESS_H

#include <linux/types.h>

enum process_operation {
	PROCESS_OPERATION_CREATE = 0,
	PROCESS_OPERATION_DELETE = 1,
};

struct process_md {
	__u8 *command_start;         /* the command line, arguments separated by spaces */
	__u8 *command_end;
	__u64 process_id;
	__u64 parent_process_id;
	__u64 creating_process_id;
	__u64 creating_thread_id;
	__u64 creation_time;         /* nanoseconds since boot */
	__u64 exit_time;
	__u32 process_exit_code;
	__u8 operation;              /* enum process_operation */
	__u8 *image_path_start;      /* the executable's path */
	__u8 *image_path_end;
};

#endif
