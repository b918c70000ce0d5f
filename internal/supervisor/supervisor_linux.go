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
	"runtime"
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
	sysAccept   = 43
	sysSendto   = 44
	sysSendmsg  = 46
	sysBind     = 49
	sysListen   = 50
	sysExecve   = 59
	sysRecvfrom = 45
	sysRecvmsg  = 47
	sysAccept4  = 288
	sysRecvmmsg = 299
	sysSendmmsg = 307
	sysExecveat = 322

	seccompSetModeFilter = 1
	seccompRetAllow      = 0x7fff0000
	seccompRetErrno      = 0x00050000
	pidfdThread          = unix.O_EXCL // PIDFD_THREAD (Linux 6.9)
)

// filter is the classic BPF program the command runs under: the calls of intercept go to
// the supervisor (sendto only with a destination address); x32 system calls are refused;
// everything else runs.
func filter(intercept Intercept) []unix.SockFilter {
	const (
		ldW  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeqK = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jgeK = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
		retK = unix.BPF_RET | unix.BPF_K
	)
	// Jumps name their targets; they are resolved once the program is laid out.
	type insn struct {
		f      unix.SockFilter
		jt, jf string
	}
	var prog []insn
	labels := map[string]int{}
	add := func(f unix.SockFilter, jt, jf string) { prog = append(prog, insn{f, jt, jf}) }
	label := func(name string) { labels[name] = len(prog) }
	add(unix.SockFilter{Code: ldW, K: 4}, "", "") // arch
	add(unix.SockFilter{Code: jeqK, K: unix.AUDIT_ARCH_X86_64}, "nr", "allow")
	label("nr")
	add(unix.SockFilter{Code: ldW, K: 0}, "", "")
	add(unix.SockFilter{Code: jgeK, K: 0x40000000}, "enosys", "")
	var calls []uint32
	if intercept&InterceptConnect != 0 {
		calls = append(calls, sysConnect)
	}
	if intercept&InterceptBind != 0 {
		calls = append(calls, sysBind)
	}
	if intercept&InterceptAccept != 0 {
		calls = append(calls, sysAccept, sysAccept4, sysListen)
	}
	if intercept&InterceptSend != 0 {
		calls = append(calls, sysSendmsg, sysSendmmsg)
	}
	if intercept&InterceptExec != 0 {
		calls = append(calls, sysExecve, sysExecveat)
	}
	if intercept&InterceptRecv != 0 {
		calls = append(calls, sysRecvmsg, sysRecvmmsg)
	}
	for _, nr := range calls {
		add(unix.SockFilter{Code: jeqK, K: nr}, "notify", "")
	}
	// sendto(fd, buf, len, flags, dest_addr, addrlen) and recvfrom(fd, buf, len, flags,
	// src_addr, addrlen): only with an address (the fifth argument).
	var withAddr []uint32
	if intercept&InterceptSend != 0 {
		withAddr = append(withAddr, sysSendto)
	}
	if intercept&InterceptRecv != 0 {
		withAddr = append(withAddr, sysRecvfrom)
	}
	for i, nr := range withAddr {
		if i == len(withAddr)-1 {
			add(unix.SockFilter{Code: jeqK, K: nr}, "addr", "allow")
		} else {
			add(unix.SockFilter{Code: jeqK, K: nr}, "addr", "")
		}
	}
	if len(withAddr) > 0 {
		label("addr")
		add(unix.SockFilter{Code: ldW, K: 16 + 8*4}, "", "")
		add(unix.SockFilter{Code: jeqK, K: 0}, "", "notify")
		add(unix.SockFilter{Code: ldW, K: 16 + 8*4 + 4}, "", "")
		add(unix.SockFilter{Code: jeqK, K: 0}, "allow", "notify")
	}
	label("allow")
	add(unix.SockFilter{Code: retK, K: seccompRetAllow}, "", "")
	label("notify")
	add(unix.SockFilter{Code: retK, K: unix.SECCOMP_RET_USER_NOTIF}, "", "")
	label("enosys")
	add(unix.SockFilter{Code: retK, K: seccompRetErrno | uint32(unix.ENOSYS)}, "", "")
	out := make([]unix.SockFilter, len(prog))
	for i, in := range prog {
		out[i] = in.f
		if in.jt != "" {
			out[i].Jt = uint8(labels[in.jt] - i - 1)
		}
		if in.jf != "" {
			out[i].Jf = uint8(labels[in.jf] - i - 1)
		}
	}
	return out
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
	intercept, err := strconv.ParseUint(os.Getenv(childEnv), 10, 32)
	if err != nil {
		return fmt.Errorf("supervised child: bad %s: %w", childEnv, err)
	}
	report, goAhead := os.NewFile(3, "report"), os.NewFile(4, "go")
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	f := filter(Intercept(intercept))
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

// Supervisor serves the seccomp notifications of one supervised command (and its
// threads and children).
type Supervisor struct {
	cmd                             *exec.Cmd // nil when adopted
	hooks                           atomic.Pointer[Hooks]
	listener                        int
	stop                            [2]int // a pipe whose closing ends the loop
	loopDone                        chan struct{}
	wg                              sync.WaitGroup
	pidfds                          sync.Map // tid → pidfd
	calls, denied, redirected, errs atomic.Uint64
	sockOpsEvents                   atomic.Uint64
	conns                           connTable // connections waiting for their close event
	waitOnce, closeOnce             sync.Once
	waitErr                         error
	closing                         atomic.Bool
}

// Start starts cmd (its Path, Args, Env, Dir, SysProcAttr and standard files are used)
// under the supervisor and returns once the command is running with the filter in place.
// The filter intercepts the calls hooks need.
func Start(cmd *exec.Cmd, hooks Hooks) (*Supervisor, error) {
	return StartWith(cmd, hooks, Options{})
}

// StartWith is Start with options.
func StartWith(cmd *exec.Cmd, hooks Hooks, opts Options) (*Supervisor, error) {
	child, listener, goAhead, err := spawn(cmd, hooks.Intercepts()|opts.Intercept)
	if err != nil {
		return nil, err
	}
	s, err := serve(listener, hooks)
	if err != nil {
		child.Process.Kill()
		child.Wait()
		return nil, fmt.Errorf("supervise %s: %w", cmd.Path, err)
	}
	s.cmd = child
	if err := goAhead(); err != nil {
		s.Close()
		child.Process.Kill()
		child.Wait()
		return nil, fmt.Errorf("supervise %s: %w", cmd.Path, err)
	}
	return s, nil
}

// Launched is a command started under a filter that no supervisor serves yet.
type Launched struct {
	// Cmd is the started process (the running binary re-executed; it executes the
	// command once released).
	Cmd *exec.Cmd
	// Listener is the filter's listener, in this process: hand it to Adopt here, or to
	// a supervisor in another process (which takes it with pidfd_getfd), and close it.
	Listener int
	release  func() error
}

// Launch starts cmd under a filter that intercepts the calls of intercept (InterceptAll
// for hooks attached later) and returns before the command runs: the command's
// intercepted calls wait until a supervisor serves Listener (see Adopt). Release lets
// the command start. Like Start, it needs MaybeChild.
func Launch(cmd *exec.Cmd, intercept Intercept) (*Launched, error) {
	child, listener, goAhead, err := spawn(cmd, intercept)
	if err != nil {
		return nil, err
	}
	return &Launched{Cmd: child, Listener: listener, release: goAhead}, nil
}

// Release lets the launched command start (it executes COMMAND).
func (l *Launched) Release() error {
	if err := l.release(); err != nil {
		return fmt.Errorf("supervise: release: %w", err)
	}
	return nil
}

// spawn re-executes the running binary (see MaybeChild) to install a filter intercepting
// intercept and execute cmd. It returns the child, the supervisor's copy of its
// listener, and the function that lets the child go on to execute the command.
func spawn(cmd *exec.Cmd, intercept Intercept) (child *exec.Cmd, listener int, goAhead func() error, err error) {
	if cmd.Err != nil { // exec.Command did not find the program
		return nil, -1, nil, fmt.Errorf("supervise: %w", cmd.Err)
	}
	path := cmd.Path // a path exec.Command did not look up: it must exist
	if cmd.Dir != "" && !filepath.IsAbs(path) {
		path = filepath.Join(cmd.Dir, path)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, -1, nil, fmt.Errorf("supervise: %w", err)
	}
	if runtime.GOARCH != "amd64" {
		// The filter knows x86-64's system call numbers only.
		return nil, -1, nil, fmt.Errorf("supervise: %w (linux/%s)", ErrNotSupported, runtime.GOARCH)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, -1, nil, fmt.Errorf("supervise: %w", err)
	}
	if len(cmd.Args) == 0 {
		cmd.Args = []string{cmd.Path}
	}
	reportR, reportW, err := os.Pipe()
	if err != nil {
		return nil, -1, nil, err
	}
	defer reportR.Close()
	goR, goW, err := os.Pipe()
	if err != nil {
		reportW.Close()
		return nil, -1, nil, err
	}
	child = exec.Command(self, append([]string{"--"}, cmd.Args...)...)
	child.Env = append(append([]string(nil), cmdEnv(cmd)...), fmt.Sprintf("%s=%d", childEnv, intercept))
	child.Dir, child.Stdin, child.Stdout, child.Stderr = cmd.Dir, cmd.Stdin, cmd.Stdout, cmd.Stderr
	child.ExtraFiles = []*os.File{reportW, goR}
	child.SysProcAttr = cmd.SysProcAttr
	if err := child.Start(); err != nil {
		reportW.Close()
		goR.Close()
		goW.Close()
		return nil, -1, nil, fmt.Errorf("supervise %s: %w", cmd.Path, err)
	}
	reportW.Close()
	goR.Close()
	fail := func(err error) (*exec.Cmd, int, func() error, error) {
		goW.Close()
		child.Process.Kill()
		child.Wait()
		return nil, -1, nil, fmt.Errorf("supervise %s: %w", cmd.Path, err)
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
	listener, err = unix.PidfdGetfd(pidfd, childFD, 0)
	unix.Close(pidfd)
	if err != nil {
		return fail(fmt.Errorf("pidfd_getfd of the listener: %w", err))
	}
	return child, listener, func() error {
		defer goW.Close()
		_, err := goW.Write([]byte{1})
		return err
	}, nil
}

// Adopt serves the notifications of listener, a seccomp user-notification listener file
// descriptor that another process created (a daemon obtains it from a client's process
// with pidfd_getfd), running hooks on the calls its filter intercepts. The supervisor
// takes listener over and closes it when it stops. It stops when every process under
// the filter has exited (Wait returns then) or on Close. The filter must be one that the
// command's calls can wait on: anybpf's (MaybeChild) or one that sends the same calls.
// On error the caller keeps listener.
func Adopt(listener int, hooks Hooks) (*Supervisor, error) {
	if listener < 0 {
		return nil, fmt.Errorf("supervisor: adopt: %w", unix.EBADF)
	}
	// A notification ID check on a listener with no notification fails with ENOENT;
	// any other error says it is no seccomp listener.
	id := uint64(0)
	if err := ioctl(listener, unix.SECCOMP_IOCTL_NOTIF_ID_VALID, unsafe.Pointer(&id)); err != nil && err != unix.ENOENT {
		return nil, fmt.Errorf("supervisor: adopt fd %d: not a seccomp listener: %w", listener, err)
	}
	return serve(listener, hooks)
}

func serve(listener int, hooks Hooks) (*Supervisor, error) {
	// Synchronous wake-ups (Linux 6.6): the caller, which waits for the answer, hands
	// its CPU to the supervisor and back, instead of waking another CPU each way. Older
	// kernels refuse the flag; the supervisor works the same without it.
	unix.Syscall(unix.SYS_IOCTL, uintptr(listener), unix.SECCOMP_IOCTL_NOTIF_SET_FLAGS, unix.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)
	s := &Supervisor{listener: listener, loopDone: make(chan struct{})}
	s.hooks.Store(&hooks)
	if err := unix.Pipe2(s.stop[:], unix.O_CLOEXEC); err != nil {
		unix.Close(listener)
		return nil, err
	}
	go s.loop()
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

// Pid is the supervised command's process id (0 for an adopted listener).
func (s *Supervisor) Pid() int {
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Hooks returns the programs the supervisor runs now.
func (s *Supervisor) Hooks() Hooks { return *s.hooks.Load() }

// SetHooks replaces the programs the supervisor runs: calls received from then on see
// the new ones. Hooks{} detaches every program (every call then runs as it would
// without them). Calls the filter does not intercept stay unjudged: see Options.
func (s *Supervisor) SetHooks(h Hooks) { s.hooks.Store(&h) }

// Done is closed when the supervisor has stopped serving: every process under the
// filter has exited, or Close or Wait stopped it.
func (s *Supervisor) Done() <-chan struct{} { return s.loopDone }

// Wait waits for the command to exit (for an adopted listener: for every process under
// its filter to exit), then stops supervising (a started command's children that are
// still running are no longer judged: their intercepted calls fail with ENOSYS). Close
// events of connections still open wait at most a second.
func (s *Supervisor) Wait() error {
	s.waitOnce.Do(func() {
		if s.cmd != nil {
			s.waitErr = s.cmd.Wait()
		} else {
			<-s.loopDone
		}
		s.conns.drain(time.Second)
		s.Close()
	})
	return s.waitErr
}

// Close stops supervising: calls waiting for an answer get one, calls made afterwards
// fail with ENOSYS once no other process holds the listener. It does not stop the
// command.
func (s *Supervisor) Close() error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		unix.Close(s.stop[1])
		<-s.loopDone
		s.wg.Wait()
		s.conns.close()
		unix.Close(s.stop[0])
		unix.Close(s.listener)
		s.pidfds.Range(func(k, v any) bool {
			unix.Close(v.(int))
			return true
		})
	})
	return nil
}

// Stats returns the supervisor's counters.
func (s *Supervisor) Stats() Stats {
	return Stats{Calls: s.calls.Load(), Denied: s.denied.Load(), Redirected: s.redirected.Load(), Errors: s.errs.Load(),
		SockOpsEvents: s.sockOpsEvents.Load()}
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

// loop receives notifications. One goroutine at a time is the receiver (the leader) and
// answers the calls itself, so that no call waits for another goroutine to be
// scheduled. Before it performs an operation that may block (a connect, accept or send
// on a blocking socket) it starts a new leader (handOff) and ends once its call is
// answered.
func (s *Supervisor) loop() {
	fds := []unix.PollFd{{Fd: int32(s.listener), Events: unix.POLLIN}, {Fd: int32(s.stop[0]), Events: unix.POLLIN}}
	for {
		fds[0].Revents, fds[1].Revents = 0, 0
		if _, err := unix.Poll(fds, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			close(s.loopDone)
			return
		}
		if fds[1].Revents != 0 || fds[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0 {
			close(s.loopDone)
			return
		}
		var n notif
		if err := ioctl(s.listener, unix.SECCOMP_IOCTL_NOTIF_RECV, unsafe.Pointer(&n)); err != nil {
			if err == unix.EINTR || err == unix.ENOENT {
				continue
			}
			close(s.loopDone)
			return
		}
		s.calls.Add(1)
		c := call{s: s, n: &n, hooks: s.hooks.Load()}
		s.wg.Add(1)
		c.handle()
		s.wg.Done()
		if !c.leader() {
			return // a new leader receives
		}
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

// handOffAfter is how long the receiving goroutine may spend in an operation that may
// block (a connect or send on a blocking socket) before another goroutine takes over the
// receiving. Most such operations end sooner (a connect on the same host, a send with
// room in the socket's buffer), and starting a goroutine at once would cost them more
// than the timer (measured: docs/benchmarks.md).
const handOffAfter = 50 * time.Microsecond

// call is a notification being answered.
type call struct {
	s         *Supervisor
	n         *notif
	hooks     *Hooks
	handedOff bool
	timer     *time.Timer
}

// handOff must be called before an operation that will wait: it makes another goroutine
// the receiver of notifications.
func (c *call) handOff() {
	if !c.handedOff && c.timer == nil {
		c.handedOff = true
		go c.s.loop()
	}
}

// handOffIfBlocking arranges for another goroutine to become the receiver if an
// operation on sock (with send flags) takes longer than handOffAfter, unless sock is
// non-blocking.
func (c *call) handOffIfBlocking(sock int, flags int) {
	if flags&unix.MSG_DONTWAIT != 0 || c.handedOff || c.timer != nil {
		return
	}
	if fl, err := unix.FcntlInt(uintptr(sock), unix.F_GETFL, 0); err != nil || fl&unix.O_NONBLOCK == 0 {
		c.timer = time.AfterFunc(handOffAfter, c.s.loop)
	}
}

// leader reports whether the call's goroutine is still the receiver.
func (c *call) leader() bool {
	if c.timer != nil && !c.timer.Stop() {
		return false
	}
	return !c.handedOff
}

func (c *call) handle() {
	s, n, h := c.s, c.n, c.hooks
	var err error
	switch n.Nr {
	case sysConnect, sysBind:
		err = s.sockCall(c)
	case sysAccept, sysAccept4:
		err = s.accept(c)
	case sysListen:
		err = s.listen(c)
	case sysSendto, sysSendmsg, sysSendmmsg:
		err = s.send(c)
	case sysRecvfrom, sysRecvmsg, sysRecvmmsg:
		err = s.recv(c)
	case sysExecve, sysExecveat:
		err = s.exec(n, h)
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
	return accessMem(pid, addr, buf, unix.ProcessVMReadv)
}

// writeMem writes buf at addr in the memory of thread pid.
func writeMem(pid uint32, addr uint64, buf []byte) error {
	return accessMem(pid, addr, buf, unix.ProcessVMWritev)
}

// accessMem copies between buf and the memory of thread pid at addr with
// process_vm_readv or process_vm_writev; a partial copy is EFAULT.
func accessMem(pid uint32, addr uint64, buf []byte, copyFn func(int, []unix.Iovec, []unix.RemoteIovec, uint) (int, error)) error {
	if len(buf) == 0 {
		return nil
	}
	local := []unix.Iovec{{Base: &buf[0], Len: uint64(len(buf))}}
	remote := []unix.RemoteIovec{{Base: uintptr(addr), Len: len(buf)}}
	n, err := copyFn(int(pid), local, remote, 0)
	if err != nil {
		return err
	}
	if n != len(buf) {
		return unix.EFAULT
	}
	return nil
}

// deny refuses call n with EPERM because a program said so.
func (s *Supervisor) deny(n *notif) {
	s.denied.Add(1)
	s.respond(n, 0, unix.EPERM, false)
}

// callSocket is socketOf for call n: a descriptor the thread does not have answers the
// call with EBADF (answered is set then).
func (s *Supervisor) callSocket(n *notif, fd int) (sock int, answered bool, err error) {
	sock, err = s.socketOf(n.Pid, fd)
	if errors.Is(err, unix.EBADF) {
		s.respond(n, 0, unix.EBADF, false)
		return -1, true, nil
	}
	return sock, false, err
}

// sockKind reads a socket's type, protocol and address family; ok is false for what is
// not a socket.
func sockKind(sock int) (typ, proto, domain int, ok bool) {
	typ, err1 := unix.GetsockoptInt(sock, unix.SOL_SOCKET, unix.SO_TYPE)
	proto, err2 := unix.GetsockoptInt(sock, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	domain, err3 := unix.GetsockoptInt(sock, unix.SOL_SOCKET, unix.SO_DOMAIN)
	return typ, proto, domain, err1 == nil && err2 == nil && err3 == nil
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

// sockCall judges a connect or bind of an IPv4 or IPv6 socket; with sock_ops programs,
// it performs a TCP connect itself to report the connection established.
func (s *Supervisor) sockCall(c *call) error {
	n, h := c.n, c.hooks
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
	inet := false
	switch {
	case family == unix.AF_INET && len(raw) >= 16:
		inet = true
		progs = h.Connect4
		if n.Nr == sysBind {
			progs = h.Bind4
		}
	case family == unix.AF_INET6 && len(raw) >= 24:
		inet = true
		progs = h.Connect6
		if n.Nr == sysBind {
			progs = h.Bind6
		}
	}
	sockOps := n.Nr == sysConnect && inet && len(h.SockOps) > 0
	winBind := n.Nr == sysBind && inet && len(h.Bind) > 0
	if len(progs) == 0 && !sockOps && !winBind {
		s.respond(n, 0, 0, true)
		return nil
	}
	sock, answered, err := s.callSocket(n, fd)
	if answered || err != nil {
		return err
	}
	keep := false // the watcher of a connect in progress keeps sock
	defer func() {
		if !keep {
			unix.Close(sock)
		}
	}()
	typ, err1 := unix.GetsockoptInt(sock, unix.SOL_SOCKET, unix.SO_TYPE)
	proto, err2 := unix.GetsockoptInt(sock, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	if err1 != nil || err2 != nil {
		s.respond(n, 0, unix.ENOTSOCK, false)
		return nil
	}
	sockOps = sockOps && isTCP(typ, proto)
	if len(progs) == 0 && !sockOps && !winBind {
		s.respond(n, 0, 0, true)
		return nil
	}
	var to netip.AddrPort
	if family == unix.AF_INET {
		to = netip.AddrPortFrom(netip.AddrFrom4([4]byte(raw[4:8])), binary.BigEndian.Uint16(raw[2:4]))
	} else {
		to = netip.AddrPortFrom(netip.AddrFrom16([16]byte(raw[8:24])), binary.BigEndian.Uint16(raw[2:4]))
	}
	final := to
	if len(progs) > 0 {
		var allow bool
		cookie, _ := unix.GetsockoptUint64(sock, unix.SOL_SOCKET, unix.SO_COOKIE)
		allow, final, _, err = judgeMsg(progs, to, netip.Addr{}, typ, proto, cookie)
		if err != nil {
			return err
		}
		if !allow {
			s.deny(n)
			return nil
		}
	}
	if winBind {
		image, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", n.Pid))
		var allow bool
		allow, final, err = JudgeBind(h.Bind, tgidOf(n.Pid), []byte(image), final, raw, proto)
		if err != nil {
			return err
		}
		if !s.valid(n) {
			return nil
		}
		if !allow {
			s.deny(n)
			return nil
		}
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
		c.handOffIfBlocking(sock, 0)
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
	if sockOps {
		switch errno {
		case 0:
			// Linux runs the callback before connect returns.
			s.established(sock, sockOpsActiveEstablished, h.SockOps)
		case unix.EINPROGRESS:
			keep = true
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer unix.Close(sock)
				if s.awaitConnected(sock) {
					s.established(sock, sockOpsActiveEstablished, h.SockOps)
				}
			}()
		}
	}
	s.respond(n, 0, errno, false)
	return nil
}

// isTCP reports whether a socket of type typ and protocol proto is a TCP one (MPTCP
// sockets too: their connections fall back to TCP or run TCP subflows).
func isTCP(typ, proto int) bool {
	return typ == unix.SOCK_STREAM && (proto == unix.IPPROTO_TCP || proto == unix.IPPROTO_MPTCP)
}

// isUDP reports whether a socket of type typ and protocol proto is a UDP socket.
func isUDP(typ, proto int) bool { return typ == unix.SOCK_DGRAM && proto == unix.IPPROTO_UDP }

// isInet reports whether an address family is IPv4 or IPv6, the hooks' families.
func isInet(domain int) bool { return domain == unix.AF_INET || domain == unix.AF_INET6 }

// sockaddrOf builds the socket address for final; raw is the caller's, for an IPv6
// address's scope.
func sockaddrOf(final netip.AddrPort, raw []byte) unix.Sockaddr {
	if final.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(final.Port()), Addr: final.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(final.Port()), ZoneId: binary.NativeEndian.Uint32(raw[24:28]), Addr: final.Addr().As16()}
}

// exec judges an execve or execveat with the PROCESS programs.
func (s *Supervisor) exec(n *notif, h *Hooks) error {
	if len(h.Exec) == 0 {
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
	for _, p := range h.Exec {
		ret, err := p.Run(&anybpf.RunOptions{Data: command, ImagePath: []byte(image), Context: md})
		if err != nil {
			return err
		}
		if ret != 0 {
			s.deny(n)
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
