package anybpf_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/anybpf/anybpf"
)

// TestRunXDPMatchesTestRun: running a program on an XDPFrame gives what a test run on
// the same bytes gives: verdict, packet (after adjust_head and friends) and redirect.
// Frames are reused: each case runs on the frame the previous one left.
func TestRunXDPMatchesTestRun(t *testing.T) {
	pkt := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i * 7)
		}
		b[12], b[13] = 0x08, 0x00
		return b
	}
	f := anybpf.NewXDPFrame(1500)
	for _, tc := range []struct {
		obj, prog string
		data      []byte
	}{
		{"testdata/xdp_counter.o", "xdp_count", pkt(64)},
		{"testdata/xdp_counter.o", "xdp_strip2", pkt(80)},
		{"testdata/redirect.o", "xdp_redirect_if", pkt(60)},
		{"testdata/redirect.o", "xdp_redirect_port0", pkt(60)},
		{"internal/xdp/testdata/encap.o", "encap", udp(9200)},
		{"internal/xdp/testdata/encap.o", "encap", udp(9201)},
		{"internal/xdp/testdata/reflect.o", "swap_tx", pkt(1500)},
	} {
		t.Run(tc.prog, func(t *testing.T) {
			coll := load(t, anybpf.NewRuntimeConfig(), tc.obj)
			prog := coll.Programs[tc.prog]
			if m := coll.Maps["ports"]; m != nil {
				if err := m.Update(uint32(0), uint32(3), 0); err != nil {
					t.Fatal(err)
				}
			}
			opts := &anybpf.RunOptions{Data: tc.data}
			want, err := prog.Run(opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Load(tc.data, 1, 0); err != nil {
				t.Fatal(err)
			}
			got, err := prog.RunXDP(f)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("verdict %d, test run %d", got, want)
			}
			if !bytes.Equal(f.Data(), opts.DataOut) {
				t.Errorf("frame\n% x\ntest run\n% x", f.Data(), opts.DataOut)
			}
			if r, w := f.Redirect(), opts.Redirect; (r == nil) != (w == nil) || r != nil && *r != *w {
				t.Errorf("redirect %+v, test run %+v", r, w)
			}
			if len(f.Metadata()) != 0 {
				t.Errorf("metadata % x", f.Metadata())
			}
		})
	}
}

// udp returns an Ethernet/IPv4/UDP frame to port.
func udp(port int) []byte {
	b := make([]byte, 14+20+8+10)
	b[12], b[13] = 0x08, 0x00
	b[14], b[14+9] = 0x45, 17
	b[14+2], b[14+3] = 0, byte(20+8+10)
	b[34+2], b[34+3] = byte(port>>8), byte(port)
	return b
}

func TestRunXDPErrors(t *testing.T) {
	coll := load(t, anybpf.NewRuntimeConfig(), "testdata/xdp_counter.o")
	prog := coll.Programs["xdp_count"]
	f := anybpf.NewXDPFrame(100)
	if _, err := prog.RunXDP(f); !errors.Is(err, anybpf.ErrInvalidInput) {
		t.Errorf("run before Reset: %v", err)
	}
	for _, n := range []int{0, 13, 101} {
		if _, err := f.Reset(n, 1, 0); !errors.Is(err, anybpf.ErrInvalidInput) {
			t.Errorf("Reset(%d): %v", n, err)
		}
	}
	if err := f.Load(make([]byte, 100), 1, 0); err != nil {
		t.Fatal(err)
	}
	skb := load(t, anybpf.NewRuntimeConfig(), "testdata/skb.o")
	for name, p := range skb.Programs {
		if _, err := p.RunXDP(f); !errors.Is(err, anybpf.ErrInvalidInput) {
			t.Errorf("RunXDP of %s (%s): %v", name, p.Type, err)
		}
		break
	}
	prog.Close()
	if _, err := prog.RunXDP(f); !errors.Is(err, anybpf.ErrClosed) {
		t.Errorf("run after Close: %v", err)
	}
}
