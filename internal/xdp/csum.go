package xdp

import "encoding/binary"

// completeChecksum finishes the TCP or UDP checksum of an IPv4 or IPv6 frame whose
// sender left it to the hardware (a frame AF_PACKET marks TP_STATUS_CSUMNOTREADY, as
// frames from a veth peer with checksum offload are): the datapath sends frames out
// through AF_PACKET, which sends them as they are, so it has to finish them before the
// programs run. Frames it cannot parse (IPv6 extension headers, fragments, truncated
// headers) are left alone. It reports whether it wrote a checksum.
func completeChecksum(frame []byte) bool {
	if len(frame) < 14 {
		return false
	}
	l3, etype := 14, binary.BigEndian.Uint16(frame[12:])
	for (etype == 0x8100 || etype == 0x88a8) && len(frame) >= l3+4 {
		etype = binary.BigEndian.Uint16(frame[l3+2:])
		l3 += 4
	}
	var sum uint32
	var proto byte
	var l4, end int
	switch etype {
	case 0x0800:
		ip := frame[l3:]
		if len(ip) < 20 || ip[0]>>4 != 4 {
			return false
		}
		ihl := int(ip[0]&15) * 4
		total := int(binary.BigEndian.Uint16(ip[2:]))
		if ihl < 20 || total < ihl || total > len(ip) || binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
			return false // bad header or a fragment
		}
		proto, l4, end = ip[9], l3+ihl, l3+total
		sum = sumBytes(ip[12:20], 0)
	case 0x86dd:
		ip := frame[l3:]
		if len(ip) < 40 {
			return false
		}
		payload := int(binary.BigEndian.Uint16(ip[4:]))
		if 40+payload > len(ip) {
			return false
		}
		proto, l4, end = ip[6], l3+40, l3+40+payload
		sum = sumBytes(ip[8:40], 0)
	default:
		return false
	}
	var off int
	switch proto {
	case 6:
		off = 16
	case 17:
		off = 6
	default:
		return false
	}
	seg := frame[l4:end]
	if len(seg) < off+2 || (proto == 6 && len(seg) < 20) || (proto == 17 && len(seg) < 8) {
		return false
	}
	sum += uint32(proto) + uint32(len(seg))
	seg[off], seg[off+1] = 0, 0
	c := ^fold(sumBytes(seg, sum))
	if c == 0 && proto == 17 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(seg[off:], c)
	return true
}

// sumBytes adds b to sum as big-endian 16-bit words (one's complement, not folded).
func sumBytes(b []byte, sum uint32) uint32 {
	s := uint64(sum)
	for len(b) >= 8 {
		v := binary.BigEndian.Uint64(b)
		s += v>>48 + v>>32&0xffff + v>>16&0xffff + v&0xffff
		b = b[8:]
	}
	for len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	for s>>32 != 0 {
		s = s&0xffffffff + s>>32
	}
	return uint32(s)
}

func fold(s uint32) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}
