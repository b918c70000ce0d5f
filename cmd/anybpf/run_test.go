package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/anybpf/anybpf/internal/testutil"

	"github.com/anybpf/anybpf/internal/supervisor"
)

func TestMain(m *testing.M) {
	// "anybpf run" re-executes the running binary, here the test binary.
	supervisor.MaybeChild()
	os.Exit(m.Run())
}

func TestRunCommand(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("anybpf run test: no bash (its /dev/tcp makes the connection)")
	}
	port := testutil.TCPServer(t, "").Port()
	connect := fmt.Sprintf("exec 3<>/dev/tcp/127.0.0.1/%d", port)
	obj := "../../examples/connect_redirect/redirect.o"
	python, _ := exec.LookPath("python3")
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	udpPort := udp.LocalAddr().(*net.UDPAddr).Port
	sendto := fmt.Sprintf("import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', %d))", udpPort)
	sendmsg := "../../testdata/sendmsg.o"
	// A command that receives one datagram from itself through a recvmsg hook.
	recvfrom := "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 0)); " +
		"s.sendto(b'y', s.getsockname()); d, a = s.recvfrom(10); assert d == b'y' and a == s.getsockname(), a"
	for _, tc := range []struct {
		name string
		args []string
		code int    // exit status wanted (0: success)
		errs string // part of the error output wanted
	}{
		{"allowed", []string{"run", "--attach", "connect4=" + obj, "--", bash, "-c", connect}, 0, ""},
		{"denied by a map entry", []string{"run", "--attach", "connect4=" + obj, "--map-set", fmt.Sprintf("denied:%d=1", port), "--", bash, "-c", connect}, 1, "Operation not permitted"},
		{"the command's exit status", []string{"run", "--attach", "connect4=" + obj, "--", bash, "-c", "exit 7"}, 7, ""},
		{"by name", []string{"run", "--attach", "connect4=" + obj + ":connect4", "--", bash, "-c", "true"}, 0, ""},
		{"unknown attach type", []string{"run", "--attach", "sendmsg9=" + obj, "--", "true"}, -1, "want TYPE=PROG"},
		{"no such program", []string{"run", "--attach", "connect4=" + obj + ":nope", "--", "true"}, -1, `no program "nope"`},
		{"wrong program type", []string{"run", "--attach", "process=" + obj + ":connect4", "--", "true"}, -1, "not process"},
		{"no such map", []string{"run", "--attach", "connect4=" + obj, "--map-set", "nope:1=1", "--", "true"}, -1, `no map "nope"`},
		{"value too large", []string{"run", "--attach", "connect4=" + obj, "--map-set", "denied:70000=1", "--", "true"}, -1, "does not fit 2 bytes"},
		{"no attach", []string{"run", "--", "true"}, -1, "no --attach"},
		{"no such command", []string{"run", "--attach", "connect4=" + obj, "--", "/nonexistent/command"}, -1, "no such file"},
		{"ebpf-for-windows bind", []string{"run", "--attach", "bind=../../testdata/bind_md.o:port_policy", "--", bash, "-c", "true"}, 0, ""},
		{"bind of the wrong type", []string{"run", "--attach", "bind=" + obj + ":connect4", "--", "true"}, -1, "not bind"},
		{"sockops on a connection", []string{"run", "--attach", "sockops=../../testdata/sockops_events.o", "--", bash, "-c", connect + "; exec 3>&-"}, 0, ""},
		{"sendmsg4 allowed", []string{"run", "--attach", "sendmsg4=" + sendmsg, "--", python, "-c", sendto}, 0, ""},
		{"sendmsg4 denied", []string{"run", "--attach", "sendmsg4=" + sendmsg, "--map-set", fmt.Sprintf("denied:%d=1", udpPort), "--", python, "-c", sendto}, 1, "PermissionError"},
		{"recvmsg4 program missing", []string{"run", "--attach", "recvmsg4=" + obj, "--", "true"}, -1, "no program in section cgroup/recvmsg4"},
		{"recvmsg4", []string{"run", "--attach", "recvmsg4=" + sendmsg, "--", python, "-c", recvfrom}, 0, ""},
		{"string key too long", []string{"run", "--attach", "process=../../examples/exec_audit/audit.o", "--map-set", `denied:"` + strings.Repeat("x", 65) + `"=1`, "--", "true"}, -1, "longer than 64 bytes"},
		{"exec denied by a string key", []string{"run", "--attach", "process=../../examples/exec_audit/audit.o", "--map-set", `denied:"/usr/bin/true"=1`, "--", bash, "-c", "/usr/bin/true"}, 126, ""},
		{"exec allowed", []string{"run", "--attach", "process=../../examples/exec_audit/audit.o", "--map-set", `denied:"/usr/bin/true"=1`, "--", bash, "-c", "/usr/bin/false"}, 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.args[len(tc.args)-3] == python && python == "" {
				t.Skip("no python3 (it sends the datagrams)")
			}
			_, stderr, err := run(t, "", tc.args...)
			var ee *exitError
			switch {
			case tc.code == 0 && err != nil:
				if strings.Contains(err.Error(), "seccomp") && os.Geteuid() != 0 {
					t.Skip("anybpf run: ", err)
				}
				t.Fatalf("%v (%s)", err, stderr)
			case tc.code > 0 && (!errors.As(err, &ee) || ee.code != tc.code):
				t.Fatalf("error %v, want exit status %d", err, tc.code)
			case tc.code < 0 && (err == nil || !strings.Contains(err.Error(), tc.errs)):
				t.Fatalf("error %v, want one with %q", err, tc.errs)
			case tc.code > 0 && tc.errs != "" && !strings.Contains(stderr, tc.errs):
				t.Fatalf("stderr %q, want %q", stderr, tc.errs)
			}
		})
	}
}
