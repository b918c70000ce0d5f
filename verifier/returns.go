package verifier

import "github.com/anybpf/anybpf/progtype"

// returnRange is the range of return values a program type may give, as Linux's
// check_return_code enforces (for the 32-bit value), and ebpf-for-windows for its own
// types and programs (windows); ok is false for types whose return value is not
// restricted.
func returnRange(t progtype.Type, a progtype.AttachType, windows bool) (lo, hi uint32, ok bool) {
	if windows && t == progtype.CgroupSockAddr {
		return 0, 2, true // REJECT, PROCEED_SOFT, PROCEED_HARD
	}
	switch t {
	case progtype.CgroupSKB:
		// 2 and 3 ask for congestion notification on egress (BPF_F_CN).
		return 0, 3, true
	case progtype.CgroupSock, progtype.CgroupSockAddr, progtype.CgroupDevice,
		progtype.CgroupSysctl, progtype.CgroupSockopt, progtype.SKLookup:
		if t == progtype.CgroupSockAddr && (a == progtype.AttachCgroupInet4Bind || a == progtype.AttachCgroupInet6Bind) {
			return 0, 3, true // bind hooks may also ask to skip the port's capability check
		}
		return 0, 1, true
	case progtype.Bind:
		return 0, 3, true // PERMIT_SOFT, DENY, REDIRECT, PERMIT_HARD
	}
	return 0, 0, false
}
