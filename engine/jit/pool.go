//go:build amd64 && linux

package jit

import (
	"fmt"
	"math/bits"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// The code pool hands out executable memory for compiled programs without a system call
// per program. Its memory comes in arenas: a memfd mapped twice, once read-write (where
// the compiler writes) and once read-execute (where native code runs). No mapping is
// ever writable and executable, so W^X holds for every address. Each arena is cut into
// blocks of one size class (a power of two); a program's code takes one block.
//
// A block goes back to its class's free list when its Code is closed or collected. The
// runtime never lets that happen while a run may still execute the code: a run holds its
// Code, and a tail-call table names the Code it jumps into until the table's copy is
// retired through the runtime's epochs, so a freed block is not executing. Freed blocks
// are filled with int3 before they are reused.
//
// Programs whose code is larger than the largest class get a mapping of their own
// (mmap, copy, mprotect to read-execute), as do all programs when memfd_create is not
// available.
const (
	minClassLog = 7  // 128 bytes
	maxClassLog = 16 // 64 KiB
	arenaSize   = 1 << 20
)

// codePool is the process's pool. Its arenas are never unmapped: their free blocks are
// reused by later compilations.
var codePool pool

type pool struct {
	mu     sync.Mutex
	broken bool // memfd arenas are not available; use a mapping per program
	// free holds free blocks per class, as indices into arenas and offsets.
	free [maxClassLog - minClassLog + 1][]block
	// cur is the arena being cut, per class, and next the offset of its next block.
	cur  [maxClassLog - minClassLog + 1]*arena
	next [maxClassLog - minClassLog + 1]int
}

// arena is a memfd mapped twice. Its pages are touched (and so take memory) only as
// its blocks are handed out.
type arena struct {
	rw []byte // read-write view, for writing code
	rx []byte // read-execute view, for running it
}

type block struct {
	a   *arena
	off int
}

// classOf returns the size class of n bytes of code, or -1 when it has none.
func classOf(n int) int {
	if n > 1<<maxClassLog {
		return -1
	}
	l := bits.Len(uint(max(n, 1) - 1))
	return max(l, minClassLog) - minClassLog
}

// alloc copies text into executable memory and returns the mapping holding it.
func (p *pool) alloc(text []byte) (*mapping, error) {
	class := classOf(len(text))
	if class < 0 {
		return mapOwn(text)
	}
	size := 1 << (class + minClassLog)
	p.mu.Lock()
	if p.broken {
		p.mu.Unlock()
		return mapOwn(text)
	}
	var b block
	fresh := false
	if n := len(p.free[class]); n > 0 {
		b = p.free[class][n-1]
		p.free[class] = p.free[class][:n-1]
	} else {
		fresh = true
		if p.cur[class] == nil || p.next[class]+size > arenaSize {
			a, err := newArena()
			if err != nil {
				p.broken = true
				p.mu.Unlock()
				return mapOwn(text)
			}
			p.cur[class], p.next[class] = a, 0
		}
		b = block{p.cur[class], p.next[class]}
		p.next[class] += size
	}
	p.mu.Unlock()
	// The block is ours alone: write it outside the lock. Past the code it holds int3:
	// a block from the free list is int3 throughout, a fresh one is filled here.
	n := copy(b.a.rw[b.off:], text)
	if fresh {
		fillTrap(b.a.rw[b.off+n : b.off+size])
	}
	liveMappings.Add(1)
	return &mapping{mem: b.a.rx[b.off : b.off+size : b.off+size], p: p, pooled: b, class: class, used: n}, nil
}

// put fills the used part of a freed block with int3 (the rest still is) and makes it
// available again.
func (p *pool) put(b block, class, used int) {
	fillTrap(b.a.rw[b.off : b.off+used])
	p.mu.Lock()
	p.free[class] = append(p.free[class], b)
	p.mu.Unlock()
}

func fillTrap(b []byte) {
	if len(b) == 0 {
		return
	}
	b[0] = 0xcc
	for i := 1; i < len(b); i *= 2 {
		copy(b[i:], b[:i])
	}
}

// newArena creates a memfd of arenaSize bytes and maps it read-write and read-execute.
func newArena() (*arena, error) {
	// MFD_EXEC says the memory is meant to be executable (Linux 6.3 and later, where
	// vm.memfd_noexec may otherwise make it not executable); older kernels refuse the
	// flag.
	fd, err := unix.MemfdCreate("anybpf-jit", unix.MFD_CLOEXEC|unix.MFD_EXEC)
	if err == unix.EINVAL {
		fd, err = unix.MemfdCreate("anybpf-jit", unix.MFD_CLOEXEC)
	}
	if err != nil {
		return nil, fmt.Errorf("jit: memfd_create: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Ftruncate(fd, arenaSize); err != nil {
		return nil, fmt.Errorf("jit: ftruncate: %w", err)
	}
	rw, err := unix.Mmap(fd, 0, arenaSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("jit: mmap: %w", err)
	}
	rx, err := unix.Mmap(fd, 0, arenaSize, unix.PROT_READ|unix.PROT_EXEC, unix.MAP_SHARED)
	if err != nil {
		unix.Munmap(rw)
		return nil, fmt.Errorf("jit: mmap: %w", err)
	}
	return &arena{rw: rw, rx: rx}, nil
}

// mapOwn copies machine code into fresh pages of its own and makes them read-only and
// executable (never writable and executable at once).
func mapOwn(text []byte) (*mapping, error) {
	page := syscall.Getpagesize()
	size := (len(text) + page - 1) &^ (page - 1)
	m, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, fmt.Errorf("jit: mmap: %w", err)
	}
	copy(m, text)
	if err := syscall.Mprotect(m, syscall.PROT_READ|syscall.PROT_EXEC); err != nil {
		syscall.Munmap(m)
		return nil, fmt.Errorf("jit: mprotect: %w", err)
	}
	liveMappings.Add(1)
	return &mapping{mem: m, class: -1}, nil
}
