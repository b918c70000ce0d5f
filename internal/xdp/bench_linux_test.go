//go:build linux

package xdp

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	ciliumlink "github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/anybpf/anybpf"
)

// benchFrame is a 60-byte frame (64 on the wire with the FCS): Ethernet, IPv4, UDP from
// 198.18.0.1:1000 to 198.18.0.2:9 and 18 bytes of payload.
func benchFrame(dst, src net.HardwareAddr) []byte {
	f := udpFrame(dst, src, net.IPv4(198, 18, 0, 1), net.IPv4(198, 18, 0, 2), 1000, 9, make([]byte, 18))
	if len(f) != 60 {
		panic(len(f))
	}
	return f
}

// BenchmarkFrameIn is one worker's cost per frame without the sockets: copying the frame
// out of the ring, running the program, and queueing the result (drop, pass to nowhere,
// TX into a batch whose sending is skipped).
func BenchmarkFrameIn(b *testing.B) {
	for _, eng := range []string{"interp", "jit"} {
		if _, err := anybpf.EngineByName(eng); err != nil {
			continue
		}
		for _, name := range []string{"drop", "pass", "tx"} {
			b.Run(eng+"/"+name, func(b *testing.B) {
				rt := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig().WithEngine(eng))
				defer rt.Close()
				c, err := rt.LoadCollection("testdata/bench.o")
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				p := &port{key: portKey{ifindex: 7}, frameSize: 2048 - 256, txfd: -1, txClosed: true}
				chain := []*Attachment{{prog: c.Programs["bench_"+name], port: p}}
				p.chain.Store(&chain)
				w := &worker{p: p, fd: -1, frame: anybpf.NewXDPFrame(p.frameSize)}
				pkt := benchFrame(net.HardwareAddr{2, 0, 0, 0, 0, 2}, net.HardwareAddr{2, 0, 0, 0, 0, 1})
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					w.frameIn(pkt, len(pkt), 0, unix.TpacketHdrVariant1{})
					if i%batchSize == batchSize-1 {
						for _, q := range w.out {
							q.n = 0
						}
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mpps")
				if got := counter(b, c.Maps["seen"], 0); got == 0 {
					b.Fatal("the program did not run")
				}
			})
		}
	}
}

// TestThroughput measures frames per second through one veth for drop, pass-forward
// and TX: anybpf's datapath with one worker, then the kernel running the same object
// as generic XDP on the same veth, each for ANYBPF_XDP_BENCH seconds while a sender in
// host A's namespace sends 60-byte frames as fast as it can (sendmmsg, 64 at a time).
// Without ANYBPF_XDP_BENCH it runs for a fifth of a second each, as a test that frames
// flow through every mode.
func TestThroughput(t *testing.T) {
	secs := os.Getenv("ANYBPF_XDP_BENCH")
	if secs == "" {
		secs = "0.2"
	}
	d, err := time.ParseDuration(secs + "s")
	if err != nil {
		t.Fatal(err)
	}
	n := newTestNet(t)
	var fd, ifA0 int
	inNetns(t, n.a, func() error {
		var err error
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		ifc, err := net.InterfaceByName("va0")
		if err != nil {
			return err
		}
		ifA0 = ifc.Index
		unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
		return unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifA0})
	})
	defer unix.Close(fd)
	var macA1 net.HardwareAddr
	inNetns(t, n.m, func() error {
		ifc, err := net.InterfaceByName("va1")
		macA1 = ifc.HardwareAddr
		return err
	})
	frame := benchFrame(macA1, n.macA)
	// blast sends for d and returns how many frames the kernel took and the CPU time the
	// sending thread used (with the receiving kernel work a veth does on the sender's
	// CPU) and the CPU time the rest of the process (the datapath's workers) used, until
	// 50 ms after the end.
	blast := func() (sent uint64, senderCPU, restCPU time.Duration) {
		bt := newBatch(nil, len(frame))
		for range batchSize {
			bt.add(frame)
		}
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		p0, t0 := processCPU(), threadCPU()
		for end := time.Now().Add(d); time.Now().Before(end); {
			sent += uint64(bt.send(fd))
		}
		senderCPU = threadCPU() - t0
		time.Sleep(50 * time.Millisecond)
		return sent, senderCPU, processCPU() - p0 - senderCPU
	}
	load1, _ := os.ReadFile("/proc/loadavg")
	var rows []string
	for _, mode := range []string{"drop", "pass", "tx"} {
		// anybpf
		coll := load(t, "bench.o")
		opts := Options{Interface: "va1", Workers: 1}
		if mode == "pass" {
			opts.Peer = "vb1"
		}
		a := n.attach(t, coll.Programs["bench_"+mode], opts)
		time.Sleep(100 * time.Millisecond)
		sent, sendCPU, workCPU := blast()
		seen := counter(t, coll.Maps["seen"], 0)
		s := a.Stats()
		a.Close()
		if seen == 0 {
			t.Errorf("%s: the program saw %d of %d frames sent", mode, seen, sent)
		}
		rows = append(rows, fmt.Sprintf("%-5s anybpf  sent %6.3f Mpps  program %6.3f Mpps  sender CPU %4.2fs  worker CPU %4.2fs: %6.3f Mpps per worker core  ring drops %d  send errors %d  forwarded %d  tx %d",
			mode, mpps(sent, d), mpps(seen, d), sendCPU.Seconds(), workCPU.Seconds(), mpps(seen, workCPU), s.RingDrops, s.SendErrors, s.Forwarded, s.Transmit))

		// the kernel, generic XDP, same object and program
		spec, err := ebpf.LoadCollectionSpec("testdata/bench.o")
		if err != nil {
			t.Fatal(err)
		}
		kc, err := ebpf.NewCollection(spec)
		if err != nil {
			t.Fatal(err)
		}
		var l ciliumlink.Link
		inNetns(t, n.m, func() error {
			var err error
			l, err = ciliumlink.AttachXDP(ciliumlink.XDPOptions{Program: kc.Programs["bench_"+mode], Interface: n.ifA1, Flags: ciliumlink.XDPGenericMode})
			return err
		})
		time.Sleep(100 * time.Millisecond)
		sent, sendCPU, _ = blast()
		var kseen uint64
		if err := kc.Maps["seen"].Lookup(uint32(0), &kseen); err != nil {
			t.Fatal(err)
		}
		l.Close()
		kc.Close()
		rows = append(rows, fmt.Sprintf("%-5s kernel  sent %6.3f Mpps  program %6.3f Mpps  sender CPU %4.2fs (generic XDP runs in it)", mode, mpps(sent, d), mpps(kseen, d), sendCPU.Seconds()))
	}
	load2, _ := os.ReadFile("/proc/loadavg")
	t.Logf("%d CPUs, GOMAXPROCS %d, load before %s, after %s\n%s", runtime.NumCPU(), runtime.GOMAXPROCS(0), strings.TrimSpace(string(load1)), strings.TrimSpace(string(load2)), strings.Join(rows, "\n"))
}

func mpps(n uint64, d time.Duration) float64 { return float64(n) / d.Seconds() / 1e6 }

func threadCPU() time.Duration {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

func processCPU() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
