package xdp

import (
	"encoding/binary"
	"testing"
)

// verify reports whether the L4 checksum of an IPv4 frame checks out.
func verify(frame []byte) bool {
	ip := frame[14:]
	ihl := int(ip[0]&15) * 4
	seg := ip[ihl:binary.BigEndian.Uint16(ip[2:])]
	sum := sumBytes(ip[12:20], 0) + uint32(ip[9]) + uint32(len(seg))
	return fold(sumBytes(seg, sum)) == 0xffff
}

func TestCompleteChecksum(t *testing.T) {
	frame := func(proto byte, l4 []byte, vlan bool) []byte {
		f := make([]byte, 12, 100)
		if vlan {
			f = append(f, 0x81, 0x00, 0x00, 0x05)
		}
		f = append(f, 0x08, 0x00)
		ip := make([]byte, 20)
		ip[0], ip[9] = 0x45, proto
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
		copy(ip[12:], []byte{198, 18, 0, 1, 198, 18, 0, 2})
		return append(append(f, ip...), l4...)
	}
	udp := []byte{0x10, 0x00, 0x23, 0x28, 0, 13, 0xaa, 0xbb, 'h', 'e', 'l', 'l', 'o'}
	tcp := make([]byte, 21)
	tcp[12], tcp[16], tcp[20] = 0x50, 0x12, 'x'
	for _, tc := range []struct {
		name  string
		frame []byte
		want  bool
	}{
		{"udp", frame(17, udp, false), true},
		{"tcp", frame(6, tcp, false), true},
		{"vlan udp", frame(17, udp, true), true},
		{"icmp", frame(1, []byte{8, 0, 0, 0, 0, 0, 0, 0}, false), false},
		{"short udp", frame(17, udp[:5], false), false},
		{"arp", append(make([]byte, 12), 0x08, 0x06, 0, 1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := append([]byte(nil), tc.frame...)
			if got := completeChecksum(f); got != tc.want {
				t.Fatalf("completeChecksum = %v, want %v", got, tc.want)
			}
			if tc.want {
				if tc.name == "vlan udp" {
					f = append(f[:14:14], f[18:]...) // verify reads the IPv4 header at 14
				}
				if !verify(f) {
					t.Errorf("checksum does not verify: % x", f)
				}
			}
		})
	}
}
