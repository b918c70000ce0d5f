package supervisor

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anybpf/anybpf/internal/testutil"

	"github.com/anybpf/anybpf"
	"github.com/anybpf/anybpf/maps"
)

// clientEnv makes the test binary a client that performs one action and reports it.
const clientEnv = "SUPERVISOR_TEST_CLIENT"

func TestMain(m *testing.M) {
	MaybeChild()
	if action := os.Getenv(clientEnv); action != "" {
		os.Exit(client(action))
	}
	os.Exit(m.Run())
}

// client performs action ("connect ADDR", "bind ADDR", "exec PATH", "child ACTION")
// and prints "ok DETAIL" or "err ERRNO".
func client(action string) int {
	verb, arg, _ := strings.Cut(action, " ")
	report := func(detail string, err error) int {
		if err != nil {
			var errno syscall.Errno
			if errors.As(err, &errno) {
				fmt.Printf("err %d\n", int(errno))
			} else {
				fmt.Printf("err %v\n", err)
			}
			return 1
		}
		fmt.Printf("ok %s\n", detail)
		return 0
	}
	switch verb {
	case "connect":
		c, err := net.DialTimeout("tcp", arg, 5*time.Second)
		if err != nil {
			return report("", err)
		}
		defer c.Close()
		b := make([]byte, 1)
		_, err = io.ReadFull(c, b)
		return report(string(b), err)
	case "bind":
		l, err := net.Listen("tcp", arg)
		if err != nil {
			return report("", err)
		}
		l.Close()
		return report("", nil)
	case "exec":
		err := exec.Command(arg).Run()
		return report("", err)
	case "latency":
		// latency N connect|bind ADDR: time N calls, print the median and p99 in µs.
		f := strings.Fields(arg)
		n, _ := strconv.Atoi(f[0])
		var ts []time.Duration
		for range n {
			fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
			if err != nil {
				return report("", err)
			}
			ap := netip.MustParseAddrPort(f[2])
			sa := &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
			start := time.Now()
			if f[1] == "connect" {
				err = syscall.Connect(fd, sa)
			} else {
				sa.Port = 0
				err = syscall.Bind(fd, sa)
			}
			ts = append(ts, time.Since(start))
			syscall.Close(fd)
			if err != nil {
				return report("", err)
			}
		}
		slices.Sort(ts)
		return report(fmt.Sprintf("%.1f %.1f", float64(ts[len(ts)/2].Nanoseconds())/1e3, float64(ts[len(ts)*99/100].Nanoseconds())/1e3), nil)
	case "child":
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), clientEnv+"="+arg)
		out, _ := cmd.Output()
		fmt.Print(string(out))
		return 0
	}
	return report("", fmt.Errorf("unknown action %q", action))
}

// supervised runs the test binary as a client doing action under hooks and returns its
// report.
func supervised(t *testing.T, hooks Hooks, action string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), clientEnv+"="+action)
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	s, err := Start(cmd, hooks)
	if err != nil {
		if os.Geteuid() != 0 {
			t.Skip("supervisor: ", err)
		}
		t.Fatal(err)
	}
	s.Wait()
	return strings.TrimSpace(out.String())
}

func load(t *testing.T, path string) *anybpf.Collection {
	t.Helper()
	rt := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig())
	t.Cleanup(func() { rt.Close() })
	coll, err := rt.LoadCollection(filepath.Join("..", "..", path))
	if err != nil {
		t.Fatal(err)
	}
	return coll
}

func TestConnect(t *testing.T) {
	coll := load(t, "examples/connect_redirect/redirect.o")
	backend, other, denied := testutil.TCPServer(t, "B"), testutil.TCPServer(t, "O"), testutil.TCPServer(t, "D")
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
	hooks := Hooks{Connect4: []*anybpf.Program{coll.Programs["connect4"]}}
	for _, tc := range []struct{ name, action, want string }{
		{"allowed", "connect " + other.String(), "ok O"},
		{"denied port", "connect " + denied.String(), fmt.Sprintf("err %d", int(syscall.EPERM))},
		{"redirected from the service address", "connect 198.18.0.10:80", "ok B"},
		{"a child is covered", "child connect " + denied.String(), fmt.Sprintf("err %d", int(syscall.EPERM))},
		{"a child is redirected", "child connect 198.18.0.10:80", "ok B"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := supervised(t, hooks, tc.action); got != tc.want {
				t.Errorf("%s: %q, want %q", tc.action, got, tc.want)
			}
		})
	}
	// Without hooks the same connect reaches the denied server.
	if got := supervised(t, Hooks{}, "connect "+denied.String()); got != "ok D" {
		t.Errorf("unhooked connect: %q", got)
	}
}

func TestBind(t *testing.T) {
	coll := load(t, "examples/bind_policy/policy.o")
	if err := coll.Maps["allowed"].Update(uint16(18080), []byte{1}, maps.UpdateAny); err != nil {
		t.Fatal(err)
	}
	hooks := Hooks{Bind4: []*anybpf.Program{coll.Programs["bind4"]}, Bind6: []*anybpf.Program{coll.Programs["bind6"]}}
	for _, tc := range []struct{ action, want string }{
		{"bind 127.0.0.1:18080", "ok"},
		{"bind 127.0.0.1:18081", fmt.Sprintf("err %d", int(syscall.EPERM))},
		{"bind 127.0.0.1:0", "ok"},
		{"bind [::1]:18081", fmt.Sprintf("err %d", int(syscall.EPERM))},
	} {
		if got := supervised(t, hooks, tc.action); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.action, got, tc.want)
		}
	}
	var refused uint64
	// Each refused Listen is two binds: Go tries an MPTCP socket first, then TCP.
	if err := coll.Maps[".bss"].Lookup(uint32(0), &refused); err != nil || refused < 2 || refused%2 != 0 {
		t.Errorf("refused = %d, %v; want 2 Listen calls' worth", refused, err)
	}
}

func TestExec(t *testing.T) {
	coll := load(t, "examples/exec_audit/audit.o")
	key := make([]byte, 64)
	copy(key, "/usr/bin/true")
	if err := coll.Maps["denied"].Update(key, []byte{1}, maps.UpdateAny); err != nil {
		t.Fatal(err)
	}
	hooks := Hooks{Exec: []*anybpf.Program{coll.Programs["audit"]}}
	if got := supervised(t, hooks, "exec /usr/bin/true"); got != fmt.Sprintf("err %d", int(syscall.EPERM)) {
		t.Errorf("exec of a denied binary: %q", got)
	}
	if got := supervised(t, hooks, "exec /usr/bin/false"); !strings.HasPrefix(got, "err exit status 1") {
		t.Errorf("exec of an allowed binary: %q, want it to run (and fail with status 1)", got)
	}
}

// BenchmarkCallLatency reports the median and p99 latency of connect (to a loopback
// listener) and bind (to port 0) in a command with and without the supervisor and an
// allowing program: what supervision adds to each call.
func BenchmarkCallLatency(b *testing.B) {
	rt := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig())
	defer rt.Close()
	connect, err := rt.LoadCollection("../../examples/connect_redirect/redirect.o")
	if err != nil {
		b.Fatal(err)
	}
	bind, err := rt.LoadCollection("../../examples/bind_policy/policy.o")
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	hooks := Hooks{Connect4: []*anybpf.Program{connect.Programs["connect4"]}, Bind4: []*anybpf.Program{bind.Programs["bind4"]}}
	const n = 2000
	for b.Loop() {
		for _, call := range []string{"connect", "bind"} {
			for _, h := range []struct {
				name  string
				hooks *Hooks
			}{{"plain", nil}, {"supervised", &hooks}} {
				action := fmt.Sprintf("latency %d %s %s", n, call, l.Addr())
				cmd := exec.Command(os.Args[0])
				cmd.Env = append(os.Environ(), clientEnv+"="+action)
				var out []byte
				if h.hooks == nil {
					out, err = cmd.Output()
				} else {
					var sb strings.Builder
					cmd.Stdout = &sb
					s, serr := Start(cmd, *h.hooks)
					if serr != nil {
						b.Skip("supervisor: ", serr)
					}
					err = s.Wait()
					out = []byte(sb.String())
				}
				var med, p99 float64
				if _, serr := fmt.Sscanf(string(out), "ok %g %g", &med, &p99); serr != nil || err != nil {
					b.Fatalf("%s %s: %q %v", h.name, call, out, err)
				}
				b.ReportMetric(med, call+"-"+h.name+"-p50-µs")
				b.ReportMetric(p99, call+"-"+h.name+"-p99-µs")
			}
		}
	}
}
