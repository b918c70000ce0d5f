//go:build linux

package xdp

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// openTAP creates the TAP device name (it lives as long as the returned descriptor),
// brings it up and returns the descriptor (non-blocking) and the device's index.
func openTAP(name string) (fd, ifindex int, err error) {
	if fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0); err != nil {
		return -1, 0, fmt.Errorf("tap %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			unix.Close(fd)
		}
	}()
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return -1, 0, fmt.Errorf("tap %s: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return -1, 0, fmt.Errorf("tap %s: TUNSETIFF: %w", name, err)
	}
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, 0, fmt.Errorf("tap %s: %w", name, err)
	}
	defer unix.Close(s)
	if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); err != nil {
		return -1, 0, fmt.Errorf("tap %s: flags: %w", name, err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr); err != nil {
		return -1, 0, fmt.Errorf("tap %s: up: %w", name, err)
	}
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return -1, 0, fmt.Errorf("tap %s: %w", name, err)
	}
	return fd, ifc.Index, nil
}

// openTAPPort makes a TAP device a port of the datapath: what is sent out of the port
// is written to the device, which the host receives; what the host sends out of the
// device is read by one worker and goes through the port's programs (usually none: then
// out of its peer).
func openTAPPort(key portKey, name string, fd, frameSize int) (*port, error) {
	p := &port{key: key, name: name, frameSize: frameSize, txfd: -1, tapfd: fd, stopfd: -1}
	var err error
	if p.stopfd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	w := &worker{p: p, fd: -1}
	w.frame = newWorkerFrame(frameSize)
	p.workers = []*worker{w}
	p.wg.Add(1)
	go w.runTAP()
	return p, nil
}

// runTAP reads the frames the host sends out of the TAP device until the port stops.
func (w *worker) runTAP() {
	defer w.p.wg.Done()
	fds := []unix.PollFd{{Fd: int32(w.p.tapfd), Events: unix.POLLIN}, {Fd: int32(w.p.stopfd), Events: unix.POLLIN}}
	buf := make([]byte, 65536)
	for {
		fds[0].Revents, fds[1].Revents = 0, 0
		if _, err := unix.Poll(fds, -1); err != nil && err != unix.EINTR {
			return
		}
		if fds[1].Revents != 0 || fds[0].Revents&(unix.POLLHUP|unix.POLLNVAL|unix.POLLERR) != 0 {
			return
		}
		for range batchSize {
			n, err := unix.Read(w.p.tapfd, buf)
			if err != nil || n <= 0 {
				break
			}
			w.frameIn(buf[:n], n, 0, unix.TpacketHdrVariant1{})
		}
		w.flush()
	}
}

// sendTAP writes the batch's frames to the TAP device and returns how many it took.
func (b *batch) sendTAP(fd int) int {
	taken := 0
	for i := range b.n {
		n := int(b.iov[i].Len)
		if _, err := unix.Write(fd, b.bufs[i][:n]); err == nil {
			taken++
		}
	}
	return taken
}
