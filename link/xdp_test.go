package link_test

import (
	"context"
	"errors"
	"os"
	"runtime"
	"testing"

	"github.com/anybpf/anybpf"
	"github.com/anybpf/anybpf/link"
)

func TestAttachXDP(t *testing.T) {
	rt := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig())
	defer rt.Close()
	coll, err := rt.LoadCollection("../internal/xdp/testdata/wire.o")
	if err != nil {
		t.Fatal(err)
	}
	defer coll.Close()
	if runtime.GOOS != "linux" {
		if _, err := link.AttachXDP(coll.Programs["drop"], link.XDPOptions{Interface: "lo"}); !errors.Is(err, link.ErrNotSupported) {
			t.Fatalf("AttachXDP: %v, want ErrNotSupported", err)
		}
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for AF_PACKET")
	}
	if _, err := link.AttachXDP(coll.Programs["drop"], link.XDPOptions{Interface: "nosuch0"}); err == nil {
		t.Error("attached to a missing interface")
	}
	// Without a peer, on the loopback device: the program sees a copy of the traffic and
	// its drops change nothing for the host.
	var l link.Link
	l, err = link.AttachXDP(coll.Programs["drop"], link.XDPOptions{Interface: "lo", Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := l.Info(), (link.Info{AttachType: "xdp", Program: "drop", Target: "lo"}); got != want {
		t.Errorf("Info() = %+v, want %+v", got, want)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
