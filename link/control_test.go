//go:build unix

package link_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/anybpf/anybpf/internal/testutil"

	"github.com/anybpf/anybpf"
	"github.com/anybpf/anybpf/link"
	"github.com/anybpf/anybpf/maps"
)

func TestDialAndListenControl(t *testing.T) {
	coll, _ := loadProgram(t, "../examples/connect_redirect/redirect.o", "connect4")
	bindColl, _ := loadProgram(t, "../examples/bind_policy/policy.o", "bind4")
	backend, denied := testutil.TCPServer(t, "B"), testutil.TCPServer(t, "D")
	b := make([]byte, 8)
	a := backend.Addr().As4()
	copy(b, a[:])
	binary.LittleEndian.PutUint32(b[4:], uint32(backend.Port()))
	if err := coll.Maps["backends"].Update(uint32(0), b, maps.UpdateAny); err != nil {
		t.Fatal(err)
	}
	if err := coll.Maps["denied"].Update(denied.Port(), []byte{1}, maps.UpdateAny); err != nil {
		t.Fatal(err)
	}
	d := net.Dialer{Control: link.DialControl([]*anybpf.Program{coll.Programs["connect4"]}, nil)}
	read := func(addr string) (string, error) {
		c, err := d.DialContext(context.Background(), "tcp", addr)
		if err != nil {
			return "", err
		}
		defer c.Close()
		buf := make([]byte, 1)
		_, err = io.ReadFull(c, buf)
		return string(buf), err
	}
	if got, err := read("198.18.0.10:80"); err != nil || got != "B" {
		t.Errorf("dial the service address: %q, %v; want the backend", got, err)
	}
	if _, err := read(denied.String()); !errors.Is(err, syscall.EPERM) {
		t.Errorf("dial a denied port: %v, want EPERM", err)
	}
	lc := net.ListenConfig{Control: link.ListenControl([]*anybpf.Program{bindColl.Programs["bind4"]}, nil)}
	if _, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:18123"); !errors.Is(err, syscall.EPERM) {
		t.Errorf("listen on a port not allowed: %v, want EPERM", err)
	}
	if err := bindColl.Maps["allowed"].Update(uint16(18123), []byte{1}, maps.UpdateAny); err != nil {
		t.Fatal(err)
	}
	l, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:18123")
	if err != nil {
		t.Fatalf("listen on an allowed port: %v", err)
	}
	l.Close()
}
