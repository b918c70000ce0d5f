package supervisor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/anybpf/anybpf"
	"github.com/anybpf/anybpf/internal/procevents"
	"github.com/anybpf/anybpf/progtype"
)

// System call numbers (x86-64) the filter sends to the supervisor.
const (
	sysConnect  = 42
	sysBind     = 49
	sysExecve   = 59
	sysExecveat = 322

	seccompSetModeFilter = 1
	seccompRetAllow      = 0x7fff0000
	seccompRetErrno      = 0x00050000
	pidfdThread          = unix.O_EXCL // PIDFD_THREAD (Linux 6.9)
)

// filter is the classic BPF program the command runs under: connect, bind, execve and
// execveat go to the supervisor; x32 system calls are refused; everything else runs.
func filter() []unix.SockFilter {
	const (
		ldW  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeqK = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jgeK = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
		retK = unix.BPF_RET | unix.BPF_K
	)
	return []unix.SockFilter{
		{Code: ldW, K: 4}, // arch
		{Code: jeqK, Jt: 1, K: unix.AUDIT_ARCH_X86_64},
		{Code: retK, K: seccompRetAllow}, // another ABI: not ours to judge
		{Code: ldW, K: 0},                // nr
		{Code: jgeK, Jt: 6, K: 0x40000000},
		{Code: jeqK, Jt: 4, K: sysConnect},
		{Code: jeqK, Jt: 3, K: sysBind},
		{Code: jeqK, Jt: 2, K: sysExecve},
		{Code: jeqK, Jt: 1, K: sysExecveat},
		{Code: retK, K: seccompRetAllow},
		{Code: retK, K: unix.SECCOMP_RET_USER_NOTIF},
		{Code: retK, K: seccompRetErrno | uint32(unix.ENOSYS)},
	}
}

// MaybeChild must be called first thing in main (and in TestMain of tests that
// supervise): in the process Start re-executes, it installs the filter, hands the
// supervisor its listener and executes the command; it does not return there.
// Elsewhere it returns at once.
func MaybeChild() {
	if os.Getenv(childEnv) == "" {
		return
	}
	err := child()
	fmt.Fprintf(os.Stderr, "anybpf run: %v\n", err)
	os.Exit(127)
}

func child() error {
	i := 0
	for i < len(os.Args) && os.Args[i] != "--" {
		i++
	}
	if i+1 >= len(os.Args) {
		return errors.New("supervised child: no command")
	}
	args := os.Args[i+1:]
	path, err := exec.LookPath(args[0])
	if err != nil {
		return err
	}
	env := make([]string, 0, len(os.Environ()))
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, childEnv+"=") {
			env = append(env, e)
		}
	}
	report, goAhead := os.NewFile(3, "report"), os.NewFile(4, "go")
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	f := filter()
	prog := unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]}
	// Once the supervisor has received a call, the caller waits for the answer
	// without being interrupted by signals (Go's runtime preempts threads with
	// SIGURG, which would otherwise restart the call and run the programs again).
	flags := uintptr(unix.SECCOMP_FILTER_FLAG_NEW_LISTENER | unix.SECCOMP_FILTER_FLAG_TSYNC | unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH | unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)
	fd, _, errno := unix.Syscall(unix.SYS_SECCOMP, seccompSetModeFilter, flags, uintptr(unsafe.Pointer(&prog)))
	if errno == unix.EINVAL { // before Linux 5.19
		flags &^= unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
		fd, _, errno = unix.Syscall(unix.SYS_SECCOMP, seccompSetModeFilter, flags, uintptr(unsafe.Pointer(&prog)))
	}
	if errno != 0 {
		return fmt.Errorf("seccomp filter: %w", errno)
	}
	if _, err := report.WriteString(strconv.Itoa(int(fd))); err != nil {
		return err
	}
	report.Close()
	var b [1]byte
	if n, _ := goAhead.Read(b[:]); n != 1 {
		return errors.New("supervisor went away")
	}
	unix.Close(int(fd))
	goAhead.Close()
	return syscall.Exec(path, args, env)
}

// Supervisor supervises one command.
type Supervisor struct {
	cmd                             *exec.Cmd
	hooks                           Hooks
	listener                        int
	stop                            [2]int // a pipe whose closing ends the loop
	loopDone                        chan struct{}
	wg                              sync.WaitGroup
	pidfds                          sync.Map // tid → pidfd
	calls, denied, redirected, errs atomic.Uint64
	waitOnce                        sync.Once
	waitErr                         error
}

// Start starts cmd (its Path, Args, Env, Dir and standard files are used) under the
// supervisor and returns once the command is running with the filter in place.
func Start(cmd *exec.Cmd, hooks Hooks) (*Supervisor, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("supervise: %w", err)
	}
	if len(cmd.Args) == 0 {
		cmd.Args = []string{cmd.Path}
	}
	reportR, reportW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer reportR.Close()
	goR, goW, err := os.Pipe()
	if err != nil {
		reportW.Close()
		return nil, err
	}
	defer goW.Close()
	child := exec.Command(self, append([]string{"--"}, cmd.Args...)...)
	child.Env = append(append([]string(nil), cmdEnv(cmd)...), childEnv+"=1")
	child.Dir, child.Stdin, child.Stdout, child.Stderr = cmd.Dir, cmd.Stdin, cmd.Stdout, cmd.Stderr
	child.ExtraFiles = []*os.File{reportW, goR}
	child.SysProcAttr = cmd.SysProcAttr
	if err := child.Start(); err != nil {
		reportW.Close()
		goR.Close()
		return nil, fmt.Errorf("supervise %s: %w", cmd.Path, err)
	}
	reportW.Close()
	goR.Close()
	s := &Supervisor{cmd: child, hooks: hooks, listener: -1, loopDone: make(chan struct{})}
	fail := func(err error) (*Supervisor, error) {
		child.Process.Kill()
		child.Wait()
		return nil, fmt.Errorf("supervise %s: %w", cmd.Path, err)
	}
	msg, err := readAll(reportR)
	if err != nil || len(msg) == 0 {
		return fail(fmt.Errorf("the child did not install its filter (seccomp user notification unavailable?): %v", err))
	}
	childFD, err := strconv.Atoi(string(msg))
	if err != nil {
		return fail(fmt.Errorf("bad report %q", msg))
	}
	pidfd, err := unix.PidfdOpen(child.Process.Pid, 0)
	if err != nil {
		return fail(fmt.Errorf("pidfd_open: %w", err))
	}
	s.listener, err = unix.PidfdGetfd(pidfd, childFD, 0)
	unix.Close(pidfd)
	if err != nil {
		return fail(fmt.Errorf("pidfd_getfd of the listener: %w", err))
	}
	if err := unix.Pipe2(s.stop[:], unix.O_CLOEXEC); err != nil {
		unix.Close(s.listener)
		return fail(err)
	}
	go s.loop()
	if _, err := goW.Write([]byte{1}); err != nil {
		s.shutdown()
		return fail(err)
	}
	return s, nil
}

func cmdEnv(cmd *exec.Cmd) []string {
	if cmd.Env != nil {
		return cmd.Env
	}
	return os.Environ()
}

func readAll(f *os.File) ([]byte, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(f)
	return buf.Bytes(), err
}

// Pid is the supervised command's process id.
func (s *Supervisor) Pid() int { return s.cmd.Process.Pid }

// Wait waits for the command to exit, then stops supervising (its children that are
// still running are no longer judged: their calls fail with ENOSYS).
func (s *Supervisor) Wait() error {
	s.waitOnce.Do(func() {
		s.waitErr = s.cmd.Wait()
		s.shutdown()
	})
	return s.waitErr
}

// Stats returns the supervisor's counters.
func (s *Supervisor) Stats() Stats {
	return Stats{Calls: s.calls.Load(), Denied: s.denied.Load(), Redirected: s.redirected.Load(), Errors: s.errs.Load()}
}

func (s *Supervisor) shutdown() {
	unix.Close(s.stop[1])
	<-s.loopDone
	s.wg.Wait()
	unix.Close(s.stop[0])
	unix.Close(s.listener)
	s.pidfds.Range(func(k, v any) bool {
		unix.Close(v.(int))
		return true
	})
}

// notif is struct seccomp_notif.
type notif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Nr    int32
	Arch  uint32
	IP    uint64
	Args  [6]uint64
}

// notifResp is struct seccomp_notif_resp.
type notifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

func (s *Supervisor) loop() {
	defer close(s.loopDone)
	fds := []unix.PollFd{{Fd: int32(s.listener), Events: unix.POLLIN}, {Fd: int32(s.stop[0]), Events: unix.POLLIN}}
	for {
		fds[0].Revents, fds[1].Revents = 0, 0
		if _, err := unix.Poll(fds, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			return
		}
		if fds[1].Revents != 0 || fds[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0 {
			return
		}
		var n notif
		if err := ioctl(s.listener, unix.SECCOMP_IOCTL_NOTIF_RECV, unsafe.Pointer(&n)); err != nil {
			if err == unix.EINTR || err == unix.ENOENT {
				continue
			}
			return
		}
		s.calls.Add(1)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(&n)
		}()
	}
}

func ioctl(fd int, req uint, arg unsafe.Pointer) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(arg))
	if errno != 0 {
		return errno
	}
	return nil
}

// respond answers a notification: errno != 0 fails the call, cont lets the kernel run it,
// otherwise val is its result.
func (s *Supervisor) respond(n *notif, val int64, errno unix.Errno, cont bool) {
	r := notifResp{ID: n.ID, Val: val}
	if errno != 0 {
		r.Error = -int32(errno)
	}
	if cont {
		r.Flags = unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE
	}
	_ = ioctl(s.listener, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&r))
}

// valid reports whether the notification is still pending (its thread has not been
// interrupted and its memory still belongs to it).
func (s *Supervisor) valid(n *notif) bool {
	id := n.ID
	return ioctl(s.listener, unix.SECCOMP_IOCTL_NOTIF_ID_VALID, unsafe.Pointer(&id)) == nil
}

func (s *Supervisor) handle(n *notif) {
	var err error
	switch n.Nr {
	case sysConnect, sysBind:
		err = s.sockCall(n)
	case sysExecve, sysExecveat:
		err = s.exec(n)
	default:
		s.respond(n, 0, 0, true)
		return
	}
	if err != nil {
		s.errs.Add(1)
		s.respond(n, 0, unix.EPERM, false)
	}
}

// readMem reads len(buf) bytes at addr in the memory of thread pid.
func readMem(pid uint32, addr uint64, buf []byte) error {
	if len(buf) == 0 {
		return nil
	}
	local := []unix.Iovec{{Base: &buf[0], Len: uint64(len(buf))}}
	remote := []unix.RemoteIovec{{Base: uintptr(addr), Len: len(buf)}}
	n, err := unix.ProcessVMReadv(int(pid), local, remote, 0)
	if err != nil {
		return err
	}
	if n != len(buf) {
		return unix.EFAULT
	}
	return nil
}

// socketOf duplicates the file descriptor fd of thread pid into the supervisor.
func (s *Supervisor) socketOf(pid uint32, fd int) (int, error) {
	for attempt := 0; ; attempt++ {
		pfd, err := s.pidfd(pid)
		if err != nil {
			return -1, err
		}
		dup, err := unix.PidfdGetfd(pfd, fd, 0)
		if err == unix.ESRCH && attempt == 0 {
			// The cached pidfd is of an earlier thread with this id.
			if v, loaded := s.pidfds.LoadAndDelete(pid); loaded {
				unix.Close(v.(int))
			}
			continue
		}
		return dup, err
	}
}

// pidfd returns a pidfd for thread pid (of its process on kernels before 6.9, which
// have no thread pidfds).
func (s *Supervisor) pidfd(pid uint32) (int, error) {
	if v, ok := s.pidfds.Load(pid); ok {
		return v.(int), nil
	}
	pfd, err := unix.PidfdOpen(int(pid), pidfdThread)
	if err == unix.EINVAL {
		pfd, err = unix.PidfdOpen(int(tgidOf(pid)), 0)
	}
	if err != nil {
		return -1, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	if old, loaded := s.pidfds.LoadOrStore(pid, pfd); loaded {
		unix.Close(pfd)
		return old.(int), nil
	}
	return pfd, nil
}

// sockCall judges a connect or bind of an IPv4 or IPv6 socket.
func (s *Supervisor) sockCall(n *notif) error {
	fd, addrPtr, addrLen := int(int32(n.Args[0])), n.Args[1], n.Args[2]
	if addrLen < 2 || addrLen > 128 {
		s.respond(n, 0, 0, true) // the kernel refuses it as it would
		return nil
	}
	raw := make([]byte, addrLen)
	if err := readMem(n.Pid, addrPtr, raw); err != nil {
		s.respond(n, 0, 0, true) // a bad address: the kernel gives EFAULT itself
		return nil
	}
	if !s.valid(n) {
		return nil
	}
	family := binary.NativeEndian.Uint16(raw)
	var progs []*anybpf.Program
	switch {
	case family == unix.AF_INET && len(raw) >= 16:
		progs = s.hooks.Connect4
		if n.Nr == sysBind {
			progs = s.hooks.Bind4
		}
	case family == unix.AF_INET6 && len(raw) >= 24:
		progs = s.hooks.Connect6
		if n.Nr == sysBind {
			progs = s.hooks.Bind6
		}
	}
	if len(progs) == 0 {
		s.respond(n, 0, 0, true)
		return nil
	}
	sock, err := s.socketOf(n.Pid, fd)
	if err != nil {
		if errors.Is(err, unix.EBADF) {
			s.respond(n, 0, unix.EBADF, false)
			return nil
		}
		return err
	}
	defer unix.Close(sock)
	typ, err1 := unix.GetsockoptInt(sock, unix.SOL_SOCKET, unix.SO_TYPE)
	proto, err2 := unix.GetsockoptInt(sock, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	if err1 != nil || err2 != nil {
		s.respond(n, 0, unix.ENOTSOCK, false)
		return nil
	}
	var to netip.AddrPort
	if family == unix.AF_INET {
		to = netip.AddrPortFrom(netip.AddrFrom4([4]byte(raw[4:8])), binary.BigEndian.Uint16(raw[2:4]))
	} else {
		to = netip.AddrPortFrom(netip.AddrFrom16([16]byte(raw[8:24])), binary.BigEndian.Uint16(raw[2:4]))
	}
	allow, final, err := Judge(progs, to, typ, proto)
	if err != nil {
		return err
	}
	if !allow {
		s.denied.Add(1)
		s.respond(n, 0, unix.EPERM, false)
		return nil
	}
	rewritten := final != to
	sa := sockaddrOf(final, raw)
	port := final.Port()
	if n.Nr == sysBind && !rewritten && port != 0 && port < 1024 {
		// Binding a privileged port is checked against the caller's capabilities:
		// let the kernel do it as the caller.
		s.respond(n, 0, 0, true)
		return nil
	}
	if rewritten {
		s.redirected.Add(1)
	}
	// The call runs on the supervisor's copy of the socket, with the address judged:
	// the caller cannot change it between the check and the call.
	if n.Nr == sysConnect {
		err = unix.Connect(sock, sa)
	} else {
		if rewritten && port != 0 && port < 1024 {
			s.respond(n, 0, unix.EPERM, false) // the supervisor's privilege is not the caller's
			return nil
		}
		err = unix.Bind(sock, sa)
	}
	var errno unix.Errno
	if err != nil && !errors.As(err, &errno) {
		errno = unix.EINVAL
	}
	s.respond(n, 0, errno, false)
	return nil
}

// sockaddrOf builds the socket address for final; raw is the caller's, for an IPv6
// address's scope.
func sockaddrOf(final netip.AddrPort, raw []byte) unix.Sockaddr {
	if final.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(final.Port()), Addr: final.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(final.Port()), ZoneId: binary.NativeEndian.Uint32(raw[24:28]), Addr: final.Addr().As16()}
}

// exec judges an execve or execveat with the PROCESS programs.
func (s *Supervisor) exec(n *notif) error {
	if len(s.hooks.Exec) == 0 {
		s.respond(n, 0, 0, true)
		return nil
	}
	pathPtr, argvPtr := n.Args[0], n.Args[1]
	if n.Nr == sysExecveat {
		pathPtr, argvPtr = n.Args[1], n.Args[2]
	}
	path, err := readString(n.Pid, pathPtr)
	if err != nil {
		s.respond(n, 0, 0, true) // the kernel reports the bad address itself
		return nil
	}
	var argv []string
	for i := uint64(0); i < 256 && argvPtr != 0; i++ {
		var p [8]byte
		if readMem(n.Pid, argvPtr+8*i, p[:]) != nil {
			break
		}
		a := binary.NativeEndian.Uint64(p[:])
		if a == 0 {
			break
		}
		arg, err := readString(n.Pid, a)
		if err != nil {
			break
		}
		argv = append(argv, arg)
	}
	if !s.valid(n) {
		return nil
	}
	image := path
	if !filepath.IsAbs(image) {
		if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", n.Pid)); err == nil {
			image = filepath.Join(cwd, image)
		}
	}
	tgid := tgidOf(n.Pid)
	md := progtype.ProcessMD{ProcessID: uint64(tgid), ParentProcessID: uint64(procevents.ParentOf(tgid)), CreatingProcessID: uint64(tgid),
		CreatingThreadID: uint64(n.Pid), CreationTime: uint64(monotonic())}.Encode()
	command := []byte(strings.Join(argv, " "))
	for _, p := range s.hooks.Exec {
		ret, err := p.Run(&anybpf.RunOptions{Data: command, ImagePath: []byte(image), Context: md})
		if err != nil {
			return err
		}
		if ret != 0 {
			s.denied.Add(1)
			s.respond(n, 0, unix.EPERM, false)
			return nil
		}
	}
	s.respond(n, 0, 0, true)
	return nil
}

// readString reads a NUL-terminated string of at most 4096 bytes.
func readString(pid uint32, addr uint64) (string, error) {
	var out []byte
	buf := make([]byte, 256)
	for len(out) < 4096 {
		// Read up to the next page boundary so as not to fault on a string that ends
		// just before an unmapped page.
		chunk := buf[:min(uint64(len(buf)), 4096-addr%4096)]
		if err := readMem(pid, addr, chunk); err != nil {
			return "", err
		}
		if i := bytes.IndexByte(chunk, 0); i >= 0 {
			return string(append(out, chunk[:i]...)), nil
		}
		out = append(out, chunk...)
		addr += uint64(len(chunk))
	}
	return "", unix.ENAMETOOLONG
}

// tgidOf returns the process a thread belongs to.
func tgidOf(tid uint32) uint32 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return tid
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				return uint32(n)
			}
		}
	}
	return tid
}

func monotonic() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return time.Duration(ts.Nano())
}
