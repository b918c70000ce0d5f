package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/anybpf/anybpf/internal/testutil"

	"golang.org/x/sys/unix"
)

func TestNetAttachXDPErrors(t *testing.T) {
	obj := "../../internal/xdp/testdata/wire.o"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{obj, "name", "wire"}, "dev IFACE is required"},
		{[]string{obj, "name", "nosuch", "dev", "lo"}, `no program named "nosuch"`},
		{[]string{obj, "dev", "lo", "workers", "many"}, `workers "many" is not a number`},
		{[]string{obj, "dev", "lo", "bogus"}, `unknown argument "bogus"`},
		{[]string{"nosuch.o", "dev", "lo"}, "nosuch.o"},
	} {
		_, _, err := run(t, "", append([]string{"net", "attach", "xdp"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one mentioning %s", tc.args, err, tc.want)
		}
	}
}

// TestNetAttachXDP runs the command on a veth in a namespace of its own, sends it frames
// and interrupts it: the drop program saw and dropped each.
func TestNetAttachXDP(t *testing.T) {
	ns, ip := testutil.NetNS(t, "axdpcli")
	ip("netns", "exec", ns, "sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6")
	ip("-n", ns, "link", "add", "x0", "type", "veth", "peer", "name", "x1")
	ip("-n", ns, "link", "set", "x0", "up")
	ip("-n", ns, "link", "set", "x1", "up")

	ctx, cancel := context.WithCancel(context.Background())
	var out, errb bytes.Buffer
	done := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		f, err := os.Open("/run/netns/" + ns)
		if err == nil {
			err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
			f.Close()
		}
		if err != nil {
			close(started)
			done <- err
			return
		}
		// The frames come from this namespace too.
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			close(started)
			done <- err
			return
		}
		ifc, err := net.InterfaceByName("x0")
		if err != nil {
			close(started)
			done <- err
			return
		}
		go func() {
			defer unix.Close(fd)
			defer cancel()
			<-started
			frame := append(bytes.Repeat([]byte{0xff}, 6), 2, 0, 0, 0, 0, 1, 0x88, 0xb5)
			frame = append(frame, make([]byte, 46)...)
			time.Sleep(300 * time.Millisecond) // the workers are up
			for range 7 {
				unix.Sendto(fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: ifc.Index})
			}
			time.Sleep(300 * time.Millisecond)
		}()
		cmd := newRootCommand(strings.NewReader(""), &out, &errb)
		cmd.SetArgs([]string{"net", "attach", "xdp", "../../internal/xdp/testdata/wire.o", "name", "drop", "dev", "x1", "workers", "1"})
		close(started)
		done <- cmd.ExecuteContext(ctx)
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("net attach xdp: %v (stderr %s)", err, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("net attach xdp did not stop when interrupted")
	}
	if !strings.Contains(errb.String(), "attached to x1") {
		t.Errorf("stderr %q", errb.String())
	}
	if !strings.Contains(out.String(), "drop on x1: received 7, passed 0 (forwarded 0), dropped 7,") {
		t.Errorf("stdout %q", out.String())
	}
}
