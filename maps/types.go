package maps

// Map types, Linux's numbering (enum bpf_map_type).
const (
	Unspec              Type = 0  // BPF_MAP_TYPE_UNSPEC
	Hash                Type = 1  // BPF_MAP_TYPE_HASH
	Array               Type = 2  // BPF_MAP_TYPE_ARRAY
	ProgArray           Type = 3  // BPF_MAP_TYPE_PROG_ARRAY
	PerfEventArray      Type = 4  // BPF_MAP_TYPE_PERF_EVENT_ARRAY
	PerCPUHash          Type = 5  // BPF_MAP_TYPE_PERCPU_HASH
	PerCPUArray         Type = 6  // BPF_MAP_TYPE_PERCPU_ARRAY
	StackTrace          Type = 7  // BPF_MAP_TYPE_STACK_TRACE
	CgroupArray         Type = 8  // BPF_MAP_TYPE_CGROUP_ARRAY
	LRUHash             Type = 9  // BPF_MAP_TYPE_LRU_HASH
	LRUPerCPUHash       Type = 10 // BPF_MAP_TYPE_LRU_PERCPU_HASH
	LPMTrie             Type = 11 // BPF_MAP_TYPE_LPM_TRIE
	ArrayOfMaps         Type = 12 // BPF_MAP_TYPE_ARRAY_OF_MAPS
	HashOfMaps          Type = 13 // BPF_MAP_TYPE_HASH_OF_MAPS
	DevMap              Type = 14 // BPF_MAP_TYPE_DEVMAP
	SockMap             Type = 15 // BPF_MAP_TYPE_SOCKMAP
	CPUMap              Type = 16 // BPF_MAP_TYPE_CPUMAP
	XSKMap              Type = 17 // BPF_MAP_TYPE_XSKMAP
	SockHash            Type = 18 // BPF_MAP_TYPE_SOCKHASH
	CgroupStorage       Type = 19 // BPF_MAP_TYPE_CGROUP_STORAGE
	ReuseportSockArray  Type = 20 // BPF_MAP_TYPE_REUSEPORT_SOCKARRAY
	PerCPUCgroupStorage Type = 21 // BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE
	Queue               Type = 22 // BPF_MAP_TYPE_QUEUE
	Stack               Type = 23 // BPF_MAP_TYPE_STACK
	SKStorage           Type = 24 // BPF_MAP_TYPE_SK_STORAGE
	DevMapHash          Type = 25 // BPF_MAP_TYPE_DEVMAP_HASH
	StructOps           Type = 26 // BPF_MAP_TYPE_STRUCT_OPS
	RingBuf             Type = 27 // BPF_MAP_TYPE_RINGBUF
	InodeStorage        Type = 28 // BPF_MAP_TYPE_INODE_STORAGE
	TaskStorage         Type = 29 // BPF_MAP_TYPE_TASK_STORAGE
	BloomFilter         Type = 30 // BPF_MAP_TYPE_BLOOM_FILTER
	UserRingBuf         Type = 31 // BPF_MAP_TYPE_USER_RINGBUF
)

var typeNames = map[Type]string{
	0:  "unspec",
	1:  "hash",
	2:  "array",
	3:  "prog_array",
	4:  "perf_event_array",
	5:  "percpu_hash",
	6:  "percpu_array",
	7:  "stack_trace",
	8:  "cgroup_array",
	9:  "lru_hash",
	10: "lru_percpu_hash",
	11: "lpm_trie",
	12: "array_of_maps",
	13: "hash_of_maps",
	14: "devmap",
	15: "sockmap",
	16: "cpumap",
	17: "xskmap",
	18: "sockhash",
	19: "cgroup_storage",
	20: "reuseport_sockarray",
	21: "percpu_cgroup_storage",
	22: "queue",
	23: "stack",
	24: "sk_storage",
	25: "devmap_hash",
	26: "struct_ops",
	27: "ringbuf",
	28: "inode_storage",
	29: "task_storage",
	30: "bloom_filter",
	31: "user_ringbuf",
}
