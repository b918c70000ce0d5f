//go:build linux

package xdp

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/anybpf/anybpf"
)

// The receive ring: blocks of blockSize bytes (Options.RingSize / blockSize of them). A
// block is handed to the worker when it is full or after retireTimeout milliseconds.
const (
	blockSize     = 1 << 18
	ringFrameSize = 2048 // TPACKET_V3 frames are variable; this only sizes the request
	retireTimeout = 1    // ms (rounded up to a scheduler tick by the kernel)
	batchSize     = 64   // frames sent with one sendmmsg
)

// worker receives one share of an interface's frames (its fanout group member) and runs
// the interface's programs on them.
type worker struct {
	p     *port
	index int
	fd    int
	ring  []byte
	nr    int // blocks in the ring
	frame *anybpf.XDPFrame
	// out holds the frames waiting to be sent, one batch per destination.
	out []*batch
}

// openWorker opens a TPACKET_V3 receive socket on the port's interface and joins the
// port's fanout group (*fanout is the group id, 0 until the first worker makes one).
func openWorker(p *port, index int, fanout *int) (_ *worker, err error) {
	w := &worker{p: p, index: index, fd: -1, frame: newWorkerFrame(p.frameSize), nr: max(p.ringSize/blockSize, 2)}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	// Protocol 0 until bound, so that nothing arrives before the ring is set up.
	if w.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0); err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	if err := unix.SetsockoptInt(w.fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return nil, fmt.Errorf("TPACKET_V3: %w", err)
	}
	// Frames this host sends (the datapath's own among them) are not for the programs.
	// (Before Linux 4.20 there is no such option: block() skips them by their type.)
	_ = unix.SetsockoptInt(w.fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	req := unix.TpacketReq3{
		Block_size:       blockSize,
		Block_nr:         uint32(w.nr),
		Frame_size:       ringFrameSize,
		Frame_nr:         blockSize / ringFrameSize * uint32(w.nr),
		Retire_blk_tov:   retireTimeout,
		Feature_req_word: 0,
	}
	if err := unix.SetsockoptTpacketReq3(w.fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return nil, fmt.Errorf("PACKET_RX_RING: %w", err)
	}
	if w.ring, err = unix.Mmap(w.fd, 0, blockSize*w.nr, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return nil, fmt.Errorf("mmap ring: %w", err)
	}
	if err := unix.Bind(w.fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: p.key.ifindex}); err != nil {
		return nil, fmt.Errorf("bind packet socket: %w", err)
	}
	mode := unix.PACKET_FANOUT_HASH
	if *fanout == 0 {
		// Let the kernel pick a group id no one else in the namespace uses.
		if err := unix.SetsockoptInt(w.fd, unix.SOL_PACKET, unix.PACKET_FANOUT, (mode|unix.PACKET_FANOUT_FLAG_UNIQUEID)<<16); err != nil {
			return nil, fmt.Errorf("PACKET_FANOUT: %w", err)
		}
		id, err := unix.GetsockoptInt(w.fd, unix.SOL_PACKET, unix.PACKET_FANOUT)
		if err != nil {
			return nil, fmt.Errorf("PACKET_FANOUT group: %w", err)
		}
		*fanout = id&0xffff | 1<<16 // the id, and a flag saying it is set (id may be 0)
	} else if err := unix.SetsockoptInt(w.fd, unix.SOL_PACKET, unix.PACKET_FANOUT, *fanout&0xffff|mode<<16); err != nil {
		return nil, fmt.Errorf("PACKET_FANOUT join: %w", err)
	}
	return w, nil
}

func newWorkerFrame(frameSize int) *anybpf.XDPFrame { return anybpf.NewXDPFrame(frameSize) }

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (w *worker) close() {
	if w.ring != nil {
		unix.Munmap(w.ring)
		w.ring = nil
	}
	if w.fd >= 0 {
		unix.Close(w.fd)
		w.fd = -1
	}
}

// Offsets in struct tpacket_block_desc (its tpacket_hdr_v1) and struct tpacket3_hdr.
const (
	blockStatus      = 8
	blockNumPkts     = 12
	blockFirstPkt    = 16
	tp3Size          = 48 // sizeof(struct tpacket3_hdr), TPACKET_ALIGNed; sockaddr_ll follows
	sllPkttypeOffset = 10
)

// run takes blocks from the ring until the port stops.
func (w *worker) run() {
	defer w.p.wg.Done()
	fds := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}, {Fd: int32(w.p.stopfd), Events: unix.POLLIN}}
	for cur := 0; ; {
		block := w.ring[cur*blockSize : (cur+1)*blockSize]
		status := (*uint32)(unsafe.Pointer(&block[blockStatus]))
		if atomic.LoadUint32(status)&unix.TP_STATUS_USER == 0 {
			fds[0].Revents, fds[1].Revents = 0, 0
			if _, err := unix.Poll(fds, -1); err != nil && err != unix.EINTR {
				return
			}
			if fds[1].Revents != 0 || fds[0].Revents&(unix.POLLHUP|unix.POLLNVAL) != 0 {
				return
			}
			if fds[0].Revents&unix.POLLERR != 0 {
				// The interface went down (ENETDOWN) or away: take the error, which
				// clears it, and wait for it to come back or for Close.
				if e, _ := unix.GetsockoptInt(w.fd, unix.SOL_SOCKET, unix.SO_ERROR); e == int(unix.ENXIO) || e == int(unix.ENODEV) {
					return
				}
			}
			continue
		}
		w.block(block)
		w.flush()
		atomic.StoreUint32(status, unix.TP_STATUS_KERNEL)
		cur = (cur + 1) % w.nr
	}
}

// block runs the programs on every frame of a block.
func (w *worker) block(block []byte) {
	n := binary.NativeEndian.Uint32(block[blockNumPkts:])
	off := int(binary.NativeEndian.Uint32(block[blockFirstPkt:]))
	for range n {
		if off <= 0 || off+tp3Size > len(block) {
			return
		}
		h := (*unix.Tpacket3Hdr)(unsafe.Pointer(&block[off]))
		mac, snap := off+int(h.Mac), int(h.Snaplen)
		if mac+snap <= len(block) && block[off+tp3Size+sllPkttypeOffset] != unix.PACKET_OUTGOING {
			w.frameIn(block[mac:mac+snap], int(h.Len), h.Status, h.Hv1)
		}
		if h.Next_offset == 0 {
			return
		}
		off += int(h.Next_offset)
	}
}

// frameIn runs the interface's programs on one frame and carries out the verdict.
func (w *worker) frameIn(pkt []byte, wireLen int, status uint32, hv unix.TpacketHdrVariant1) {
	p := w.p
	p.c.received.Add(1)
	vlan := status&unix.TP_STATUS_VLAN_VALID != 0
	size := wireLen
	if vlan {
		size += 4
	}
	if wireLen != len(pkt) || size > w.frame.MaxSize() {
		p.c.truncated.Add(1)
		return
	}
	buf, err := w.frame.Reset(size, uint32(p.key.ifindex), 0)
	if err != nil {
		p.c.truncated.Add(1) // runt frame
		return
	}
	if vlan {
		// The kernel took the VLAN tag out of the frame: put it back.
		tpid := uint16(0x8100)
		if status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
			tpid = hv.Vlan_tpid
		}
		copy(buf, pkt[:12])
		binary.BigEndian.PutUint16(buf[12:], tpid)
		binary.BigEndian.PutUint16(buf[14:], uint16(hv.Vlan_tci))
		copy(buf[16:], pkt[12:])
	} else {
		copy(buf, pkt)
	}
	if status&unix.TP_STATUS_CSUMNOTREADY != 0 {
		completeChecksum(buf)
	}
	verdict := uint32(Pass)
	for _, a := range p.chainOf() {
		v, err := a.prog.RunXDP(w.frame)
		if err != nil {
			v = Aborted
		}
		if v != Pass {
			verdict = v
			break
		}
	}
	switch verdict {
	case Pass:
		p.c.passed.Add(1)
		if peer := p.peer.Load(); peer != nil {
			w.queue(peer, w.frame.Data())
			p.c.forwarded.Add(1)
		}
	case Drop:
		p.c.dropped.Add(1)
	case TX:
		p.c.transmit.Add(1)
		w.queue(p, w.frame.Data())
	case Redirect:
		r := w.frame.Redirect()
		var to *port
		if r != nil && r.Ifindex != 0 {
			to = (*snapshot.Load())[portKey{p.key.netns, int(r.Ifindex)}]
		}
		if to == nil {
			p.c.sendErrors.Add(1)
			return
		}
		p.c.redirected.Add(1)
		w.queue(to, w.frame.Data())
	default:
		p.c.aborted.Add(1)
	}
}

// queue copies a frame into the batch for port to.
func (w *worker) queue(to *port, frame []byte) {
	var b *batch
	for _, q := range w.out {
		if q.to == to {
			b = q
			break
		}
	}
	if b == nil {
		b = newBatch(to, w.frame.MaxSize()+2*anybpf.XDPHeadroom)
		w.out = append(w.out, b)
	}
	if b.n == batchSize {
		w.flushBatch(b)
	}
	b.add(frame)
}

// flush sends every batch.
func (w *worker) flush() {
	for _, b := range w.out {
		if b.n > 0 {
			w.flushBatch(b)
		}
	}
}

func (w *worker) flushBatch(b *batch) {
	sent := b.to.send(b)
	if sent < b.n {
		w.p.c.sendErrors.Add(uint64(b.n - sent))
	}
	b.n = 0
}

// batch is frames waiting to go out of one port.
type batch struct {
	to   *port
	bufs [batchSize][]byte
	iov  [batchSize]unix.Iovec
	msgs [batchSize]mmsghdr
	n    int
}

// mmsghdr is struct mmsghdr.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

func newBatch(to *port, size int) *batch {
	b := &batch{to: to}
	for i := range b.bufs {
		b.bufs[i] = make([]byte, size)
		b.iov[i].Base = &b.bufs[i][0]
		b.msgs[i].hdr.Iov = &b.iov[i]
		b.msgs[i].hdr.Iovlen = 1
	}
	return b
}

func (b *batch) add(frame []byte) {
	n := copy(b.bufs[b.n], frame)
	b.iov[b.n].SetLen(n)
	b.n++
}

// send sends the batch on fd with sendmmsg and returns how many frames the kernel took.
func (b *batch) send(fd int) int {
	taken := 0
	for i := 0; i < b.n; {
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.msgs[i])), uintptr(b.n-i), 0, 0, 0)
		switch {
		case errno == unix.EINTR:
		case errno != 0 || r == 0:
			i++ // the frame at i was refused (too long for the MTU, no buffer): skip it
		default:
			i += int(r)
			taken += int(r)
		}
	}
	return taken
}
