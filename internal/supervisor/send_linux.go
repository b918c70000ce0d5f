package supervisor

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/anybpf/anybpf"
)

// maxDatagram bounds the data of a judged send: no UDP datagram (nor a UDP_SEGMENT
// batch) is larger.
const maxDatagram = 65535

// message is a send the supervisor judges: its destination (if any), data and
// control data, read from the caller.
type message struct {
	name    []byte // the caller's sockaddr; nil for a send on a connected socket
	data    []byte
	control []byte
	flags   int
}

// send judges sendto, sendmsg and sendmmsg (its first message only: sendmmsg may send
// fewer messages than asked, and the caller sends the rest again) on UDP sockets with
// the sendmsg4/6 programs, and performs the send on the supervisor's copy of the
// socket, with the data and address judged. Sends without a destination on UDP sockets
// are performed there too (so that a thread cannot add one after the check) but not
// judged, as in Linux.
func (s *Supervisor) send(c *call) error {
	n, h := c.n, c.hooks
	if len(h.Sendmsg4)+len(h.Sendmsg6) == 0 {
		s.respond(n, 0, 0, true)
		return nil
	}
	fd := int(int32(n.Args[0]))
	sock, answered, err := s.callSocket(n, fd)
	if answered || err != nil {
		return err
	}
	defer unix.Close(sock)
	typ, proto, domain, ok := sockKind(sock)
	if !ok || !isUDP(typ, proto) || !isInet(domain) {
		s.respond(n, 0, 0, true) // not a UDP socket: Linux's sendmsg hooks do not run
		return nil
	}
	var m message
	var errno unix.Errno
	switch n.Nr {
	case sysSendto:
		m, errno = readSendto(n)
	case sysSendmsg:
		m, errno = readMsghdr(n.Pid, n.Args[1])
		m.flags = int(int32(n.Args[2]))
	case sysSendmmsg:
		if uint32(n.Args[2]) == 0 {
			s.respond(n, 0, 0, true)
			return nil
		}
		m, errno = readMsghdr(n.Pid, n.Args[1])
		m.flags = int(int32(n.Args[3]))
	}
	if !s.valid(n) {
		return nil
	}
	if errno != 0 {
		s.respond(n, 0, errno, false)
		return nil
	}
	var to unix.Sockaddr
	if len(m.name) >= 2 {
		family := binary.NativeEndian.Uint16(m.name)
		var dst netip.AddrPort
		var progs []*anybpf.Program
		switch {
		case family == unix.AF_INET && len(m.name) >= 16:
			dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(m.name[4:8])), binary.BigEndian.Uint16(m.name[2:4]))
			progs = h.Sendmsg4
		case family == unix.AF_INET6 && len(m.name) >= 24:
			dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(m.name[8:24])), binary.BigEndian.Uint16(m.name[2:4]))
			progs = h.Sendmsg6
		default:
			s.respond(n, 0, unix.EINVAL, false) // what Linux answers a UDP socket
			return nil
		}
		final := dst
		if len(progs) > 0 {
			src := sourceOf(sock, m.control, family)
			cookie, _ := unix.GetsockoptUint64(sock, unix.SOL_SOCKET, unix.SO_COOKIE)
			allow, f, finalSrc, err := judgeMsg(progs, dst, src, typ, proto, cookie)
			if err != nil {
				return err
			}
			if !allow {
				s.deny(n)
				return nil
			}
			final = f
			if finalSrc != src && finalSrc.IsValid() {
				m.control = append(m.control, pktinfo(finalSrc)...)
			}
			if final != dst || finalSrc != src {
				s.redirected.Add(1)
			}
		}
		if len(m.name) < 28 {
			m.name = append(m.name, make([]byte, 28-len(m.name))...)
		}
		to = sockaddrOf(final, m.name)
	}
	c.handOffIfBlocking(sock, m.flags)
	sent, err := unix.SendmsgN(sock, m.data, m.control, to, m.flags)
	if err != nil {
		errno = unix.EINVAL
		errors.As(err, &errno)
		s.respond(n, 0, errno, false)
		return nil
	}
	if n.Nr == sysSendmmsg {
		// msg_len of the first struct mmsghdr, after its struct msghdr.
		var l [4]byte
		binary.NativeEndian.PutUint32(l[:], uint32(sent))
		if writeMem(n.Pid, n.Args[1]+56, l[:]) != nil {
			s.respond(n, 0, unix.EFAULT, false)
			return nil
		}
		sent = 1
	}
	s.respond(n, int64(sent), 0, false)
	return nil
}

// readSendto reads a sendto's data and destination.
func readSendto(n *notif) (message, unix.Errno) {
	buf, length, addr, addrLen := n.Args[1], n.Args[2], n.Args[4], n.Args[5]
	if length > maxDatagram {
		return message{}, unix.EMSGSIZE
	}
	if addrLen > 128 {
		return message{}, unix.EINVAL
	}
	m := message{data: make([]byte, length), name: make([]byte, addrLen), flags: int(int32(n.Args[3]))}
	if readMem(n.Pid, buf, m.data) != nil || readMem(n.Pid, addr, m.name) != nil {
		return message{}, unix.EFAULT
	}
	return m, 0
}

// readMsghdr reads a struct msghdr at addr and what it points to.
func readMsghdr(pid uint32, addr uint64) (message, unix.Errno) {
	var h [56]byte
	if readMem(pid, addr, h[:]) != nil {
		return message{}, unix.EFAULT
	}
	ne := binary.NativeEndian
	name, nameLen := ne.Uint64(h[0:]), ne.Uint32(h[8:])
	iov, iovLen := ne.Uint64(h[16:]), ne.Uint64(h[24:])
	ctl, ctlLen := ne.Uint64(h[32:]), ne.Uint64(h[40:])
	var m message
	if name != 0 && nameLen != 0 {
		if nameLen > 128 {
			return message{}, unix.EINVAL
		}
		m.name = make([]byte, nameLen)
		if readMem(pid, name, m.name) != nil {
			return message{}, unix.EFAULT
		}
	}
	if iovLen > 1024 { // UIO_MAXIOV
		return message{}, unix.EMSGSIZE
	}
	if iovLen > 0 {
		vecs := make([]byte, 16*iovLen)
		if readMem(pid, iov, vecs) != nil {
			return message{}, unix.EFAULT
		}
		for i := range iovLen {
			base, l := ne.Uint64(vecs[16*i:]), ne.Uint64(vecs[16*i+8:])
			if l > maxDatagram || uint64(len(m.data))+l > maxDatagram {
				return message{}, unix.EMSGSIZE
			}
			chunk := make([]byte, l)
			if readMem(pid, base, chunk) != nil {
				return message{}, unix.EFAULT
			}
			m.data = append(m.data, chunk...)
		}
	}
	if ctl != 0 && ctlLen != 0 {
		if ctlLen > 1<<16 {
			return message{}, unix.ENOBUFS
		}
		m.control = make([]byte, ctlLen)
		if readMem(pid, ctl, m.control) != nil {
			return message{}, unix.EFAULT
		}
	}
	return m, 0
}

// sourceOf is the source address a send would use that the caller chose: an
// IP_PKTINFO/IPV6_PKTINFO control message's, or else the address the socket is bound
// to; the zero Addr when neither chose one.
func sourceOf(sock int, control []byte, family uint16) netip.Addr {
	var src netip.Addr
	if sa, err := unix.Getsockname(sock); err == nil {
		if a := addrPortOf(sa).Addr(); !a.IsUnspecified() {
			src = a
		}
	}
	if msgs, err := unix.ParseSocketControlMessage(control); err == nil {
		for _, c := range msgs {
			switch {
			case c.Header.Level == unix.IPPROTO_IP && c.Header.Type == unix.IP_PKTINFO && len(c.Data) >= 12:
				if a := netip.AddrFrom4([4]byte(c.Data[4:8])); !a.IsUnspecified() {
					src = a
				}
			case c.Header.Level == unix.IPPROTO_IPV6 && c.Header.Type == unix.IPV6_PKTINFO && len(c.Data) >= 20:
				if a := netip.AddrFrom16([16]byte(c.Data[0:16])); !a.IsUnspecified() {
					src = a
				}
			}
		}
	}
	if family == unix.AF_INET {
		src = src.Unmap()
		if !src.Is4() {
			return netip.Addr{}
		}
	} else if src.Is4() {
		src = netip.AddrFrom16(src.As16())
	}
	return src
}

// pktinfo is the control message that sends from src: Linux uses the last one given.
func pktinfo(src netip.Addr) []byte {
	if src.Is4() {
		b := unix.PktInfo4(&unix.Inet4Pktinfo{Spec_dst: src.As4()})
		return b
	}
	return unix.PktInfo6(&unix.Inet6Pktinfo{Addr: src.As16()})
}
