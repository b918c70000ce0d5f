//go:build linux

package xdp

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/anybpf/anybpf"
	"github.com/anybpf/anybpf/progtype"
)

// portKey names an interface: interface indexes are per network namespace.
type portKey struct {
	netns   uint64 // the namespace's inode
	ifindex int
}

// The datapath's interfaces. regMu guards ports and every port's refs and peer changes;
// workers read snapshot, which is rebuilt whenever ports changes.
var (
	regMu    sync.Mutex
	ports    = map[portKey]*port{}
	snapshot atomic.Pointer[map[portKey]*port]
	seq      uint64 // attachment order, under regMu
)

// port is one interface of the datapath: its receive workers, the socket frames are sent
// out of it with, and the programs attached to it.
type port struct {
	key       portKey
	name      string
	frameSize int
	ringSize  int
	refs      int // attachments that use it, as their interface or their peer
	peer      atomic.Pointer[port]
	chain     atomic.Pointer[[]*Attachment]

	txMu     sync.RWMutex // held for reading while sending on txfd
	txfd     int
	tapfd    int // for a TAP device: its descriptor (txfd is -1 then)
	txClosed bool

	workers []*worker
	stopfd  int // an eventfd: readable when the workers are to stop
	wg      sync.WaitGroup
	c       counters

	statsMu   sync.Mutex
	ringDrops uint64
}

type counters struct {
	received, passed, dropped, aborted, transmit, redirected, forwarded, truncated, sendErrors atomic.Uint64
}

// Attachment is a program attached to an interface.
type Attachment struct {
	prog     *anybpf.Program
	port     *port
	peer     *port
	priority int
	seq      uint64
	closed   bool // under regMu
}

// Attach attaches an XDP program to opts.Interface and starts the datapath there (and on
// opts.Peer) if it is not running yet. The interfaces are looked up in the network
// namespace of the calling thread.
func Attach(prog *anybpf.Program, opts Options) (*Attachment, error) {
	if err := check(prog, opts); err != nil {
		return nil, err
	}
	// The namespace, interface indexes and sockets must all come from one thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return nil, fmt.Errorf("attach xdp to %s: network namespace: %w", opts.Interface, err)
	}
	ifc, err := net.InterfaceByName(opts.Interface)
	if err != nil {
		return nil, fmt.Errorf("attach xdp to %s: %w", opts.Interface, err)
	}
	var peerIfc *net.Interface
	if opts.TAP != "" {
		peerIfc = &net.Interface{Name: opts.TAP}
		if ifc, err := net.InterfaceByName(opts.TAP); err == nil {
			peerIfc = ifc // ours already, if this datapath made it
		}
	}
	if opts.Peer != "" {
		if peerIfc, err = net.InterfaceByName(opts.Peer); err != nil {
			return nil, fmt.Errorf("attach xdp to %s: peer: %w", opts.Interface, err)
		}
	}
	workers := opts.Workers
	if workers == 0 {
		workers = runtime.NumCPU()
	}
	frameSize := opts.FrameSize
	if frameSize == 0 {
		frameSize = 2048 - anybpf.XDPHeadroom
	}
	ringSize := opts.RingSize
	if ringSize == 0 {
		ringSize = 8 << 20
	}

	regMu.Lock()
	defer regMu.Unlock()
	p, err := acquire(portKey{st.Ino, ifc.Index}, ifc.Name, workers, frameSize, ringSize)
	if err != nil {
		return nil, fmt.Errorf("attach xdp to %s: %w", opts.Interface, err)
	}
	a := &Attachment{prog: prog, port: p, priority: opts.Priority}
	if peerIfc != nil {
		var peer *port
		var err error
		if opts.TAP != "" {
			peer, err = acquireTAP(st.Ino, peerIfc, frameSize)
		} else {
			peer, err = acquire(portKey{st.Ino, peerIfc.Index}, peerIfc.Name, workers, frameSize, ringSize)
		}
		if err != nil {
			release(p)
			return nil, fmt.Errorf("attach xdp to %s: peer %s: %w", opts.Interface, opts.Peer, err)
		}
		if cur := p.peer.Load(); cur != nil && cur != peer {
			release(peer)
			release(p)
			return nil, fmt.Errorf("attach xdp to %s: %w (%s, not %s)", opts.Interface, ErrPeerConflict, cur.name, peer.name)
		}
		p.peer.Store(peer)
		peer.peer.CompareAndSwap(nil, p)
		a.peer = peer
	}
	seq++
	a.seq = seq
	chain := append(slices.Clone(p.chainOf()), a)
	slices.SortStableFunc(chain, func(x, y *Attachment) int {
		return cmp.Or(cmp.Compare(x.priority, y.priority), cmp.Compare(x.seq, y.seq))
	})
	p.chain.Store(&chain)
	return a, nil
}

func check(prog *anybpf.Program, opts Options) error {
	switch {
	case prog == nil:
		return fmt.Errorf("%w: no program", ErrInvalidOptions)
	case prog.Type != progtype.XDP:
		return fmt.Errorf("%w: program %s is %s, not xdp", ErrInvalidOptions, prog.Name, prog.Type)
	case opts.Interface == "":
		return fmt.Errorf("%w: no interface", ErrInvalidOptions)
	case opts.Peer != "" && opts.TAP != "":
		return fmt.Errorf("%w: a peer or a TAP device, not both", ErrInvalidOptions)
	case opts.TAP == opts.Interface:
		return fmt.Errorf("%w: %s cannot be its own TAP device", ErrInvalidOptions, opts.TAP)
	case opts.Peer == opts.Interface:
		return fmt.Errorf("%w: %s cannot be its own peer", ErrInvalidOptions, opts.Peer)
	case opts.Workers < 0 || opts.Workers > 64:
		return fmt.Errorf("%w: %d workers (want 0 to 64)", ErrInvalidOptions, opts.Workers)
	case opts.FrameSize != 0 && (opts.FrameSize < 64 || opts.FrameSize > 65535):
		return fmt.Errorf("%w: frame size %d (want 64 to 65535)", ErrInvalidOptions, opts.FrameSize)
	case opts.RingSize != 0 && (opts.RingSize < 2*blockSize || opts.RingSize > 1<<30):
		return fmt.Errorf("%w: ring size %d (want %d to %d)", ErrInvalidOptions, opts.RingSize, 2*blockSize, 1<<30)
	}
	return nil
}

func (p *port) chainOf() []*Attachment {
	if c := p.chain.Load(); c != nil {
		return *c
	}
	return nil
}

// acquire returns the port for key, starting it if needed, with a reference taken.
// regMu is held.
func acquire(key portKey, name string, workers, frameSize, ringSize int) (*port, error) {
	if p := ports[key]; p != nil {
		p.refs++
		return p, nil
	}
	p, err := openPort(key, name, workers, frameSize, ringSize)
	if err != nil {
		return nil, err
	}
	p.refs = 1
	ports[key] = p
	publish()
	return p, nil
}

// acquireTAP returns the port of the TAP device ifc names, creating the device unless
// this datapath has made it already, with a reference taken. regMu is held.
func acquireTAP(netns uint64, ifc *net.Interface, frameSize int) (*port, error) {
	if ifc.Index != 0 {
		if p := ports[portKey{netns, ifc.Index}]; p != nil && p.tapfd >= 0 {
			p.refs++
			return p, nil
		}
	}
	fd, index, err := openTAP(ifc.Name)
	if err != nil {
		return nil, err
	}
	key := portKey{netns, index}
	p, err := openTAPPort(key, ifc.Name, fd, frameSize)
	if err != nil {
		return nil, err
	}
	p.refs = 1
	ports[key] = p
	publish()
	return p, nil
}

// release drops a reference to p and stops it with the last. regMu is held.
func release(p *port) {
	p.refs--
	if p.refs > 0 {
		return
	}
	delete(ports, p.key)
	for _, q := range ports {
		q.peer.CompareAndSwap(p, nil)
	}
	publish()
	p.stop()
}

func publish() {
	m := make(map[portKey]*port, len(ports))
	for k, p := range ports {
		m[k] = p
	}
	snapshot.Store(&m)
}

// Close detaches the program; the interface's workers stop when nothing else is
// attached to it (or uses it as a peer). Closing twice is not an error.
func (a *Attachment) Close() error {
	regMu.Lock()
	defer regMu.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true
	chain := slices.DeleteFunc(slices.Clone(a.port.chainOf()), func(x *Attachment) bool { return x == a })
	a.port.chain.Store(&chain)
	if a.peer != nil {
		release(a.peer)
	}
	release(a.port)
	return nil
}

// Info returns the program's name, and the interface and its peer ("" if none).
func (a *Attachment) Info() (program, iface, peer string) {
	if a.peer != nil {
		peer = a.peer.name
	}
	return a.prog.Name, a.port.name, peer
}

// Stats returns the counts of the attachment's interface (shared by every program
// attached there).
func (a *Attachment) Stats() Stats { return a.port.stats() }

func (p *port) stats() Stats {
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	// PACKET_STATISTICS resets on reading: keep the sum.
	p.txMu.RLock()
	if !p.txClosed {
		for _, w := range p.workers {
			if w.fd < 0 {
				continue
			}
			if s, err := unix.GetsockoptTpacketStatsV3(w.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
				p.ringDrops += uint64(s.Drops)
			}
		}
	}
	p.txMu.RUnlock()
	return Stats{
		Received:   p.c.received.Load(),
		Passed:     p.c.passed.Load(),
		Dropped:    p.c.dropped.Load(),
		Aborted:    p.c.aborted.Load(),
		Transmit:   p.c.transmit.Load(),
		Redirected: p.c.redirected.Load(),
		Forwarded:  p.c.forwarded.Load(),
		Truncated:  p.c.truncated.Load(),
		SendErrors: p.c.sendErrors.Load(),
		RingDrops:  p.ringDrops,
	}
}

// openPort opens the sockets of an interface and starts its workers.
func openPort(key portKey, name string, workers, frameSize, ringSize int) (_ *port, err error) {
	p := &port{key: key, name: name, frameSize: frameSize, ringSize: ringSize, txfd: -1, tapfd: -1, stopfd: -1}
	defer func() {
		if err != nil {
			p.closeFDs()
		}
	}()
	if p.txfd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0); err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	// Protocol 0: the sending socket receives nothing.
	if err := unix.Bind(p.txfd, &unix.SockaddrLinklayer{Ifindex: key.ifindex}); err != nil {
		return nil, fmt.Errorf("bind packet socket: %w", err)
	}
	// Frames go straight to the driver, as XDP_TX and redirects do in the kernel.
	_ = unix.SetsockoptInt(p.txfd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
	if p.stopfd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	fanout := 0
	for i := range workers {
		w, err := openWorker(p, i, &fanout)
		if err != nil {
			return nil, err
		}
		p.workers = append(p.workers, w)
	}
	for _, w := range p.workers {
		p.wg.Add(1)
		go w.run()
	}
	return p, nil
}

// stop stops the workers, then closes the sockets and unmaps the rings.
func (p *port) stop() {
	var one [8]byte
	one[0] = 1
	_, _ = unix.Write(p.stopfd, one[:])
	p.wg.Wait()
	p.closeFDs()
}

func (p *port) closeFDs() {
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	p.txMu.Lock()
	defer p.txMu.Unlock()
	if p.txClosed {
		return
	}
	p.txClosed = true
	for _, w := range p.workers {
		w.close()
	}
	if p.txfd >= 0 {
		unix.Close(p.txfd)
	}
	if p.tapfd >= 0 {
		unix.Close(p.tapfd)
	}
	if p.stopfd >= 0 {
		unix.Close(p.stopfd)
	}
}

// send sends frames out of the port, as one sendmmsg call where it can. It returns how
// many the kernel took.
func (p *port) send(b *batch) int {
	p.txMu.RLock()
	defer p.txMu.RUnlock()
	switch {
	case p.txClosed:
		return 0
	case p.tapfd >= 0:
		return b.sendTAP(p.tapfd)
	}
	return b.send(p.txfd)
}

var errStopped = errors.New("stopped")
