/* The body shared by ewin_xdp.c (ebpf-for-windows headers) and ewin_xdp_linux.c (Linux
 * headers): the instructions of both objects must match once helper ids are translated.
 * It returns only verdicts with the same number in both (XDP_TX, and 0 for aborted:
 * ebpf-for-windows numbers XDP_PASS and XDP_DROP the other way round from Linux). */
struct event {
	uint32_t cpu;
	uint32_t pad;
	uint64_t count;
};

SEC("xdp")
int count_cpu(void *ctx)
{
	uint32_t key = bpf_get_smp_processor_id();
	uint64_t *count = bpf_map_lookup_elem(&counters, &key);
	uint64_t one = 1;
	if (!count) {
		bpf_map_update_elem(&counters, &key, &one, 0);
		return XDP_TX;
	}
	*count += 1;
	struct event ev = {.cpu = key, .count = *count};
	bpf_ringbuf_output(&events, &ev, sizeof(ev), 0);
	if (bpf_ktime_get_ns() == 0)
		return 0;
	return XDP_TX;
}
