package supervisor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// recvCall is where a recvfrom, recvmsg or recvmmsg wants its results.
type recvCall struct {
	iovs    []unix.RemoteIovec // the data buffers
	name    uint64             // the address buffer
	nameCap uint32             // its size
	nameLen uint64             // where the address's size goes (a socklen_t or the msghdr's msg_namelen)
	ctl     uint64             // the control buffer (recvmsg), or 0
	ctlCap  uint64
	hdr     uint64 // the struct msghdr (recvmsg, recvmmsg), or 0
	flags   int
}

// recv performs a recvfrom, recvmsg or recvmmsg (its first message: recvmmsg may
// receive fewer than asked) with an address buffer on a UDP socket on the supervisor's
// copy of the socket, runs the recvmsg4/6 programs on the datagram's source address, and
// writes the data, the address they leave, the control data and the flags into the
// caller's buffers. Calls without an address buffer, error-queue reads and other
// sockets are left to the kernel.
func (s *Supervisor) recv(c *call) error {
	n, h := c.n, c.hooks
	if len(h.Recvmsg4)+len(h.Recvmsg6) == 0 {
		s.respond(n, 0, 0, true)
		return nil
	}
	r, ok := readRecvCall(n)
	if !ok || r.name == 0 || r.flags&unix.MSG_ERRQUEUE != 0 {
		s.respond(n, 0, 0, true) // the kernel does it (or reports the bad buffer) itself
		return nil
	}
	sock, answered, err := s.callSocket(n, int(int32(n.Args[0])))
	if answered || err != nil {
		return err
	}
	defer unix.Close(sock)
	typ, proto, domain, ok := sockKind(sock)
	if !ok || !isUDP(typ, proto) || !isInet(domain) {
		s.respond(n, 0, 0, true)
		return nil
	}
	if !s.valid(n) {
		return nil
	}
	size := uint64(0)
	for _, v := range r.iovs {
		size += uint64(v.Len)
	}
	buf := make([]byte, min(size, maxDatagram+1))
	oob := make([]byte, min(r.ctlCap, 1<<16))
	blocking := r.flags&unix.MSG_DONTWAIT == 0
	if blocking {
		if fl, err := unix.FcntlInt(uintptr(sock), unix.F_GETFL, 0); err == nil && fl&unix.O_NONBLOCK != 0 {
			blocking = false
		}
	}
	var got, oobn, rflags int
	var from unix.Sockaddr
	for {
		// A datagram already there is received at once; otherwise another goroutine
		// receives notifications while this one waits.
		got, oobn, rflags, from, err = unix.Recvmsg(sock, buf, oob, r.flags|unix.MSG_DONTWAIT)
		if err != unix.EAGAIN || !blocking {
			break
		}
		c.handOff()
		if ok, errno := s.awaitReadable(n, sock); !ok {
			if errno != 0 {
				s.respond(n, 0, errno, false)
			}
			return nil
		}
	}
	if err != nil {
		errno := unix.EINVAL
		errors.As(err, &errno)
		s.respond(n, 0, errno, false)
		return nil
	}
	src := addrPortOf(from)
	if sa6, ok := from.(*unix.SockaddrInet6); ok && sa6.ZoneId != 0 {
		src = netip.AddrPortFrom(src.Addr().WithZone(strconv.Itoa(int(sa6.ZoneId))), src.Port())
	}
	progs := h.Recvmsg4
	if domain == unix.AF_INET6 {
		progs = h.Recvmsg6
	}
	if len(progs) > 0 && src.IsValid() {
		cookie, _ := unix.GetsockoptUint64(sock, unix.SOL_SOCKET, unix.SO_COOKIE)
		_, final, _, err := judgeMsg(progs, src, netip.Addr{}, typ, proto, cookie)
		if err != nil {
			return err
		}
		if final != src {
			s.redirected.Add(1)
			src = final
		}
	}
	if err := r.write(n, buf[:min(got, len(buf))], got, src, domain, oob[:oobn], rflags); err != nil {
		s.respond(n, 0, unix.EFAULT, false) // the datagram is lost, as in Linux
		return nil
	}
	if n.Nr == sysRecvmmsg {
		got = 1
	}
	s.respond(n, int64(got), 0, false)
	return nil
}

// readRecvCall reads the buffers of a receive call; ok is false if the caller's memory
// cannot be read or the call is malformed (the kernel then answers it).
func readRecvCall(n *notif) (r recvCall, ok bool) {
	ne := binary.NativeEndian
	switch n.Nr {
	case sysRecvfrom:
		r.iovs = []unix.RemoteIovec{{Base: uintptr(n.Args[1]), Len: int(min(n.Args[2], 1<<30))}}
		r.flags = int(int32(n.Args[3]))
		r.name, r.nameLen = n.Args[4], n.Args[5]
		var l [4]byte
		if r.nameLen == 0 || readMem(n.Pid, r.nameLen, l[:]) != nil || int32(ne.Uint32(l[:])) < 0 {
			return r, false
		}
		r.nameCap = ne.Uint32(l[:])
		return r, true
	case sysRecvmsg:
		r.hdr, r.flags = n.Args[1], int(int32(n.Args[2]))
	case sysRecvmmsg:
		if uint32(n.Args[2]) == 0 {
			return r, false
		}
		r.hdr, r.flags = n.Args[1], int(int32(n.Args[3]))
	}
	var hdr [56]byte
	if readMem(n.Pid, r.hdr, hdr[:]) != nil {
		return r, false
	}
	r.name, r.nameCap, r.nameLen = ne.Uint64(hdr[0:]), ne.Uint32(hdr[8:]), r.hdr+8
	iov, iovLen := ne.Uint64(hdr[16:]), ne.Uint64(hdr[24:])
	r.ctl, r.ctlCap = ne.Uint64(hdr[32:]), ne.Uint64(hdr[40:])
	if r.ctl == 0 {
		r.ctlCap = 0
	}
	if iovLen > 1024 || int32(r.nameCap) < 0 {
		return r, false
	}
	vecs := make([]byte, 16*iovLen)
	if readMem(n.Pid, iov, vecs) != nil {
		return r, false
	}
	for i := range iovLen {
		r.iovs = append(r.iovs, unix.RemoteIovec{Base: uintptr(ne.Uint64(vecs[16*i:])), Len: int(min(ne.Uint64(vecs[16*i+8:]), 1<<30))})
	}
	return r, true
}

// write stores a received datagram in the caller's buffers.
// got is what the receive returned (the datagram's size with MSG_TRUNC).
func (r *recvCall) write(n *notif, data []byte, got int, src netip.AddrPort, domain int, oob []byte, flags int) error {
	ne := binary.NativeEndian
	rest := data
	var remote []unix.RemoteIovec
	for _, v := range r.iovs {
		if len(rest) == 0 {
			break
		}
		k := min(v.Len, len(rest))
		remote = append(remote, unix.RemoteIovec{Base: v.Base, Len: k})
		rest = rest[k:]
	}
	if len(data) > 0 {
		local := []unix.Iovec{{Base: &data[0], Len: uint64(len(data))}}
		if k, err := unix.ProcessVMWritev(int(n.Pid), local, remote, 0); err != nil || k != len(data) {
			return unix.EFAULT
		}
	}
	sa := rawSockaddr(src, domain)
	if err := writeMem(n.Pid, r.name, sa[:min(int(r.nameCap), len(sa))]); err != nil {
		return err
	}
	var l [4]byte
	ne.PutUint32(l[:], uint32(len(sa)))
	if err := writeMem(n.Pid, r.nameLen, l[:]); err != nil {
		return err
	}
	if r.hdr == 0 {
		return nil
	}
	if err := writeMem(n.Pid, r.ctl, oob); err != nil {
		return err
	}
	var cl [8]byte
	ne.PutUint64(cl[:], uint64(len(oob)))
	var fl [4]byte
	ne.PutUint32(fl[:], uint32(flags))
	if err := writeMem(n.Pid, r.hdr+40, cl[:]); err != nil {
		return err
	}
	if err := writeMem(n.Pid, r.hdr+48, fl[:]); err != nil {
		return err
	}
	if n.Nr == sysRecvmmsg {
		var ml [4]byte
		ne.PutUint32(ml[:], uint32(got))
		return writeMem(n.Pid, r.hdr+56, ml[:])
	}
	return nil
}

// rawSockaddr is the struct sockaddr_in or sockaddr_in6 of a socket of domain for ap.
func rawSockaddr(ap netip.AddrPort, domain int) []byte {
	ne := binary.NativeEndian
	if domain == unix.AF_INET {
		b := make([]byte, unix.SizeofSockaddrInet4)
		ne.PutUint16(b, unix.AF_INET)
		binary.BigEndian.PutUint16(b[2:], ap.Port())
		a := ap.Addr().Unmap().As4()
		copy(b[4:8], a[:])
		return b
	}
	b := make([]byte, unix.SizeofSockaddrInet6)
	ne.PutUint16(b, unix.AF_INET6)
	binary.BigEndian.PutUint16(b[2:], ap.Port())
	a := ap.Addr().As16()
	copy(b[8:24], a[:])
	if z := ap.Addr().Zone(); z != "" {
		if id, err := strconv.Atoi(z); err == nil {
			ne.PutUint32(b[24:], uint32(id))
		}
	}
	return b
}

// errRestart is Linux's ERESTARTSYS: a call answered with it is restarted if the signal
// that interrupts it has SA_RESTART, and fails with EINTR otherwise, as Linux treats
// blocking calls a signal interrupts. It must only be answered when the thread has a
// signal to handle, or the caller would see it.
const errRestart = unix.Errno(512)

// signalPending reports whether thread tid has a signal to handle that it does not block
// or ignore: one directed at the thread, or, in a process of one thread, at the
// process (in a process of several threads another thread may take it).
func signalPending(tid uint32) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return false
	}
	var private, shared, blocked, ignored, threads uint64
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if k == "Threads" {
			threads, _ = strconv.ParseUint(v, 10, 64)
			continue
		}
		x, err := strconv.ParseUint(v, 16, 64)
		if err != nil {
			continue
		}
		switch k {
		case "SigPnd":
			private = x
		case "ShdPnd":
			shared = x
		case "SigBlk":
			blocked = x
		case "SigIgn":
			ignored = x
		}
	}
	if threads == 1 {
		private |= shared
	}
	return private&^blocked&^ignored != 0
}
