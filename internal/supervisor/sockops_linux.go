package supervisor

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/anybpf/anybpf"
	"github.com/anybpf/anybpf/progtype"
)

// Linux's enum bpf_sock_ops_op and callback flags, and its TCP states (BPF_TCP_*).
const (
	sockOpsActiveEstablished  = 4  // BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB
	sockOpsPassiveEstablished = 5  // BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB
	sockOpsStateCB            = 10 // BPF_SOCK_OPS_STATE_CB
	sockOpsTCPListen          = 11 // BPF_SOCK_OPS_TCP_LISTEN_CB
	tcpListen                 = 10 // BPF_TCP_LISTEN
	sockOpsStateCBFlag        = 4  // BPF_SOCK_OPS_STATE_CB_FLAG
	tcpClose                  = 7  // BPF_TCP_CLOSE
)

// connectWait bounds how long the supervisor watches a non-blocking connect in progress
// (Linux gives up on a SYN after about two minutes with its default retries).
const connectWait = 3 * time.Minute

// awaitConnected waits for a non-blocking connect on sock to finish and reports whether
// it established a connection. It does not read SO_ERROR, which would take the error
// from the caller.
func (s *Supervisor) awaitConnected(sock int) bool {
	deadline := time.Now().Add(connectWait)
	fds := []unix.PollFd{{Fd: int32(sock), Events: unix.POLLOUT}}
	for !s.closing.Load() && time.Now().Before(deadline) {
		fds[0].Revents = 0
		n, err := unix.Poll(fds, 100)
		if err != nil && err != unix.EINTR {
			return false
		}
		if n > 0 {
			_, err := unix.Getpeername(sock)
			return err == nil
		}
	}
	return false
}

// established runs the sock_ops programs on the connection of sock (a connect that
// succeeded, or an accepted connection) and, if a program asked for state callbacks,
// remembers the connection for its close event. The caller holds sock open, so the
// connection cannot be destroyed before it is remembered.
func (s *Supervisor) established(sock int, op uint32, progs []*anybpf.Program) {
	lsa, err1 := unix.Getsockname(sock)
	rsa, err2 := unix.Getpeername(sock)
	domain, err3 := unix.GetsockoptInt(sock, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err1 != nil || err2 != nil || err3 != nil {
		return // reset already: Linux would have run the callback, but there is no peer now
	}
	local, remote := addrPortOf(lsa), addrPortOf(rsa)
	ctx := sockOpsContext(op, domain, local, remote)
	var info *unix.TCPInfo
	if ti, err := unix.GetsockoptTCPInfo(sock, unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
		info = ti
		fillTCPInfo(ctx, info)
	}
	cookie, _ := unix.GetsockoptUint64(sock, unix.SOL_SOCKET, unix.SO_COOKIE)
	flags := s.runSockOps(ctx, progs, cookie)
	if flags&sockOpsStateCBFlag == 0 {
		return
	}
	proto, _ := unix.GetsockoptInt(sock, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	c := &conn{ctx: ctx, progs: progs, cookie: cookie, sockCookie: cookie, tuple: tupleOf(local, remote)}
	if proto == unix.IPPROTO_MPTCP {
		// Linux reports the destruction of the connection's TCP subflow, whose cookie
		// is not the MPTCP socket's: match it by its addresses.
		c.cookie = 0
	}
	if err := s.conns.add(c, s.closed); err != nil {
		s.errs.Add(1)
	}
}

// closed runs the state callback of a remembered connection whose socket was destroyed.
func (s *Supervisor) closed(c *conn) {
	ctx := c.ctx
	binary.LittleEndian.PutUint32(ctx[progtype.SockOpsOpOffset:], sockOpsStateCB)
	binary.LittleEndian.PutUint32(ctx[4:], 0)        // args[0], the old state: not known
	binary.LittleEndian.PutUint32(ctx[8:], tcpClose) // args[1], the new state
	binary.LittleEndian.PutUint32(ctx[12:], 0)
	binary.LittleEndian.PutUint32(ctx[16:], 0)
	// The counters read from TCP_INFO at establishment are not known at the close.
	clear(ctx[76:progtype.SockOpsCBFlagsOffset])
	clear(ctx[92:progtype.SockOpsTxhashOffset])
	clear(ctx[168:184])
	binary.LittleEndian.PutUint32(ctx[88:], tcpClose)
	s.runSockOps(ctx, c.progs, c.sockCookie)
}

// runSockOps runs progs in order on ctx (each sees what the previous left in
// bpf_sock_ops_cb_flags; bpf_get_socket_cookie gives cookie) and returns the callback
// flags they left.
func (s *Supervisor) runSockOps(ctx []byte, progs []*anybpf.Program, cookie uint64) uint32 {
	s.sockOpsEvents.Add(1)
	for _, p := range progs {
		opts := &anybpf.RunOptions{Context: ctx, SocketCookie: cookie}
		if _, err := p.Run(opts); err != nil {
			s.errs.Add(1)
			continue
		}
		flags := binary.LittleEndian.Uint32(opts.ContextOut[progtype.SockOpsCBFlagsOffset:])
		binary.LittleEndian.PutUint32(ctx[progtype.SockOpsCBFlagsOffset:], flags)
	}
	return binary.LittleEndian.Uint32(ctx[progtype.SockOpsCBFlagsOffset:])
}

// sockOpsContext builds the struct bpf_sock_ops of callback op on a connection from
// local to remote, in Linux's layout: addresses in network order, remote_port in network
// order in the upper 16 bits (as Linux loads skc_dport shifted left by 16), local_port in
// host order.
func sockOpsContext(op uint32, domain int, local, remote netip.AddrPort) []byte {
	ctx := make([]byte, progtype.SockOpsSize)
	le := binary.LittleEndian
	le.PutUint32(ctx[progtype.SockOpsOpOffset:], op)
	le.PutUint32(ctx[20:], uint32(domain))
	if l, r := local.Addr().Unmap(), remote.Addr().Unmap(); l.Is4() && r.Is4() {
		// IPv4, or an IPv6 socket's IPv4-mapped connection, whose IPv4 addresses
		// Linux shows in remote_ip4/local_ip4 too.
		a, b := r.As4(), l.As4()
		copy(ctx[24:28], a[:])
		copy(ctx[28:32], b[:])
	}
	if domain == unix.AF_INET6 {
		a, b := remote.Addr().As16(), local.Addr().As16()
		copy(ctx[32:48], a[:])
		copy(ctx[48:64], b[:])
	}
	binary.BigEndian.PutUint32(ctx[64:], uint32(remote.Port()))
	le.PutUint32(ctx[68:], uint32(local.Port()))
	le.PutUint32(ctx[progtype.SockOpsIsFullsockOffset:], 1)
	le.PutUint32(ctx[88:], 1) // state: BPF_TCP_ESTABLISHED
	return ctx
}

// fillTCPInfo copies what TCP_INFO tells into the bpf_sock_ops fields Linux reads from
// the TCP socket.
func fillTCPInfo(ctx []byte, ti *unix.TCPInfo) {
	le := binary.LittleEndian
	for _, f := range []struct {
		off int
		v   uint32
	}{
		{76, ti.Snd_cwnd}, {80, ti.Rtt << 3}, {92, ti.Min_rtt},
		{96, ti.Snd_ssthresh}, {112, ti.Snd_mss}, {128, ti.Unacked}, {132, ti.Retrans},
		{136, ti.Total_retrans}, {140, ti.Segs_in}, {144, ti.Data_segs_in}, {148, ti.Segs_out},
		{152, ti.Data_segs_out}, {156, ti.Lost}, {160, ti.Sacked},
	} {
		le.PutUint32(ctx[f.off:], f.v)
	}
	le.PutUint64(ctx[168:], ti.Bytes_received)
	le.PutUint64(ctx[176:], ti.Bytes_acked)
}

func addrPortOf(sa unix.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port))
	}
	return netip.AddrPort{}
}

// tuple identifies a live TCP connection.
type tuple struct{ local, remote netip.AddrPort }

// tupleOf normalizes a connection's addresses as Linux's socket diagnostics give them
// (IPv4-mapped addresses of IPv6 sockets are given as IPv6 there too).
func tupleOf(local, remote netip.AddrPort) tuple { return tuple{local, remote} }

// conn is a connection waiting for its close event.
type conn struct {
	ctx        []byte
	progs      []*anybpf.Program
	cookie     uint64 // the cookie Linux reports at the close; 0 to match by tuple
	sockCookie uint64 // the socket's SO_COOKIE, which the programs see
	tuple      tuple
}

// connTable holds the connections whose close the sock_ops programs asked to see, and
// the socket-diagnostics listener that reports TCP socket destruction
// (SKNLGRP_INET_TCP_DESTROY, SKNLGRP_INET6_TCP_DESTROY: Linux broadcasts the address,
// ports and cookie of each TCP socket it frees, to listeners with CAP_NET_ADMIN in the
// socket's network namespace).
type connTable struct {
	mu       sync.Mutex
	byCookie map[uint64]*conn
	byTuple  map[tuple]*conn
	nl       int // the netlink socket, 0 before it is opened
	done     chan struct{}
	stopping bool
}

// add remembers c, opening the listener first if needed; onClose runs on its close.
func (t *connTable) add(c *conn, onClose func(*conn)) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopping {
		return ErrClosed
	}
	if t.nl == 0 {
		fd, err := openDestroyListener()
		if err != nil {
			return err
		}
		t.nl, t.done = fd, make(chan struct{})
		t.byCookie, t.byTuple = map[uint64]*conn{}, map[tuple]*conn{}
		go t.read(onClose)
	}
	if c.cookie != 0 {
		t.byCookie[c.cookie] = c
	} else {
		t.byTuple[c.tuple] = c
	}
	return nil
}

// pending is how many connections wait for their close.
func (t *connTable) pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byCookie) + len(t.byTuple)
}

// drain waits up to d for the remembered connections' close events.
func (t *connTable) drain(d time.Duration) {
	for end := time.Now().Add(d); t.pending() > 0 && time.Now().Before(end); {
		time.Sleep(5 * time.Millisecond)
	}
}

// close stops the listener; connections still open get no close event.
func (t *connTable) close() {
	t.mu.Lock()
	t.stopping = true
	done := t.done
	t.mu.Unlock()
	if done != nil {
		<-done
		unix.Close(t.nl)
	}
}

func openDestroyListener() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return 0, err
	}
	fail := func(err error) (int, error) {
		unix.Close(fd)
		return 0, err
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fail(err)
	}
	for _, g := range []int{unix.SKNLGRP_INET_TCP_DESTROY, unix.SKNLGRP_INET6_TCP_DESTROY} {
		if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, g); err != nil {
			return fail(err)
		}
	}
	// Every TCP socket of the namespace is reported: a large buffer loses fewer.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
	tv := unix.Timeval{Usec: 100_000}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fail(err)
	}
	return fd, nil
}

// read receives destruction reports until the table stops.
func (t *connTable) read(onClose func(*conn)) {
	defer close(t.done)
	buf := make([]byte, 64<<10)
	for {
		t.mu.Lock()
		stop := t.stopping
		t.mu.Unlock()
		if stop {
			return
		}
		n, _, err := unix.Recvfrom(t.nl, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) || errors.Is(err, unix.ENOBUFS) {
				continue
			}
			return
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			continue
		}
		for _, m := range msgs {
			if c := t.match(m.Data); c != nil {
				onClose(c)
			}
		}
	}
}

// match finds and forgets the connection a struct inet_diag_msg reports.
func (t *connTable) match(d []byte) *conn {
	if len(d) < 72 {
		return nil
	}
	family := d[0]
	sport, dport := binary.BigEndian.Uint16(d[4:6]), binary.BigEndian.Uint16(d[6:8])
	cookie := uint64(binary.NativeEndian.Uint32(d[44:48])) | uint64(binary.NativeEndian.Uint32(d[48:52]))<<32
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.byCookie[cookie]; c != nil {
		delete(t.byCookie, cookie)
		return c
	}
	if len(t.byTuple) == 0 {
		return nil
	}
	var src, dst netip.Addr
	if family == unix.AF_INET {
		src, dst = netip.AddrFrom4([4]byte(d[8:12])), netip.AddrFrom4([4]byte(d[24:28]))
	} else {
		src, dst = netip.AddrFrom16([16]byte(d[8:24])), netip.AddrFrom16([16]byte(d[24:40]))
	}
	for _, k := range []tuple{
		{netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport)},
		{netip.AddrPortFrom(netip.AddrFrom16(src.As16()), sport), netip.AddrPortFrom(netip.AddrFrom16(dst.As16()), dport)},
		{netip.AddrPortFrom(src.Unmap(), sport), netip.AddrPortFrom(dst.Unmap(), dport)},
	} {
		if c := t.byTuple[k]; c != nil {
			delete(t.byTuple, k)
			return c
		}
	}
	return nil
}

// seccompNotifAddfd is struct seccomp_notif_addfd.
type seccompNotifAddfd struct {
	ID         uint64
	Flags      uint32
	Srcfd      uint32
	Newfd      uint32
	NewfdFlags uint32
}

// accept performs an accept or accept4 of a TCP listening socket on the supervisor's
// copy of it, runs the sock_ops programs on the new connection, and installs it in the
// caller (SECCOMP_IOCTL_NOTIF_ADDFD with SECCOMP_ADDFD_FLAG_SEND: the descriptor and the
// call's result arrive together).
func (s *Supervisor) accept(c *call) error {
	n, h := c.n, c.hooks
	if len(h.SockOps) == 0 {
		s.respond(n, 0, 0, true)
		return nil
	}
	fd, addrPtr, lenPtr := int(int32(n.Args[0])), n.Args[1], n.Args[2]
	flags := 0
	if n.Nr == sysAccept4 {
		flags = int(int32(n.Args[3]))
	}
	if flags&^(unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC) != 0 {
		s.respond(n, 0, 0, true) // the kernel refuses it
		return nil
	}
	addrLen := int32(0)
	if addrPtr != 0 {
		var b [4]byte
		if readMem(n.Pid, lenPtr, b[:]) != nil {
			s.respond(n, 0, 0, true) // the kernel reports the bad address itself
			return nil
		}
		if addrLen = int32(binary.NativeEndian.Uint32(b[:])); addrLen < 0 {
			s.respond(n, 0, 0, true)
			return nil
		}
	}
	sock, answered, err := s.callSocket(n, fd)
	if answered || err != nil {
		return err
	}
	defer unix.Close(sock)
	typ, proto, domain, ok := sockKind(sock)
	if !ok || !isTCP(typ, proto) || !isInet(domain) {
		s.respond(n, 0, 0, true)
		return nil
	}
	fl, err := unix.FcntlInt(uintptr(sock), unix.F_GETFL, 0)
	if err != nil {
		return err
	}
	if fl&unix.O_NONBLOCK == 0 && !readable(sock) {
		// A blocking accept with no connection waiting: another goroutine receives
		// notifications while this one waits for a connection (or the socket's
		// receive timeout), noticing a caller that went away.
		c.handOff()
		ok, errno := s.awaitReadable(n, sock)
		if !ok {
			if errno != 0 {
				s.respond(n, 0, errno, false)
			}
			return nil
		}
	}
	var rsa unix.RawSockaddrAny
	rlen := uint32(unsafe.Sizeof(rsa))
	r, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(sock), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&rlen)),
		uintptr(flags&unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC), 0, 0)
	if e != 0 {
		s.respond(n, 0, e, false)
		return nil
	}
	nfd := int(r)
	defer unix.Close(nfd)
	if addrPtr != 0 {
		raw := (*[unsafe.Sizeof(rsa)]byte)(unsafe.Pointer(&rsa))[:min(uint32(addrLen), rlen)]
		var l [4]byte
		binary.NativeEndian.PutUint32(l[:], rlen)
		if writeMem(n.Pid, addrPtr, raw) != nil || writeMem(n.Pid, lenPtr, l[:]) != nil {
			s.respond(n, 0, unix.EFAULT, false) // as Linux, the connection is lost
			return nil
		}
	}
	s.established(nfd, sockOpsPassiveEstablished, h.SockOps)
	add := seccompNotifAddfd{ID: n.ID, Flags: unix.SECCOMP_ADDFD_FLAG_SEND, Srcfd: uint32(nfd)}
	if flags&unix.SOCK_CLOEXEC != 0 {
		add.NewfdFlags = unix.O_CLOEXEC
	}
	if err := ioctl(s.listener, unix.SECCOMP_IOCTL_NOTIF_ADDFD, unsafe.Pointer(&add)); err != nil {
		if errno, ok := err.(unix.Errno); ok && errno != unix.ENOENT && s.valid(n) {
			s.respond(n, 0, errno, false) // EMFILE and the like: the call fails with it
		}
	}
	return nil
}

// awaitReadable waits until sock has a connection to accept or a datagram to receive.
// It returns false with the errno to answer (EAGAIN after SO_RCVTIMEO; errRestart when
// the caller's thread has a signal to handle, which it cannot while it waits for the
// supervisor; EINTR when the supervisor stops), or 0 when the call is gone.
func (s *Supervisor) awaitReadable(n *notif, sock int) (bool, unix.Errno) {
	var deadline time.Time
	if tv, err := unix.GetsockoptTimeval(sock, unix.SOL_SOCKET, unix.SO_RCVTIMEO); err == nil && (tv.Sec != 0 || tv.Usec != 0) {
		deadline = time.Now().Add(time.Duration(tv.Nano()))
	}
	fds := []unix.PollFd{{Fd: int32(sock), Events: unix.POLLIN}}
	for {
		if s.closing.Load() {
			return false, unix.EINTR
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return false, unix.EAGAIN
		}
		fds[0].Revents = 0
		k, err := unix.Poll(fds, 100)
		if err != nil && err != unix.EINTR {
			return false, err.(unix.Errno)
		}
		if k > 0 {
			return true, 0
		}
		if !s.valid(n) {
			return false, 0
		}
		if signalPending(n.Pid) {
			if !deadline.IsZero() {
				return false, unix.EINTR // as Linux, for a call with a timeout
			}
			return false, errRestart
		}
	}
}

// readable reports whether sock has something to read (a connection to accept) now.
func readable(sock int) bool {
	fds := []unix.PollFd{{Fd: int32(sock), Events: unix.POLLIN}}
	k, err := unix.Poll(fds, 0)
	return err == nil && k > 0
}

// listen performs a TCP socket's listen on the supervisor's copy of it and, when the
// socket starts listening, runs the sock_ops programs with BPF_SOCK_OPS_TCP_LISTEN_CB,
// as Linux does once a socket enters the listening state.
func (s *Supervisor) listen(c *call) error {
	n, h := c.n, c.hooks
	if len(h.SockOps) == 0 {
		s.respond(n, 0, 0, true)
		return nil
	}
	fd, backlog := int(int32(n.Args[0])), int(int32(n.Args[1]))
	sock, answered, err := s.callSocket(n, fd)
	if answered || err != nil {
		return err
	}
	defer unix.Close(sock)
	typ, proto, domain, ok := sockKind(sock)
	listening, err := unix.GetsockoptInt(sock, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	if !ok || err != nil || !isTCP(typ, proto) || !isInet(domain) {
		s.respond(n, 0, 0, true)
		return nil
	}
	if !s.valid(n) {
		return nil
	}
	if err := unix.Listen(sock, backlog); err != nil {
		errno, ok := err.(unix.Errno)
		if !ok {
			errno = unix.EINVAL
		}
		s.respond(n, 0, errno, false)
		return nil
	}
	if listening == 0 {
		if lsa, err := unix.Getsockname(sock); err == nil {
			local := addrPortOf(lsa)
			none := netip.AddrPortFrom(netip.IPv6Unspecified(), 0)
			if local.Addr().Unmap().Is4() {
				none = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
			}
			ctx := sockOpsContext(sockOpsTCPListen, domain, local, none)
			binary.LittleEndian.PutUint32(ctx[88:], tcpListen)
			cookie, _ := unix.GetsockoptUint64(sock, unix.SOL_SOCKET, unix.SO_COOKIE)
			s.runSockOps(ctx, h.SockOps, cookie)
		}
	}
	s.respond(n, 0, 0, false)
	return nil
}
