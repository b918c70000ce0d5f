package anybpf_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"

	"github.com/anybpf/anybpf"
	"github.com/anybpf/anybpf/maps"
)

// The Linux kernel as oracle: the same object runs in the kernel (through cilium/ebpf's
// BPF_PROG_TEST_RUN) and in anybpf, and the return values, output packets and map
// contents must agree. These tests need root and a working bpf(); they skip otherwise.

func kernelAvailable(t *testing.T) {
	t.Helper()
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Skipf("kernel oracle: cannot lift the memlock limit: %v", err)
	}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		t.Skipf("kernel oracle: bpf() is not available here: %v", err)
	}
	m.Close()
}

// pair is one object loaded into both the kernel and anybpf.
type pair struct {
	kernel *ebpf.Collection
	ours   *anybpf.Collection
}

func loadPair(t *testing.T, path string) *pair {
	t.Helper()
	kernelAvailable(t)
	spec, err := ebpf.LoadCollectionSpec(path)
	if err != nil {
		t.Fatalf("cilium/ebpf: %v", err)
	}
	kc, err := ebpf.NewCollection(spec)
	if err != nil {
		t.Fatalf("kernel load: %v", err)
	}
	t.Cleanup(kc.Close)
	oc, err := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig()).LoadCollection(path)
	if err != nil {
		t.Fatal(err)
	}
	return &pair{kernel: kc, ours: oc}
}

// run runs a program in both with the same input and compares return value and output.
func (p *pair) run(t *testing.T, prog string, data []byte) uint32 {
	t.Helper()
	kopts := &ebpf.RunOptions{Data: data, DataOut: make([]byte, len(data)+512)}
	kret, err := p.kernel.Programs[prog].Run(kopts)
	if err != nil {
		t.Fatalf("%s in the kernel: %v", prog, err)
	}
	oopts := &anybpf.RunOptions{Data: data}
	oret, err := p.ours.Programs[prog].Run(oopts)
	if err != nil {
		t.Fatalf("%s in anybpf: %v", prog, err)
	}
	if kret != oret {
		t.Errorf("%s: kernel returned %d, anybpf %d", prog, kret, oret)
	}
	if !bytes.Equal(kopts.DataOut, oopts.DataOut) {
		t.Errorf("%s: output packet differs:\nkernel %x\nanybpf %x", prog, kopts.DataOut, oopts.DataOut)
	}
	return oret
}

// compareMaps compares every entry of the named maps (program arrays by presence only).
func (p *pair) compareMaps(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		km, om := p.kernel.Maps[name], p.ours.Maps[name]
		if km == nil || om == nil {
			t.Fatalf("map %s missing (kernel %v, anybpf %v)", name, km != nil, om != nil)
		}
		kernel := map[string]string{}
		var k, v []byte
		it := km.Iterate()
		for it.Next(&k, &v) {
			kernel[fmt.Sprintf("%x", k)] = fmt.Sprintf("%x", v)
		}
		if err := it.Err(); err != nil {
			t.Fatalf("map %s: kernel iteration: %v", name, err)
		}
		ours := map[string]string{}
		spec := om.Spec()
		key := []byte(nil)
		next := make([]byte, spec.KeySize)
		for om.NextKey(key, next) == nil {
			val := make([]byte, spec.ValueSize)
			if err := om.Lookup(next, val); err != nil && !errors.Is(err, maps.ErrKeyNotExist) {
				t.Fatalf("map %s: %v", name, err)
			} else if err == nil {
				ours[fmt.Sprintf("%x", next)] = fmt.Sprintf("%x", val)
			}
			key = append(key[:0], next...)
		}
		if fmt.Sprint(sorted(kernel)) != fmt.Sprint(sorted(ours)) {
			t.Errorf("map %s differs:\nkernel %v\nanybpf %v", name, sorted(kernel), sorted(ours))
		}
	}
}

func sorted(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func TestOracleXDPCounter(t *testing.T) {
	p := loadPair(t, "testdata/xdp_counter.o")
	for _, f := range [][]byte{
		frame(0x0800, "ipv4 packet"),
		frame(0x86dd, "ipv6 packet"),
		frame(0x0806, "arp"),
		frame(0x0800, "another ipv4 packet, a little longer than the first"),
	} {
		p.run(t, "xdp_count", f)
	}
	p.compareMaps(t, "counts", "by_proto", ".bss")
	p.run(t, "xdp_strip2", frame(0x0800, "strip me"))
}

func TestOracleTailCalls(t *testing.T) {
	p := loadPair(t, "testdata/tailcall.o")
	pkt := frame(0x0800, "tail")
	p.run(t, "entry", pkt)
	p.run(t, "empty_slot", pkt)
	if err := p.kernel.Maps["jmp"].Put(uint32(0), p.kernel.Programs["self_loop"]); err != nil {
		t.Fatal(err)
	}
	if err := p.ours.Maps["jmp"].Update(uint32(0), p.ours.Programs["self_loop"], 0); err != nil {
		t.Fatal(err)
	}
	p.run(t, "self_loop", pkt)
	p.compareMaps(t, ".bss")
}

// perCPUSum adds up key's per-CPU values in both (their CPU counts differ).
func (p *pair) perCPUSum(t *testing.T, name string, key uint32) (kernel, ours uint64) {
	t.Helper()
	var kv []uint64
	if err := p.kernel.Maps[name].Lookup(key, &kv); err != nil {
		t.Fatal(err)
	}
	for _, v := range kv {
		kernel += v
	}
	om := p.ours.Maps[name]
	buf := make([]byte, 4096)
	n := 0
	for ; n < len(buf); n += 8 {
		if om.Lookup(key, buf[:n+8]) == nil {
			break
		}
	}
	for i := 0; i <= n; i += 8 {
		ours += binary.LittleEndian.Uint64(buf[i:])
	}
	return kernel, ours
}

func TestOracleMaps(t *testing.T) {
	p := loadPair(t, "testdata/oracle_maps.o")
	pkt := frame(0x0800, "the quick brown fox jumps over the lazy dog")
	for i := 0; i < 5; i++ {
		p.run(t, "percpu_count", pkt)
	}
	if k, o := p.perCPUSum(t, "pcpu", 1); k != o || o != 15 {
		t.Errorf("per-CPU sum: kernel %d, anybpf %d, want 15", k, o)
	}
	p.run(t, "lru_insert", pkt)
	p.run(t, "lpm_route", pkt)
	p.run(t, "queue_stack", pkt)
	p.run(t, "calls_and_loops", pkt)
	p.run(t, "calls_and_loops", frame(0x86dd, "other bytes"))
	p.run(t, "hash_flags", pkt)
	p.run(t, "rewrite_packet", pkt)
	p.compareMaps(t, ".bss", "routes", "hash", "lru")
}

// ipv4 returns an Ethernet frame with an IPv4 header of the given protocol.
func ipv4(proto byte, payload string) []byte {
	ip := []byte{0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2}
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(payload)))
	return append(frame(0x0800, string(ip)), payload...)
}

func TestOracleSKB(t *testing.T) {
	p := loadPair(t, "testdata/skb.o")
	for _, pkt := range [][]byte{ipv4(17, "udp payload"), ipv4(6, "tcp")} {
		p.run(t, "sock_proto", pkt)
		p.run(t, "tc_mark", pkt)
	}
	p.run(t, "tc_mark", frame(0x0806, "an ARP frame, not IPv4"))
	p.compareMaps(t, "seen")
}

// udp4 returns an Ethernet frame with a valid IPv4 and UDP header and checksums.
func udp4(payload string, udpChecksum bool) []byte {
	ip := []byte{0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2}
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	binary.BigEndian.PutUint16(ip[10:], ^fold(sum16(ip)))
	udp := []byte{0x30, 0x39, 0x00, 0x35, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	seg := append(udp, payload...)
	if udpChecksum {
		pseudo := append(append(append([]byte{}, ip[12:20]...), 0, 17), byte((8+len(payload))>>8), byte(8+len(payload)))
		c := ^fold(sum16(pseudo) + sum16(seg))
		if c == 0 {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(seg[6:], c)
	}
	return append(frame(0x0800, string(ip)), seg...)
}

func sum16(b []byte) uint32 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

func TestOracleChecksums(t *testing.T) {
	p := loadPair(t, "testdata/csum.o")
	for _, pkt := range [][]byte{udp4("hello", true), udp4("no udp checksum", false), udp4("odd", true)} {
		p.run(t, "ttl_dec", pkt)
		p.run(t, "nat_dst", pkt)
	}
	p.run(t, "diff", udp4("x", true))
	p.compareMaps(t, ".bss")
	// The rewritten packet's checksums are valid.
	opts := &anybpf.RunOptions{Data: udp4("check me", true)}
	if _, err := p.ours.Programs["nat_dst"].Run(opts); err != nil {
		t.Fatal(err)
	}
	ip := opts.DataOut[14:34]
	if fold(sum16(ip)) != 0xffff {
		t.Errorf("IP header checksum invalid after the rewrite: %x", ip)
	}
}

func TestOracleRedirect(t *testing.T) {
	p := loadPair(t, "testdata/redirect.o")
	pkt := frame(0x0800, "redirect me")
	for _, prog := range []string{"xdp_redirect_if", "xdp_redirect_bad_flags", "xdp_redirect_port0", "xdp_redirect_port3"} {
		p.run(t, prog, pkt)
	}
	if err := p.kernel.Maps["ports"].Put(uint32(0), uint32(1)); err != nil {
		t.Fatal(err)
	}
	if err := p.ours.Maps["ports"].Update(uint32(0), uint32(1), 0); err != nil {
		t.Fatal(err)
	}
	if ret := p.run(t, "xdp_redirect_port0", pkt); ret != 4 {
		t.Fatalf("redirect through the devmap: %d, want XDP_REDIRECT", ret)
	}
	opts := &anybpf.RunOptions{Data: pkt}
	p.ours.Programs["xdp_redirect_port0"].Run(opts)
	if opts.Redirect == nil || opts.Redirect.Ifindex != 1 || opts.Redirect.Map != "ports" {
		t.Fatalf("redirect target %+v", opts.Redirect)
	}
	// An empty xskmap slot falls back to the action in the flags (XDP_PASS).
	if ret := p.run(t, "xdp_to_xsk", pkt); ret != 2 {
		t.Fatalf("redirect to an empty xskmap slot: %d, want XDP_PASS", ret)
	}
	if err := p.ours.Maps["xsks"].Update(uint32(0), uint32(5), 0); err != nil {
		t.Fatal(err)
	}
	opts = &anybpf.RunOptions{Data: pkt}
	if ret, err := p.ours.Programs["xdp_to_xsk"].Run(opts); err != nil || ret != 4 || opts.Redirect == nil || opts.Redirect.Socket != 5 {
		t.Fatalf("redirect to socket 5: %d, %v, %+v", ret, err, opts.Redirect)
	}
	// The kernel's test run refuses TC_ACT_REDIRECT, so tc is checked against Linux's
	// documented verdict only.
	opts = &anybpf.RunOptions{Data: ipv4(17, "redirect")}
	if ret, err := p.ours.Programs["tc_redirect"].Run(opts); err != nil || ret != 7 || opts.Redirect.Flags != 1 {
		t.Fatalf("tc redirect: %d, %v, %+v; want TC_ACT_REDIRECT (7) to ingress", ret, err, opts.Redirect)
	}
}

func TestOracleCallbacks(t *testing.T) {
	p := loadPair(t, "testdata/callbacks.o")
	pkt := frame(0x0800, "loops")
	p.run(t, "loops", pkt)
	p.compareMaps(t, ".bss")
	for k := uint32(1); k <= 5; k++ {
		if err := p.kernel.Maps["values"].Put(k, uint64(k*7)); err != nil {
			t.Fatal(err)
		}
		if err := p.ours.Maps["values"].Update(k, uint64(k*7), 0); err != nil {
			t.Fatal(err)
		}
	}
	p.run(t, "each", pkt)
	p.compareMaps(t, ".bss", "values")
	p.run(t, "each_delete", pkt)
	p.compareMaps(t, ".bss", "values")
}

func TestOracleStrings(t *testing.T) {
	p := loadPair(t, "testdata/strings.o")
	pkt := frame(0x0800, "strings")
	p.run(t, "strings", pkt)
	p.compareMaps(t, ".bss")
	for i := 0; i < 5; i++ {
		p.run(t, "locked_count", pkt)
	}
	p.compareMaps(t, "counters")
}

func TestOracleMore(t *testing.T) {
	p := loadPair(t, "testdata/oracle_more.o")
	pkt := frame(0x0800, "x")
	for i := 0; i < 3; i++ {
		p.run(t, "atomics", pkt)
	}
	p.compareMaps(t, "atom")
	p.run(t, "globals", pkt)
	p.run(t, "globals", pkt)
	p.run(t, "parse_udp", udp4("query for the dns port", true))
	dns := udp4("to port 53", true)
	binary.BigEndian.PutUint16(dns[14+20+2:], 53)
	p.run(t, "parse_udp", dns)
	p.run(t, "parse_udp", ipv4(6, "tcp is passed"))
	p.run(t, "ring_out", pkt)
	p.run(t, "ring_out", pkt)
	p.run(t, "empty_errors", pkt)
	p.compareMaps(t, ".bss", ".data")
}

// runCtx is run with a context in and out.
func (p *pair) runCtx(t *testing.T, prog string, data, ctx []byte) {
	t.Helper()
	kctxOut := make([]byte, len(ctx))
	kopts := &ebpf.RunOptions{Data: data, DataOut: make([]byte, len(data)+512), Context: ctx, ContextOut: kctxOut}
	kret, err := p.kernel.Programs[prog].Run(kopts)
	if err != nil {
		t.Fatalf("%s in the kernel: %v", prog, err)
	}
	oopts := &anybpf.RunOptions{Data: data, Context: ctx}
	oret, err := p.ours.Programs[prog].Run(oopts)
	if err != nil {
		t.Fatalf("%s in anybpf: %v", prog, err)
	}
	if kret != oret || !bytes.Equal(kopts.DataOut, oopts.DataOut) {
		t.Errorf("%s: kernel %d %x, anybpf %d %x", prog, kret, kopts.DataOut, oret, oopts.DataOut)
	}
	if !bytes.Equal(kctxOut, oopts.ContextOut) {
		t.Errorf("%s: context out differs:\nkernel %x\nanybpf %x", prog, kctxOut, oopts.ContextOut)
	}
}

func TestOracleContext(t *testing.T) {
	p := loadPair(t, "testdata/skb.o")
	pkt := ipv4(17, "context")
	p.run(t, "tc_fields", pkt)
	p.compareMaps(t, "seen")
	ctx := make([]byte, 192)
	binary.LittleEndian.PutUint32(ctx[8:], 3)      // mark
	binary.LittleEndian.PutUint32(ctx[32:], 4)     // priority
	binary.LittleEndian.PutUint32(ctx[48:], 100)   // cb[0]
	binary.LittleEndian.PutUint32(ctx[64:], 11)    // cb[4]
	binary.LittleEndian.PutUint32(ctx[160:], 1500) // wire_len
	p.runCtx(t, "tc_fields", pkt, ctx)
	p.compareMaps(t, "seen")

	x := loadPair(t, "testdata/xdp_counter.o")
	meta := append([]byte{0xaa, 0xbb, 0xcc, 0xdd}, frame(0x0800, "with metadata")...)
	xctx := make([]byte, 24)
	binary.LittleEndian.PutUint32(xctx[0:], 4)                 // data: 4 bytes of metadata
	binary.LittleEndian.PutUint32(xctx[4:], uint32(len(meta))) // data_end
	binary.LittleEndian.PutUint32(xctx[12:], 1)                // ingress_ifindex: lo
	x.runCtx(t, "xdp_count", meta, xctx)
}
