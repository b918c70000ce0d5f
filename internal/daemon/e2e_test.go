package daemon_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anybpf/anybpf"
	pb "github.com/anybpf/anybpf/api/anybpfv1"
	"github.com/anybpf/anybpf/internal/testutil"
	"github.com/anybpf/anybpf/maps"
)

// bin is the anybpf binary the end-to-end tests run, built by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "anybpf-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Chmod(dir, 0o755) // the permission test runs it as another user
	bin = filepath.Join(dir, "anybpf")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/anybpf").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build anybpf: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer is a bytes.Buffer for a process's output read while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// daemonProc is a daemon process.
type daemonProc struct {
	cmd    *exec.Cmd
	dir    string
	socket string
	state  string
	log    *syncBuffer
	done   chan struct{}
}

func skipUnlessLinux(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the daemon's peer credentials (SO_PEERCRED) are Linux's")
	}
}

// startDaemon starts a daemon whose socket and state are in dir and waits until it
// accepts connections; the test's cleanup stops it.
func startDaemon(t *testing.T, dir string, extra ...string) *daemonProc {
	t.Helper()
	d := &daemonProc{dir: dir, socket: filepath.Join(dir, "anybpf.sock"), state: filepath.Join(dir, "state"), log: &syncBuffer{}, done: make(chan struct{})}
	args := append([]string{"daemon", "--socket", d.socket, "--state-dir", d.state}, extra...)
	d.cmd = exec.Command(bin, args...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() { d.stop(t, syscall.SIGTERM) })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("unix", d.socket); err == nil {
			c.Close()
			return d
		}
		select {
		case <-d.done:
			t.Fatalf("daemon exited: %s", d.log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not listening after 10s: %s", d.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends sig and waits for the daemon to exit.
func (d *daemonProc) stop(t *testing.T, sig syscall.Signal) {
	select {
	case <-d.done:
		return
	default:
	}
	d.cmd.Process.Signal(sig)
	select {
	case <-d.done:
	case <-time.After(15 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
		t.Errorf("daemon did not stop on %v", sig)
	}
}

// cli runs the anybpf CLI against the daemon.
func (d *daemonProc) cli(args ...string) (string, string, error) {
	return runCLI(nil, append([]string{"--socket", d.socket}, args...)...)
}

func runCLI(cred *syscall.Credential, args ...string) (string, string, error) {
	cmd := exec.Command(bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// mustCLI runs the CLI and fails the test if it fails.
func (d *daemonProc) mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := d.cli(args...)
	if err != nil {
		t.Fatalf("anybpf %s: %v\n%s%s\ndaemon log:\n%s", strings.Join(args, " "), err, out, errOut, d.log)
	}
	return out
}

func objectPath(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("testdata/daemon.o")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// packet is an Ethernet frame of the EtherType.
func packet(etherType uint16) []byte {
	p := make([]byte, 18)
	binary.BigEndian.PutUint16(p[12:], etherType)
	return p
}

func writePacket(t *testing.T, dir string, etherType uint16) string {
	t.Helper()
	p := filepath.Join(dir, fmt.Sprintf("pkt%04x", etherType))
	if err := os.WriteFile(p, packet(etherType), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCLIEndToEnd(t *testing.T) {
	skipUnlessLinux(t)
	dir := t.TempDir()
	d := startDaemon(t, dir)
	obj := objectPath(t)
	d.mustCLI(t, "prog", "load", obj, "/sys/fs/bpf/test/prog", "pinmaps", `BPF:\test\maps`)

	var prog map[string]any
	if err := json.Unmarshal([]byte(d.mustCLI(t, "-j", "prog", "show", "pinned", "/sys/fs/bpf/test/prog")), &prog); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "type", "name", "tag", "run_time_ns", "run_cnt", "map_ids", "bytes_xlated", "loaded_at", "uid", "verified_insns"} {
		if _, ok := prog[k]; !ok {
			t.Errorf("prog show -j has no %q: %v", k, prog)
		}
	}
	if prog["type"] != "xdp" || prog["name"] != "xdp_daemon" || len(prog["map_ids"].([]any)) != 4 {
		t.Errorf("prog show -j: %v", prog)
	}
	tag := prog["tag"].(string)
	if len(tag) != 16 {
		t.Errorf("tag %q", tag)
	}

	// Two IPv4 packets and one IPv6 packet: PASS, PASS, DROP; the counts go to the maps.
	ipv4, ipv6 := writePacket(t, dir, 0x0800), writePacket(t, dir, 0x86dd)
	var res struct {
		Retval  uint32 `json:"retval"`
		DataOut string `json:"data_out"`
	}
	for _, c := range []struct {
		sel  []string
		pkt  string
		want uint32
	}{
		{[]string{"pinned", "/sys/fs/bpf/test/prog"}, ipv4, 2},
		{[]string{"name", "xdp_daemon"}, ipv4, 2},
		{[]string{"tag", tag}, ipv6, 1},
	} {
		out := d.mustCLI(t, append(append([]string{"-j", "prog", "run"}, c.sel...), "data_in", c.pkt)...)
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%v: %q", err, out)
		}
		if res.Retval != c.want || res.DataOut == "" {
			t.Errorf("prog run %v: %+v, want retval %d", c.sel, res, c.want)
		}
	}
	// The text output is the in-process form's.
	if out := d.mustCLI(t, "prog", "run", "pinned", "/sys/fs/bpf/test/prog", "data_in", ipv4, "repeat", "2"); !strings.HasPrefix(out, "Return value: 2, duration (average): ") {
		t.Errorf("prog run text: %q", out)
	}

	var dump []struct {
		Key   []string `json:"key"`
		Value []string `json:"value"`
	}
	if err := json.Unmarshal([]byte(d.mustCLI(t, "-j", "map", "dump", "pinned", "/sys/fs/bpf/test/maps/counts")), &dump); err != nil {
		t.Fatal(err)
	}
	if len(dump) != 4 || strings.Join(dump[0].Key, " ") != "0x00 0x00 0x00 0x00" || dump[0].Value[0] != "0x05" {
		t.Errorf("map dump counts: %+v, want 4 entries, the first counting 5 runs", dump)
	}
	if out := d.mustCLI(t, "map", "dump", "name", "by_proto"); !strings.Contains(out, "key: 00 08  value: 04 00 00 00 00 00 00 00") || !strings.Contains(out, "key: dd 86  value: 01 00") || !strings.Contains(out, "Found 2 elements") {
		t.Errorf("map dump by_proto:\n%s", out)
	}

	// Map operations with the three byte notations.
	d.mustCLI(t, "map", "update", "name", "by_proto", "key", "hex", "12", "34", "value", "0x07", "0", "0", "0", "0", "0", "0", "0", "noexist")
	if out := d.mustCLI(t, "map", "lookup", "name", "by_proto", "key", "0x12", "0x34"); !strings.Contains(out, "value: 07 00 00 00 00 00 00 00") {
		t.Errorf("map lookup: %q", out)
	}
	if _, errOut, err := d.cli("map", "update", "name", "by_proto", "key", "hex", "1234", "value", "hex", "0800000000000000", "noexist"); err == nil || !strings.Contains(errOut, "exists") {
		t.Errorf("update noexist of an existing key: %v %q", err, errOut)
	}
	out := d.mustCLI(t, "-j", "map", "getnext", "name", "counts", "key", "1", "0", "0", "0")
	if !strings.Contains(out, `"next_key":["0x02","0x00","0x00","0x00"]`) {
		t.Errorf("map getnext: %q", out)
	}
	d.mustCLI(t, "map", "delete", "name", "by_proto", "key", "hex", "12", "34")
	if _, errOut, err := d.cli("map", "lookup", "name", "by_proto", "key", "hex", "12", "34"); err == nil || !strings.Contains(errOut, "does not exist") {
		t.Errorf("lookup of a deleted key: %v %q", err, errOut)
	}
	if _, errOut, err := d.cli("map", "lookup", "name", "by_proto", "key", "1", "2", "3"); err == nil || !strings.Contains(errOut, "2-byte keys") {
		t.Errorf("lookup with a 3-byte key: %v %q", err, errOut)
	}

	// The ring buffer holds a record per run (6 so far).
	out = d.mustCLI(t, "-j", "map", "event_pipe", "pinned", "/sys/fs/bpf/test/maps/events", "count", "2")
	if n := strings.Count(out, `"data":["0x00","0x08","0x00","0x00","0x12","0x00","0x00","0x00"]`); n != 2 {
		t.Errorf("event_pipe: %d IPv4 records in %q", n, out)
	}

	// Trace output streams to subscribers.
	tl := exec.Command(bin, "--socket", d.socket, "prog", "tracelog", "count", "1")
	var tlOut syncBuffer
	tl.Stdout, tl.Stderr = &tlOut, &tlOut
	if err := tl.Start(); err != nil {
		t.Fatal(err)
	}
	tlDone := make(chan error, 1)
	go func() { tlDone <- tl.Wait() }()
	func() {
		for i := 0; i < 100; i++ {
			d.mustCLI(t, "prog", "run", "name", "xdp_daemon", "data_in", ipv4)
			select {
			case err := <-tlDone:
				if err != nil {
					t.Errorf("tracelog: %v %s", err, tlOut.String())
				}
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		tl.Process.Kill()
		t.Errorf("tracelog printed nothing")
	}()
	if !strings.Contains(tlOut.String(), "proto 800 len 18") {
		t.Errorf("tracelog: %q", tlOut.String())
	}

	// A map created by the CLI, frozen, and its pin.
	d.mustCLI(t, "map", "create", "/sys/fs/bpf/test/created", "type", "hash", "key", "4", "value", "4", "entries", "16", "name", "created")
	d.mustCLI(t, "map", "update", "pinned", "/sys/fs/bpf/test/created", "key", "1", "0", "0", "0", "value", "2", "0", "0", "0")
	d.mustCLI(t, "map", "freeze", "pinned", "/sys/fs/bpf/test/created")
	if _, errOut, err := d.cli("map", "update", "pinned", "/sys/fs/bpf/test/created", "key", "1", "0", "0", "0", "value", "3", "0", "0", "0"); err == nil || !strings.Contains(errOut, "frozen") {
		t.Errorf("update of a frozen map: %v %q", err, errOut)
	}
	out = d.mustCLI(t, "pin", "list")
	for _, p := range []string{"/sys/fs/bpf/test/prog", "/sys/fs/bpf/test/maps/counts", "/sys/fs/bpf/test/created"} {
		if !strings.Contains(out, p) {
			t.Errorf("pin list has no %s:\n%s", p, out)
		}
	}
	if _, errOut, err := d.cli("link", "show"); err != nil {
		t.Errorf("link show: %v %s", err, errOut)
	}

	// Unpinning the program unloads it; its maps stay while pinned.
	d.mustCLI(t, "pin", "delete", "/sys/fs/bpf/test/prog")
	if _, errOut, err := d.cli("prog", "show", "name", "xdp_daemon"); err == nil || !strings.Contains(errOut, "no program") {
		t.Errorf("prog show after unpin: %v %q", err, errOut)
	}
	d.mustCLI(t, "map", "show", "pinned", "/sys/fs/bpf/test/maps/counts")
}

func TestCLIWithoutDaemon(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "none.sock")
	_, errOut, err := runCLI(nil, "--socket", sock, "prog", "show")
	if err == nil || !strings.Contains(errOut, "anybpf daemon --socket "+sock) {
		t.Errorf("prog show without a daemon: %v %q", err, errOut)
	}
	// The in-process form needs no daemon.
	out, errOut, err := runCLI(nil, "--socket", sock, "prog", "run", objectPath(t), "data_in", writePacket(t, dir, 0x86dd))
	if err != nil || !strings.HasPrefix(out, "Return value: 1,") {
		t.Errorf("in-process prog run: %v %q %q", err, out, errOut)
	}
}

func TestClientEndToEnd(t *testing.T) {
	skipUnlessLinux(t)
	d := startDaemon(t, t.TempDir())
	c, err := anybpf.Connect(d.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	coll, err := c.LoadCollection(objectPath(t))
	if err != nil {
		t.Fatal(err)
	}
	prog := coll.Programs["xdp_daemon"]
	if prog == nil || len(coll.Maps) != 4 {
		t.Fatalf("collection: %+v", coll)
	}
	if was, err := c.SetStats(true); err != nil || was {
		t.Fatalf("SetStats: %v %v", was, err)
	}
	opts := &anybpf.RunOptions{Data: packet(0x0800), Repeat: 3}
	ret, err := prog.Run(opts)
	if err != nil || ret != 2 || !bytes.Equal(opts.DataOut, packet(0x0800)) {
		t.Fatalf("Run: %d %v %x", ret, err, opts.DataOut)
	}
	st, err := prog.Stats()
	if err != nil || st.RunCount != 3 || st.RunTime <= 0 {
		t.Errorf("Stats: %+v %v", st, err)
	}
	var n uint64
	if err := coll.Maps["counts"].Lookup(uint32(0), &n); err != nil || n != 3 {
		t.Errorf("Lookup counts[0]: %d %v", n, err)
	}
	byProto := coll.Maps["by_proto"]
	if err := byProto.Update(uint16(0x1234), uint64(9), maps.UpdateNoExist); err != nil {
		t.Fatal(err)
	}
	if err := byProto.Update(uint16(0x1234), uint64(9), maps.UpdateNoExist); !errors.Is(err, maps.ErrKeyExist) {
		t.Errorf("second UpdateNoExist: %v", err)
	}
	if err := byProto.Lookup(uint16(0x4321), &n); !errors.Is(err, anybpf.ErrKeyNotExist) {
		t.Errorf("Lookup of a missing key: %v", err)
	}
	entries, err := byProto.Dump()
	if err != nil || len(entries) != 2 || !bytes.Equal(entries[0].Key, []byte{0x00, 0x08}) || entries[0].Value[0] != 3 || entries[1].Value[0] != 9 {
		t.Errorf("Dump: %+v %v", entries, err)
	}
	next := make([]byte, 2)
	if err := byProto.NextKey(nil, next); err != nil {
		t.Error(err)
	}
	if err := byProto.Delete(uint16(0x1234)); err != nil {
		t.Error(err)
	}

	rd, err := coll.Maps["events"].NewReader()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		rec, err := rd.Read()
		if err != nil || !bytes.Equal(rec.RawSample, []byte{0x00, 0x08, 0, 0, 18, 0, 0, 0}) {
			t.Fatalf("record %d: %x %v", i, rec.RawSample, err)
		}
	}
	rd.Close()

	if err := coll.Maps["counts"].Pin("/sys/fs/bpf/client/counts"); err != nil {
		t.Fatal(err)
	}
	// A second client sees the first's objects; when the first closes, what it did not pin
	// is unloaded.
	c2, err := anybpf.Connect(d.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	list := func() (progs, ms int) {
		p, err := c2.API().ListPrograms(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		m, err := c2.API().ListMaps(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return len(p.Programs), len(m.Maps)
	}
	if p, m := list(); p != 1 || m != 4 {
		t.Fatalf("second client sees %d programs and %d maps", p, m)
	}
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p, m := list()
		if p == 0 && m == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the first client closed: %d programs and %d maps, want 0 and 1 (the pinned one)", p, m)
		}
		time.Sleep(20 * time.Millisecond)
	}
	pinned, err := c2.LoadPinnedMap("/sys/fs/bpf/client/counts")
	if err != nil {
		t.Fatal(err)
	}
	if err := pinned.Lookup(uint32(0), &n); err != nil || n != 3 {
		t.Errorf("pinned map after its loader closed: %d %v", n, err)
	}
	// Closing lets go of the client's hold, as closing a descriptor does: the pin keeps
	// the map; unpinned, it goes.
	if err := pinned.Close(); err != nil {
		t.Fatal(err)
	}
	if _, m := list(); m != 1 {
		t.Errorf("%d maps after closing the pinned one, want 1 (the pin holds it)", m)
	}
	if _, err := c2.API().Unpin(t.Context(), &pb.PinPath{Path: "/sys/fs/bpf/client/counts"}); err != nil {
		t.Fatal(err)
	}
	if _, m := list(); m != 0 {
		t.Errorf("%d maps after unpinning the last", m)
	}
}

func TestPermissions(t *testing.T) {
	skipUnlessLinux(t)
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as another user")
	}
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		os.Chmod(d, 0o755) // for uid 65534
	}
	d := startDaemon(t, dir)
	if err := os.Chmod(d.socket, 0o666); err != nil { // let uid 65534 reach the daemon
		t.Fatal(err)
	}
	obj := filepath.Join(dir, "daemon.o")
	b, err := os.ReadFile(objectPath(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(obj, b, 0o644); err != nil {
		t.Fatal(err)
	}
	d.mustCLI(t, "prog", "load", obj, "/sys/fs/bpf/perm/prog", "pinmaps", "/sys/fs/bpf/perm")
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	as := func(args ...string) (string, string, error) {
		return runCLI(nobody, append([]string{"--socket", d.socket}, args...)...)
	}
	for _, c := range []struct {
		args   []string
		method string
	}{
		{[]string{"prog", "load", obj, "/sys/fs/bpf/perm/mine"}, "LoadObject"},
		{[]string{"map", "update", "pinned", "/sys/fs/bpf/perm/counts", "key", "0", "0", "0", "0", "value", "1", "0", "0", "0", "0", "0", "0", "0"}, "MapUpdate"},
		{[]string{"prog", "pin", "pinned", "/sys/fs/bpf/perm/prog", "/sys/fs/bpf/perm/again"}, "Pin"},
		{[]string{"prog", "run", "pinned", "/sys/fs/bpf/perm/prog", "data_in", obj}, "TestRun"},
		{[]string{"map", "create", "/sys/fs/bpf/perm/new", "type", "hash", "key", "4", "value", "4", "entries", "4", "name", "x"}, "CreateMap"},
		{[]string{"pin", "delete", "/sys/fs/bpf/perm/prog"}, "Unpin"},
	} {
		_, errOut, err := as(c.args...)
		if err == nil || !strings.Contains(errOut, "permission denied: "+c.method) || !strings.Contains(errOut, "uid 65534") {
			t.Errorf("%v as uid 65534: %v %q", c.args, err, errOut)
		}
		if !strings.Contains(d.log.String(), "msg=refused method="+c.method+" uid=65534") {
			t.Errorf("refusal of %s not logged:\n%s", c.method, d.log)
		}
	}
	// Reading is allowed.
	if out, errOut, err := as("map", "dump", "pinned", "/sys/fs/bpf/perm/counts"); err != nil || !strings.Contains(out, "Found 4 elements") {
		t.Errorf("map dump as uid 65534: %v %q %q", err, out, errOut)
	}
	if _, errOut, err := as("prog", "show"); err != nil {
		t.Errorf("prog show as uid 65534: %v %q", err, errOut)
	}
	// Nothing changed, and root is still served.
	out := d.mustCLI(t, "pin", "list")
	if strings.Contains(out, "mine") || strings.Contains(out, "again") || strings.Contains(out, "/new") || !strings.Contains(out, "/sys/fs/bpf/perm/prog") {
		t.Errorf("pins after the refusals:\n%s", out)
	}
	d.mustCLI(t, "map", "update", "pinned", "/sys/fs/bpf/perm/counts", "key", "0", "0", "0", "0", "value", "1", "0", "0", "0", "0", "0", "0", "0")
}

func TestRestart(t *testing.T) {
	skipUnlessLinux(t)
	dir := t.TempDir()
	d := startDaemon(t, dir)
	d.mustCLI(t, "prog", "loadall", objectPath(t), "/sys/fs/bpf/r", "pinmaps", "/sys/fs/bpf/r/maps")
	d.mustCLI(t, "map", "create", "/sys/fs/bpf/r/standalone", "type", "array", "key", "4", "value", "8", "entries", "2", "name", "standalone")
	d.mustCLI(t, "map", "freeze", "pinned", "/sys/fs/bpf/r/standalone")
	ipv6 := writePacket(t, dir, 0x86dd)
	runs := 0
	for _, how := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL, syscall.SIGKILL} {
		// A client writes to the pinned array and the program counts in it; then the
		// daemon goes, gracefully or killed.
		d.mustCLI(t, "map", "update", "pinned", "/sys/fs/bpf/r/maps/counts", "key", "2", "0", "0", "0", "value", "42", "0", "0", "0", "0", "0", "0", "0")
		d.mustCLI(t, "prog", "run", "pinned", "/sys/fs/bpf/r/xdp_daemon", "data_in", ipv6, "repeat", "5")
		runs += 5
		d.stop(t, how)
		d = startDaemon(t, dir)
		// Array maps live in files of the state directory: what was written survives
		// even a kill.
		if out := d.mustCLI(t, "map", "lookup", "pinned", "/sys/fs/bpf/r/maps/counts", "key", "2", "0", "0", "0"); !strings.Contains(out, "value: 2a 00") {
			t.Errorf("after %v: counts[2]: %q, want 42", how, out)
		}
		want := fmt.Sprintf("value: %02x 00", runs)
		if out := d.mustCLI(t, "map", "lookup", "pinned", "/sys/fs/bpf/r/maps/counts", "key", "0", "0", "0", "0"); !strings.Contains(out, want) {
			t.Errorf("after %v: counts[0] (the program's count): %q, want %d", how, out, runs)
		}
		out := d.mustCLI(t, "pin", "list")
		for _, p := range []string{"/sys/fs/bpf/r/xdp_daemon", "/sys/fs/bpf/r/maps/counts", "/sys/fs/bpf/r/maps/events", "/sys/fs/bpf/r/standalone"} {
			if !strings.Contains(out, p) {
				t.Errorf("after %v: no pin %s:\n%s", how, p, out)
			}
		}
		if out := d.mustCLI(t, "prog", "run", "pinned", "/sys/fs/bpf/r/xdp_daemon", "data_in", ipv6); !strings.HasPrefix(out, "Return value: 1,") {
			t.Errorf("after %v: run: %q", how, out)
		}
		runs++
		// The program and the pinned map are one program and its map again; by_proto is
		// a hash map, file-backed too: it holds every run, before and after each kill.
		wantProto := fmt.Sprintf("value: %02x 00", runs)
		if out := d.mustCLI(t, "map", "lookup", "pinned", "/sys/fs/bpf/r/maps/by_proto", "key", "0xdd", "0x86"); !strings.Contains(out, wantProto) {
			t.Errorf("after %v: the pinned map is not the program's: %q, want %q", how, out, wantProto)
		}
		if out := d.mustCLI(t, "-j", "map", "show", "pinned", "/sys/fs/bpf/r/standalone"); !strings.Contains(out, `"frozen":1`) {
			t.Errorf("after %v: standalone map: %q", how, out)
		}
		// Only what is pinned was restored: one program, its four maps, the standalone map.
		if out := d.mustCLI(t, "-j", "prog", "show"); strings.Count(out, `"id"`) != 1 {
			t.Errorf("after %v: programs %s", how, out)
		}
		if out := d.mustCLI(t, "-j", "map", "show"); strings.Count(out, `"id"`) != 5 {
			t.Errorf("after %v: maps %s", how, out)
		}
	}
}

func TestSocketActivation(t *testing.T) {
	skipUnlessLinux(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "activated.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ul := l.(*net.UnixListener)
	f, err := ul.File()
	if err != nil {
		t.Fatal(err)
	}
	ul.SetUnlinkOnClose(false)
	ul.Close()
	// As systemd does: the socket is descriptor 3, and LISTEN_PID is the daemon's pid
	// (the shell's, which exec keeps).
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" daemon --socket /nonexistent/never.sock --state-dir "$1"`, bin, filepath.Join(dir, "state"))
	cmd.ExtraFiles = []*os.File{f}
	var log syncBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	var out, errOut string
	for i := 0; i < 100; i++ {
		if out, errOut, err = runCLI(nil, "--socket", sock, "-j", "prog", "show"); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || strings.TrimSpace(out) != "[]" {
		t.Fatalf("prog show on the inherited socket: %v %q %q\n%s", err, out, errOut, log.String())
	}
}

// TestProgLoadType loads a program whose section names no type as the type the command
// gives, and checks that the type is kept across a kill.
func TestProgLoadType(t *testing.T) {
	skipUnlessLinux(t)
	dir := t.TempDir()
	obj, err := filepath.Abs(filepath.Join("..", "..", "testdata", "untyped.o"))
	if err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, dir)
	// Without a type the program loads as code of no type, which cannot run.
	d.mustCLI(t, "prog", "load", obj, "/sys/fs/bpf/plain")
	if _, errOut, err := d.cli("prog", "run", "pinned", "/sys/fs/bpf/plain", "data_in", writePacket(t, dir, 0x0800)); err == nil || !strings.Contains(errOut, "not verifiable") {
		t.Fatalf("run of the program loaded without a type: err %v, %q; want the verifier's refusal", err, errOut)
	}
	if _, errOut, err := d.cli("prog", "load", obj, "/sys/fs/bpf/u", "type", "no_such_type"); err == nil || !strings.Contains(errOut, "unknown program type") {
		t.Fatalf("load as an unknown type: err %v, %q", err, errOut)
	}
	d.mustCLI(t, "prog", "load", obj, "/sys/fs/bpf/u", "type", "xdp", "pinmaps", "/sys/fs/bpf/um")
	ipv6, ipv4 := writePacket(t, dir, 0x86dd), writePacket(t, dir, 0x0800)
	check := func(when string) {
		t.Helper()
		if out := d.mustCLI(t, "-j", "prog", "show", "pinned", "/sys/fs/bpf/u"); !strings.Contains(out, `"type":"xdp"`) {
			t.Errorf("%s: prog show: %s", when, out)
		}
		if out := d.mustCLI(t, "prog", "run", "pinned", "/sys/fs/bpf/u", "data_in", ipv6); !strings.HasPrefix(out, "Return value: 1,") {
			t.Errorf("%s: IPv6 frame: %q, want XDP_DROP", when, out)
		}
		if out := d.mustCLI(t, "prog", "run", "pinned", "/sys/fs/bpf/u", "data_in", ipv4); !strings.HasPrefix(out, "Return value: 2,") {
			t.Errorf("%s: IPv4 frame: %q, want XDP_PASS", when, out)
		}
	}
	check("loaded")
	d.stop(t, syscall.SIGKILL)
	d = startDaemon(t, dir)
	check("after kill -9")
	// Four runs in all, counted in the pinned (file-backed) array.
	if out := d.mustCLI(t, "map", "lookup", "pinned", "/sys/fs/bpf/um/seen", "key", "0", "0", "0", "0"); !strings.Contains(out, "value: 04 00") {
		t.Errorf("seen after the restart: %q, want 4", out)
	}
	d.stop(t, syscall.SIGTERM)
}

// TestQueueSurvivesKill pushes and pops on a pinned queue through the CLI, kills the
// daemon, and finds the queue as it was.
func TestQueueSurvivesKill(t *testing.T) {
	skipUnlessLinux(t)
	dir := t.TempDir()
	d := startDaemon(t, dir)
	d.mustCLI(t, "map", "create", "/sys/fs/bpf/q", "type", "queue", "key", "0", "value", "4", "entries", "3", "name", "jobs")
	for _, v := range []string{"1", "2", "3"} {
		d.mustCLI(t, "map", "push", "pinned", "/sys/fs/bpf/q", "value", v, "0", "0", "0")
	}
	if _, errOut, err := d.cli("map", "enqueue", "pinned", "/sys/fs/bpf/q", "value", "4", "0", "0", "0"); err == nil || !strings.Contains(errOut, "full") {
		t.Fatalf("push into a full queue: %v, %q", err, errOut)
	}
	if out := d.mustCLI(t, "map", "pop", "pinned", "/sys/fs/bpf/q"); !strings.Contains(out, "value: 01 00 00 00") {
		t.Fatalf("pop: %q, want the oldest value, 1", out)
	}
	d.stop(t, syscall.SIGKILL)
	d = startDaemon(t, dir)
	for i, want := range []string{"value: 02 00 00 00", "value: 02 00 00 00", "value: 03 00 00 00"} {
		op := "pop"
		if i == 0 {
			op = "peek"
		}
		if out := d.mustCLI(t, "map", op, "pinned", "/sys/fs/bpf/q"); !strings.Contains(out, want) {
			t.Fatalf("after the kill, %s %d: %q, want %q", op, i, out, want)
		}
	}
	if _, errOut, err := d.cli("map", "dequeue", "pinned", "/sys/fs/bpf/q"); err == nil || !strings.Contains(errOut, "does not exist") {
		t.Fatalf("pop of an empty queue: %v, %q", err, errOut)
	}
	d.stop(t, syscall.SIGTERM)
}

// TestRunThroughDaemon runs commands under `anybpf run --daemon|--pin`: the programs run
// in the daemon, the command's hook is a daemon link that can be listed and detached
// while the command runs, and the pinned maps are readable meanwhile.
func TestRunThroughDaemon(t *testing.T) {
	skipUnlessLinux(t)
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash (its /dev/tcp makes the connections)")
	}
	dir := t.TempDir()
	d := startDaemon(t, dir)
	port := testutil.TCPServer(t, "").Port()
	obj, err := filepath.Abs("../../examples/connect_redirect/redirect.o")
	if err != nil {
		t.Fatal(err)
	}
	deny := fmt.Sprintf("denied:%d=1", port)
	connect := fmt.Sprintf("exec 3<>/dev/tcp/127.0.0.1/%d && echo connected", port)

	// A connect the map denies fails with EPERM, and run exits with the command's status.
	cmd := exec.Command(bin, "--socket", d.socket, "run", "--daemon", "--attach", "connect4="+obj, "--map-set", deny, "--", bash, "-c", connect)
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), "Operation not permitted") {
		t.Fatalf("denied connect through the daemon: %v\n%s", err, out)
	}

	// A command that waits before connecting: meanwhile its hook is a link, and the map
	// is pinned.
	fifo := filepath.Join(dir, "go")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	var log syncBuffer
	cmd = exec.Command(bin, "--socket", d.socket, "run", "--pin", "/sys/fs/bpf/run", "--attach", "connect4="+obj, "--map-set", deny, "--", bash, "-c", "read x < "+fifo+"; "+connect)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var linkID string
	for deadline := time.Now().Add(10 * time.Second); linkID == ""; time.Sleep(20 * time.Millisecond) {
		var links []struct {
			ID         uint32 `json:"id"`
			AttachType string `json:"attach_type"`
			Target     string `json:"target"`
		}
		if err := json.Unmarshal([]byte(d.mustCLI(t, "-j", "link", "show")), &links); err != nil {
			t.Fatal(err)
		}
		for _, l := range links {
			if l.AttachType == "connect4" && strings.HasPrefix(l.Target, "supervised:") && strings.Contains(l.Target, "bash -c read x") {
				linkID = fmt.Sprint(l.ID)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no supervised link listed; run's output:\n%s", log.String())
		}
	}
	key := []string{"key", fmt.Sprint(port & 0xff), fmt.Sprint(port >> 8)}
	if out := d.mustCLI(t, append([]string{"map", "lookup", "pinned", "/sys/fs/bpf/run/denied"}, key...)...); !strings.Contains(out, "value: 01") {
		t.Errorf("pinned map while the command runs: %q", out)
	}
	if _, errOut, err := d.cli("link", "pin", "id", linkID, "/sys/fs/bpf/supervised"); err == nil || !strings.Contains(errOut, "supervised command") {
		t.Errorf("pinning a supervised link: %v, %q", err, errOut)
	}
	d.mustCLI(t, "link", "detach", "id", linkID)
	// Detached, the program no longer denies the connect.
	if err := os.WriteFile(fifo, []byte("go\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil || !strings.Contains(log.String(), "connected") {
		t.Fatalf("connect after the link was detached: %v\n%s", err, log.String())
	}
	// The command is done: no supervised link is left; the pinned map stays.
	for deadline := time.Now().Add(5 * time.Second); strings.Contains(d.mustCLI(t, "link", "show"), "supervised:"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("supervised links left after the command ended:\n%s", d.mustCLI(t, "link", "show"))
		}
	}
	d.mustCLI(t, append([]string{"map", "lookup", "pinned", "/sys/fs/bpf/run/denied"}, key...)...)
}
