package elfload

import (
	"encoding/binary"
	"fmt"

	"github.com/anybpf/anybpf/maps"
	"github.com/anybpf/anybpf/progtype"
)

// WindowsMarkerSection is the section that ebpf-for-windows's bpf_helpers.h (through
// bpf_helpers_platform.h) puts in every object it compiles: a one-byte bool
// __ebpf_for_windows_tag holding true. ELF files compiled against Linux and Windows
// headers are not binary compatible (helper ids, map type numbers and the maps section
// differ); this section is how an object says which headers it was built with.
const WindowsMarkerSection = ".ebpf_for_windows"

// windowsMapDefSize is the size of ebpf-for-windows's struct _ebpf_map_definition_in_file:
// type, key_size, value_size, max_entries, inner_map_idx, pinning, id, inner_id, each a
// 32-bit field.
const windowsMapDefSize = 32

// windowsMapTypes translates ebpf-for-windows's enum bpf_map_type (ebpf_structs.h) to
// Linux's. A type missing here (BPF_MAP_TYPE_SAMPLE_HASH_MAP, 15, a test map of its
// sample extension) has no Linux counterpart.
var windowsMapTypes = map[uint32]maps.Type{
	0:  maps.Unspec,
	1:  maps.Hash,
	2:  maps.Array,
	3:  maps.ProgArray,
	4:  maps.PerCPUHash,
	5:  maps.PerCPUArray,
	6:  maps.HashOfMaps,
	7:  maps.ArrayOfMaps,
	8:  maps.LRUHash,
	9:  maps.LPMTrie,
	10: maps.Queue,
	11: maps.LRUPerCPUHash,
	12: maps.Stack,
	13: maps.RingBuf,
	14: maps.PerfEventArray,
	16: maps.XSKMap,
}

// windowsMapTypeNames names ebpf-for-windows's map types for error messages.
var windowsMapTypeNames = map[uint32]string{15: "BPF_MAP_TYPE_SAMPLE_HASH_MAP"}

// translateWindowsMapType returns the Linux map type for an ebpf-for-windows one.
func translateWindowsMapType(t uint32) (maps.Type, error) {
	if lt, ok := windowsMapTypes[t]; ok {
		return lt, nil
	}
	name := windowsMapTypeNames[t]
	if name == "" {
		name = "unknown"
	}
	return 0, fmt.Errorf("%w: ebpf-for-windows map type %d (%s) has no Linux counterpart", ErrNotSupported, t, name)
}

// windowsHelper is an ebpf-for-windows helper: its name and the Linux helper id with the
// same semantics, 0 when Linux has none.
type windowsHelper struct {
	name  string
	linux int32
}

// windowsHelpers are ebpf-for-windows's general helpers (enum ebpf_helper_id_t in
// ebpf_structs.h, prototypes in bpf_helper_defs.h) with the Linux helper each one is
// the same as. Notes on the pairs:
//   - trace_printk2..5 take the format, its size and 0 to 3 arguments: Linux's
//     trace_printk (6) with that many arguments.
//   - redirect_map takes a 64-bit key, as Linux's current prototype does.
//   - get_socket_cookie takes the context, as Linux's does for sock_addr and sock_ops.
//
// Helpers Linux lacks (lookup_and_delete as a helper, logon id, admin check, the *_s
// memory and string functions, millisecond clocks, process start key, thread create
// time) map to 0.
var windowsHelpers = map[int32]windowsHelper{
	1:  {"bpf_map_lookup_elem", 1},
	2:  {"bpf_map_update_elem", 2},
	3:  {"bpf_map_delete_elem", 3},
	4:  {"bpf_map_lookup_and_delete_elem", 0},
	5:  {"bpf_tail_call", 12},
	6:  {"bpf_get_prandom_u32", 7},
	7:  {"bpf_ktime_get_boot_ns", 125},
	8:  {"bpf_get_smp_processor_id", 8},
	9:  {"bpf_ktime_get_ns", 5},
	10: {"bpf_csum_diff", 28},
	11: {"bpf_ringbuf_output", 130},
	12: {"bpf_trace_printk2", 6},
	13: {"bpf_trace_printk3", 6},
	14: {"bpf_trace_printk4", 6},
	15: {"bpf_trace_printk5", 6},
	16: {"bpf_map_push_elem", 87},
	17: {"bpf_map_pop_elem", 88},
	18: {"bpf_map_peek_elem", 89},
	19: {"bpf_get_current_pid_tgid", 14},
	20: {"bpf_get_current_logon_id", 0},
	21: {"bpf_is_current_admin", 0},
	22: {"bpf_memcpy_s", 0},
	23: {"bpf_memcmp_s", 0},
	24: {"bpf_memset", 0},
	25: {"bpf_memmove_s", 0},
	26: {"bpf_get_socket_cookie", 46},
	27: {"bpf_strncpy_s", 0},
	28: {"bpf_strncat_s", 0},
	29: {"bpf_strnlen_s", 0},
	30: {"bpf_ktime_get_boot_ms", 0},
	31: {"bpf_ktime_get_ms", 0},
	32: {"bpf_perf_event_output", 25},
	33: {"bpf_get_current_process_start_key", 0},
	34: {"bpf_get_current_thread_create_time", 0},
	35: {"bpf_redirect_map", 51},
}

// windowsExtensionBase is where ebpf-for-windows numbers the helpers that a program
// type's extension provides (0xFFFF + 1 onwards); the same id means different helpers
// for different program types.
const windowsExtensionBase = 0x10000

// windowsExtensionHelpers are the program-type-specific helpers of ebpf-for-windows's
// network extension (ebpf_nethooks.h; XDP's from its older XDP_TEST hook) and of
// ntosebpfext's process hook.
var windowsExtensionHelpers = map[progtype.Type]map[int32]windowsHelper{
	progtype.XDP: {
		windowsExtensionBase: {"bpf_xdp_adjust_head", 44},
	},
	progtype.CgroupSockAddr: {
		windowsExtensionBase:     {"bpf_sock_addr_get_current_pid_tgid", 14},
		windowsExtensionBase + 1: {"bpf_sock_addr_set_redirect_context", 0},
		windowsExtensionBase + 2: {"bpf_sock_addr_get_network_context", 0},
	},
	progtype.SockOps: {
		windowsExtensionBase: {"bpf_sock_ops_get_flow_id", 0},
	},
	// ntosebpfext's PROCESS hook (anybpf's process_md carries the image path instead).
	progtype.Process: {
		windowsExtensionBase: {"bpf_process_get_image_path", 0},
	},
}

// translateWindowsHelper returns the Linux id of the ebpf-for-windows helper id called
// by a program of type t, or an error naming the helper when Linux has none.
func translateWindowsHelper(t progtype.Type, id int32) (int32, error) {
	var h windowsHelper
	var ok bool
	if id >= windowsExtensionBase {
		h, ok = windowsExtensionHelpers[t][id]
		if !ok {
			return 0, fmt.Errorf("%w: ebpf-for-windows helper %d (a %s extension helper) is unknown", ErrNotSupported, id, t)
		}
	} else if h, ok = windowsHelpers[id]; !ok {
		return 0, fmt.Errorf("%w: ebpf-for-windows helper %d is unknown", ErrNotSupported, id)
	}
	if h.linux == 0 {
		return 0, fmt.Errorf("%w: ebpf-for-windows helper %s (%d) has no Linux equivalent", ErrNotSupported, h.name, id)
	}
	return h.linux, nil
}

// translateWindowsCalls rewrites the helper calls of a program from an
// ebpf-for-windows object to Linux helper ids.
func translateWindowsCalls(p *ProgramSpec) error {
	for i := range p.Instructions {
		ins := &p.Instructions[i]
		if !ins.IsHelperCall() || ins.Constant == COREPoisonHelper {
			continue // poisoned by CO-RE: see ProgramSpec.Poisoned
		}
		id, err := translateWindowsHelper(p.Type, ins.Imm())
		if err != nil {
			return fmt.Errorf("instruction %d: %w", i, err)
		}
		ins.Constant = int64(id)
	}
	return nil
}

// loadWindowsMaps parses a maps section of struct _ebpf_map_definition_in_file records
// (ebpf_structs.h), translating map types to Linux's and resolving inner map templates,
// given by the index of a record in the section (inner_map_idx) or by a record's id
// (inner_id, when not 0).
func (l *loader) loadWindowsMaps(sec *section) error {
	syms := mapSymbols(sec)
	if len(syms) == 0 {
		return nil
	}
	if len(sec.data)%windowsMapDefSize != 0 || len(sec.data)/windowsMapDefSize != len(syms) {
		return fmt.Errorf("%w: section %s: %d bytes for %d ebpf-for-windows map definitions of %d bytes", ErrInvalidObject, sec.Name, len(sec.data), len(syms), windowsMapDefSize)
	}
	type record struct {
		m                     *MapSpec
		innerIdx, id, innerID uint32
		rawType               uint32
	}
	byIndex := make([]*record, len(syms))
	for _, s := range syms {
		if s.Value%windowsMapDefSize != 0 || s.Value+windowsMapDefSize > uint64(len(sec.data)) {
			return fmt.Errorf("%w: map %s at byte %d of %s is not a whole ebpf-for-windows map definition", ErrInvalidObject, s.Name, s.Value, sec.Name)
		}
		idx := s.Value / windowsMapDefSize
		if byIndex[idx] != nil {
			return fmt.Errorf("%w: maps %s and %s share a definition in %s", ErrInvalidObject, byIndex[idx].m.Name, s.Name, sec.Name)
		}
		d := sec.data[s.Value:]
		word := func(i int) uint32 { return binary.LittleEndian.Uint32(d[4*i:]) }
		typ, err := translateWindowsMapType(word(0))
		if err != nil {
			return fmt.Errorf("map %s: %w", s.Name, err)
		}
		byIndex[idx] = &record{
			m: &MapSpec{Name: s.Name, Section: sec.Name, Type: typ, KeySize: word(1), ValueSize: word(2),
				MaxEntries: word(3), Pinning: word(5)},
			innerIdx: word(4), id: word(6), innerID: word(7), rawType: word(0),
		}
	}
	for _, r := range byIndex {
		if r.m.Type != maps.ArrayOfMaps && r.m.Type != maps.HashOfMaps {
			continue
		}
		var inner *record
		if r.innerID != 0 {
			for _, o := range byIndex {
				if o.id == r.innerID {
					inner = o
				}
			}
			if inner == nil {
				return fmt.Errorf("%w: map %s: no map has the inner map id %d", ErrInvalidObject, r.m.Name, r.innerID)
			}
		} else {
			if int64(r.innerIdx) >= int64(len(byIndex)) {
				return fmt.Errorf("%w: map %s: inner map index %d, but %s holds %d maps", ErrInvalidObject, r.m.Name, r.innerIdx, sec.Name, len(byIndex))
			}
			inner = byIndex[r.innerIdx]
		}
		if inner == r {
			return fmt.Errorf("%w: map %s is its own inner map", ErrInvalidObject, r.m.Name)
		}
		tmpl := *inner.m
		tmpl.InnerMap = nil // a template of a template is not needed to create the outer map
		r.m.InnerMap = &tmpl
	}
	for _, r := range byIndex {
		l.obj.Maps = append(l.obj.Maps, r.m)
	}
	return nil
}
