package elfload

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"

	"github.com/cilium/ebpf/btf"
)

// ErrNoKernelBTF is wrapped by the errors saying that the kernel's BTF is not available:
// not on this system (only Linux has /sys/kernel/btf/vmlinux), not in this kernel, or
// turned off by Options.NoKernelBTF.
var ErrNoKernelBTF = errors.New("the kernel's BTF is not available")

// Options tune LoadWith.
type Options struct {
	// KernelBTF is the BTF of the kernel that programs anybpf does not run (tracing,
	// kprobes, LSM, ...) are meant for: their CO-RE relocations are resolved against it,
	// as libbpf does, and the verifier types the kernel pointers of tracing programs
	// with it. nil means the running kernel's (/sys/kernel/btf/vmlinux), read when first
	// needed, unless NoKernelBTF is set.
	KernelBTF *btf.Spec
	// NoKernelBTF uses no kernel BTF at all: CO-RE relocations of programs anybpf does
	// not run that anybpf's own types cannot resolve poison their instructions, and
	// tracing programs whose checking needs the kernel's types are refused.
	NoKernelBTF bool
}

var (
	runningOnce sync.Once
	runningSpec *btf.Spec
	runningErr  error
)

// RunningKernelBTF returns the BTF of the running kernel, read once from
// /sys/kernel/btf/vmlinux; the error wraps ErrNoKernelBTF when there is none.
func RunningKernelBTF() (*btf.Spec, error) {
	runningOnce.Do(func() {
		if runtime.GOOS != "linux" {
			runningErr = fmt.Errorf("%w: %s has no /sys/kernel/btf/vmlinux", ErrNoKernelBTF, runtime.GOOS)
			return
		}
		runningSpec, runningErr = btf.LoadKernelSpec()
		if runningErr != nil {
			runningErr = fmt.Errorf("%w: %v", ErrNoKernelBTF, runningErr)
		}
	})
	return runningSpec, runningErr
}

// kernelBTF returns the kernel BTF the options give, or an error wrapping
// ErrNoKernelBTF.
func (o Options) kernelBTF() (*btf.Spec, error) {
	switch {
	case o.NoKernelBTF:
		return nil, fmt.Errorf("%w: turned off", ErrNoKernelBTF)
	case o.KernelBTF != nil:
		return o.KernelBTF, nil
	}
	return RunningKernelBTF()
}

// KernelBTF returns the BTF of the kernel the object's tracing programs are checked
// against, as the options it was loaded with say (LoadWith): the one given, or the
// running kernel's. The error wraps ErrNoKernelBTF when there is none.
func (o *Object) KernelBTF() (*btf.Spec, error) {
	return o.opts.kernelBTF()
}

// LoadWith is Load with options.
func LoadWith(r io.ReaderAt, opts Options) (*Object, error) {
	return load(r, opts)
}

// LoadFileWith is LoadFile with options.
func LoadFileWith(path string, opts Options) (*Object, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	obj, err := load(io.NewSectionReader(f, 0, st.Size()), opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return obj, nil
}
