package daemon_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/anybpf/anybpf/internal/testutil"

	"golang.org/x/sys/unix"

	"github.com/anybpf/anybpf"
	pb "github.com/anybpf/anybpf/api/anybpfv1"
)

// TestProcessLinkThroughDaemon attaches a PROCESS program through the daemon's provider
// and sees a real command's start and exit in its map; the link is listed and detached.
func TestProcessLinkThroughDaemon(t *testing.T) {
	skipUnlessLinux(t)
	if os.Geteuid() != 0 {
		t.Skip("process events need root")
	}
	d := startDaemon(t, t.TempDir())
	d.mustCLI(t, "prog", "load", "../../testdata/process_events.o", "/sys/fs/bpf/pe", "pinmaps", "/sys/fs/bpf/pem")
	c, err := anybpf.Connect(d.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	pinned, err := c.API().GetPinned(ctx, &pb.PinPath{Path: "/sys/fs/bpf/pe"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := c.API().Attach(ctx, &pb.AttachRequest{ProgId: pinned.GetId(), AttachType: "process", Target: "host"})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sleep", "0.2")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	records, err := c.API().GetPinned(ctx, &pb.PinPath{Path: "/sys/fs/bpf/pem/records"})
	if err != nil {
		t.Fatal(err)
	}
	key := binary.LittleEndian.AppendUint32(nil, uint32(cmd.Process.Pid))
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := c.API().MapLookup(ctx, &pb.MapKeyRequest{Id: records.GetId(), Key: key})
		// struct record: six 8-byte fields, then creates and deletes.
		if err == nil && len(v.GetValue()) >= 56 && binary.LittleEndian.Uint32(v.GetValue()[48:]) == 1 && binary.LittleEndian.Uint32(v.GetValue()[52:]) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no start and exit of pid %d in the program's map: %v %v", cmd.Process.Pid, v, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if out := d.mustCLI(t, "link", "show"); !strings.Contains(out, "process") || !strings.Contains(out, fmt.Sprint(l.GetId())) {
		t.Errorf("link show:\n%s", out)
	}
	d.mustCLI(t, "link", "detach", "id", fmt.Sprint(l.GetId()))
	if out := d.mustCLI(t, "-j", "link", "show"); strings.Contains(out, `"process"`) {
		t.Errorf("link show after detach: %s", out)
	}
	if _, err := c.API().Attach(ctx, &pb.AttachRequest{ProgId: pinned.GetId(), AttachType: "process", Target: "cgroup"}); err == nil || !strings.Contains(err.Error(), "host") {
		t.Errorf("process link with a bad target: %v", err)
	}
}

// TestXDPLinkThroughDaemon runs the daemon in a network namespace, attaches its XDP
// program to a veth through `net attach xdp PROG`, sends frames into the wire and reads
// the program's count over the daemon; `net show` lists the attachment and `net detach`
// removes it.
func TestXDPLinkThroughDaemon(t *testing.T) {
	ns, ip := testutil.NetNS(t, "axdpd")
	ip("-n", ns, "link", "add", "x0", "type", "veth", "peer", "name", "x1")
	ip("-n", ns, "link", "set", "x0", "up")
	ip("-n", ns, "link", "set", "x1", "up")

	// The daemon, in the namespace.
	dir := t.TempDir()
	real := bin
	wrapper := filepath.Join(dir, "anybpf-in-ns")
	if err := os.WriteFile(wrapper, []byte(fmt.Sprintf("#!/bin/sh\nexec ip netns exec %s %s \"$@\"\n", ns, real)), 0o755); err != nil {
		t.Fatal(err)
	}
	bin = wrapper
	d := startDaemon(t, dir)
	bin = real

	d.mustCLI(t, "prog", "load", objectPath(t), "/sys/fs/bpf/x")
	out := d.mustCLI(t, "net", "attach", "xdp", "pinned", "/sys/fs/bpf/x", "dev", "x1", "workers", "1")
	if !strings.Contains(out, "attached to x1") {
		t.Fatalf("net attach: %q", out)
	}
	if out := d.mustCLI(t, "net", "show"); !strings.Contains(out, "x1 id") {
		t.Errorf("net show:\n%s\nlinks: %s", out, d.mustCLI(t, "-j", "link", "show"))
	}
	sendFrames(t, ns, "x0", 7)
	// Counted by EtherType (0x88b5, the frames sent): the kernel's own IPv6 frames on
	// the new link (neighbour and router solicitations) reach the program too.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _, _ := d.cli("map", "lookup", "name", "by_proto", "key", "0xb5", "0x88") // absent until the first frame is seen
		if strings.Contains(out, "value: 07 00") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("by_proto[0x88b5] after 7 frames: %q", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.mustCLI(t, "net", "detach", "xdp", "dev", "x1")
	if out := d.mustCLI(t, "net", "show"); strings.Contains(out, "x1 id") {
		t.Errorf("net show after detach:\n%s", out)
	}
	if _, errOut, err := runCLI(nil, "--socket", d.socket, "net", "attach", "xdp", "pinned", "/sys/fs/bpf/x", "dev", "nosuch0"); err == nil || !strings.Contains(errOut, "nosuch0") {
		t.Errorf("attach to a missing interface: %v %q", err, errOut)
	}
}

// sendFrames sends n Ethernet frames out of iface in namespace ns.
func sendFrames(t *testing.T, ns, iface string, n int) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		f, err := os.Open("/run/netns/" + ns)
		if err == nil {
			err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
			f.Close()
		}
		if err != nil {
			done <- err
			return
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			done <- err
			return
		}
		defer unix.Close(fd)
		ifc, err := net.InterfaceByName(iface)
		if err != nil {
			done <- err
			return
		}
		frame := append([]byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xb5}, make([]byte, 46)...)
		for range n {
			if err := unix.Sendto(fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: ifc.Index}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
