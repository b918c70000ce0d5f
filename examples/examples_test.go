// Package examples_test checks that the examples' programs do what their READMEs say.
package examples_test

import (
	"context"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/anybpf/anybpf"
	"github.com/anybpf/anybpf/maps"
)

// ipv4Frame builds an Ethernet frame carrying an IPv4 header from src to dst.
func ipv4Frame(src, dst string, proto byte) []byte {
	f := make([]byte, 14+20+8)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0], ip[9] = 0x45, proto
	binary.BigEndian.PutUint16(ip[2:], 28)
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(ip[12:], s[:])
	copy(ip[16:], d[:])
	return f
}

// lpmKey is struct lpm_v4: a prefix length and an address in network byte order.
func lpmKey(prefix string) []byte {
	p := netip.MustParsePrefix(prefix)
	k := make([]byte, 8)
	binary.LittleEndian.PutUint32(k, uint32(p.Bits()))
	a := p.Addr().As4()
	copy(k[4:], a[:])
	return k
}

func TestXDPFirewall(t *testing.T) {
	rt := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig())
	defer rt.Close()
	coll, err := rt.LoadCollection("xdp_firewall/firewall.o")
	if err != nil {
		t.Fatal(err)
	}
	for prefix, rule := range map[string]uint32{"198.18.0.0/24": 7, "198.18.0.128/25": 9} {
		if err := coll.Maps["blocklist"].Update(lpmKey(prefix), rule, maps.UpdateAny); err != nil {
			t.Fatal(err)
		}
	}
	const xdpDrop, xdpPass = 1, 2
	for _, tc := range []struct {
		src  string
		want uint32
	}{
		{"198.18.0.5", xdpDrop},   // rule 7
		{"198.18.0.200", xdpDrop}, // rule 9, the longer prefix
		{"198.18.0.6", xdpDrop},   // rule 7
		{"198.18.1.5", xdpPass},
		{"10.0.0.1", xdpPass},
	} {
		ret, err := coll.Programs["firewall"].Run(&anybpf.RunOptions{Data: ipv4Frame(tc.src, "198.18.1.1", 17)})
		if err != nil || ret != tc.want {
			t.Errorf("from %s: %d, %v; want %d", tc.src, ret, err, tc.want)
		}
	}
	for rule, want := range map[uint32]uint64{7: 2, 9: 1, 0: 0} {
		var n uint64
		if err := coll.Maps["drops"].Lookup(rule, &n); err != nil || n != want {
			t.Errorf("drops[%d] = %d, %v; want %d", rule, n, err, want)
		}
	}
	rb := coll.Maps["events"].Underlying().(*maps.RingBuffer)
	rd := maps.NewRingBufferReader(rb)
	defer rd.Close()
	var got []string
	for range 3 {
		rd.SetDeadline(time.Now().Add(time.Second))
		rec, err := rd.Read()
		if err != nil {
			t.Fatalf("event %d: %v", len(got), err)
		}
		if len(rec.RawSample) != 16 {
			t.Fatalf("event of %d bytes, want 16", len(rec.RawSample))
		}
		src := netip.AddrFrom4([4]byte(rec.RawSample[0:4]))
		rule := binary.LittleEndian.Uint32(rec.RawSample[8:])
		got = append(got, src.String()+"/"+string(rune('0'+rule)))
	}
	want := []string{"198.18.0.5/7", "198.18.0.200/9", "198.18.0.6/7"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %v, want %v", got, want)
		}
	}
}
