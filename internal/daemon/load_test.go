package daemon

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/anybpf/anybpf"
	pb "github.com/anybpf/anybpf/api/anybpfv1"
	"github.com/anybpf/anybpf/maps"
)

// serve runs a daemon on a Unix socket in a temporary directory and returns the socket.
func serve(t testing.TB, s *Server) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "anybpf.sock")
	l, err := Listen(sock, -1)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.Serve(l); close(done) }()
	t.Cleanup(func() { s.Close(); <-done })
	return sock
}

func openFDs() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}

// TestConcurrentClients has clients load objects and run map operations at once over the
// socket; afterwards the daemon's goroutines, descriptors and objects are back to what
// they were.
func TestConcurrentClients(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs SO_PEERCRED")
	}
	// ops counts map operations: each round is an update and a lookup.
	clients, ops, loads := 8, 4000, 5
	if testing.Short() {
		clients, ops, loads = 4, 400, 2
	}
	if os.Getenv("ANYBPF_LOAD_FULL") != "" {
		// Issue #6's load test: 16 clients, each 100,000 map operations and 50 loads.
		clients, ops, loads = 16, 100_000, 50
	}
	start := time.Now()
	heapBefore := heapAfterGC()
	s := newTestServer(t, Config{})
	sock := serve(t, s)
	obj := testObject(t)
	// Warm up the server's goroutines (gRPC starts some on the first connection).
	if c, err := anybpf.Connect(sock); err == nil {
		c.API().ListMaps(context.Background(), &pb.ListRequest{})
		c.Close()
	}
	time.Sleep(100 * time.Millisecond)
	baseG, baseFD := runtime.NumGoroutine(), openFDs()

	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			err := func() error {
				c, err := anybpf.Connect(sock)
				if err != nil {
					return err
				}
				defer c.Close()
				m, err := c.NewMap(maps.Spec{Name: fmt.Sprint("m", i), Type: maps.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 1024})
				if err != nil {
					return err
				}
				for j := 0; j < ops/2; j++ {
					k := uint32(j % 1024)
					if err := m.Update(k, uint64(j), maps.UpdateAny); err != nil {
						return err
					}
					var v uint64
					if err := m.Lookup(k, &v); err != nil || v != uint64(j) {
						return fmt.Errorf("lookup %d: %d %v", k, v, err)
					}
				}
				for j := 0; j < loads; j++ {
					coll, err := c.LoadCollectionFromReader(bytes.NewReader(obj), "daemon.o")
					if err != nil {
						return err
					}
					if ret, err := coll.Programs["xdp_daemon"].Run(&anybpf.RunOptions{Data: packet(0x0800)}); err != nil || ret != 2 {
						return fmt.Errorf("run: %d %v", ret, err)
					}
					coll.Close()
				}
				return nil
			}()
			if err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		n := len(s.objs)
		s.mu.Unlock()
		g, fd := runtime.NumGoroutine(), openFDs()
		if n == 0 && g <= baseG && fd <= baseFD {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the clients closed: %d objects, %d goroutines (baseline %d), %d descriptors (baseline %d)", n, g, baseG, fd, baseFD)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if mem := s.rt.MemoryInUse(); mem != 0 {
		t.Errorf("%d bytes of maps still charged", mem)
	}
	heapAfter := heapAfterGC()
	elapsed := time.Since(start)
	t.Logf("%d clients × (%d map operations + %d loads) in %v: %.0f map operations/s, %.0f loads/s; heap %d → %d KiB",
		clients, ops, loads, elapsed.Round(time.Millisecond), float64(clients*ops)/elapsed.Seconds(), float64(clients*loads)/elapsed.Seconds(), heapBefore>>10, heapAfter>>10)
	// The heap comes back near where it was (within 8 MiB: gRPC keeps buffers pooled).
	if heapAfter > heapBefore+8<<20 {
		t.Errorf("heap grew from %d to %d bytes", heapBefore, heapAfter)
	}
}

// heapAfterGC is the live heap after a collection.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// benchMap returns a client and a hash map of n elements in a daemon.
func benchMap(b *testing.B, n int) (*anybpf.Client, *anybpf.RemoteMap, string) {
	s := newTestServer(b, Config{})
	sock := serve(b, s)
	c, err := anybpf.Connect(sock)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	m, err := c.NewMap(maps.Spec{Name: "bench", Type: maps.Hash, KeySize: 4, ValueSize: 8, MaxEntries: uint32(n)})
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]byte, 4*n)
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint32(keys[4*i:], uint32(i))
	}
	if _, err := c.API().MapUpdateBatch(context.Background(), &pb.MapBatchRequest{Id: m.ID(), Keys: keys, Values: make([]byte, 8*n)}); err != nil {
		b.Fatal(err)
	}
	return c, m, sock
}

// BenchmarkSocketLookup is one map lookup over the socket, from one client.
func BenchmarkSocketLookup(b *testing.B) {
	_, m, _ := benchMap(b, 1024)
	var v uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := m.Lookup(uint32(i%1024), &v); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}

// BenchmarkSocketLookupParallel is map lookups over the socket from 16 clients.
func BenchmarkSocketLookupParallel(b *testing.B) {
	_, m, sock := benchMap(b, 1024)
	b.SetParallelism(16 / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := anybpf.Connect(sock)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		rm, err := c.NewMapFromID(m.ID())
		if err != nil {
			b.Error(err)
			return
		}
		var v uint64
		for i := 0; pb.Next(); i++ {
			if err := rm.Lookup(uint32(i%1024), &v); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}

// BenchmarkSocketBatchLookup reads a 65536-element hash map in batches of 8192.
func BenchmarkSocketBatchLookup(b *testing.B) {
	const n = 1 << 16
	c, m, _ := benchMap(b, n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := &pb.MapBatchRequest{Id: m.ID(), Count: 8192}
		got := 0
		for {
			r, err := c.API().MapLookupBatch(context.Background(), req)
			if err != nil {
				b.Fatal(err)
			}
			got += int(r.Count)
			if r.Done {
				break
			}
			req.Cursor = r.Cursor
		}
		if got != n {
			b.Fatalf("batches read %d elements, want %d", got, n)
		}
	}
	b.ReportMetric(float64(b.N)*n/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkSocketLoad loads the test object (verify and compile) and unloads it.
func BenchmarkSocketLoad(b *testing.B) {
	s := newTestServer(b, Config{})
	c, err := anybpf.Connect(serve(b, s))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	obj := testObject(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		coll, err := c.LoadCollectionFromReader(bytes.NewReader(obj), "daemon.o")
		if err != nil {
			b.Fatal(err)
		}
		coll.Close()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "loads/s")
}

// BenchmarkMapMemory reports the daemon's heap per 1,000 maps (hash maps of 64 8-byte
// elements, created over the socket).
func BenchmarkMapMemory(b *testing.B) {
	for _, tc := range []struct {
		name     string
		stateDir bool // maps in files of the state directory (what pins survive with)
	}{{"file-backed", true}, {"in-memory", false}} {
		b.Run(tc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				cfg := Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
				if tc.stateDir {
					cfg.StateDir = b.TempDir()
				}
				s, err := New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				c, err := anybpf.Connect(serve(b, s))
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				charged := s.rt.MemoryInUse()
				for j := 0; j < 1000; j++ {
					if _, err := c.NewMap(maps.Spec{Name: "m", Type: maps.Hash, KeySize: 8, ValueSize: 8, MaxEntries: 64}); err != nil {
						b.Fatal(err)
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)), "heap-bytes/1000maps")
				b.ReportMetric(float64(s.rt.MemoryInUse()-charged), "charged-bytes/1000maps")
				c.Close()
				s.Close()
			}
		})
	}
}

// BenchmarkInProcessLookup is BenchmarkSocketLookup's lookup without the daemon, for
// comparison: the same map type and size, through the root package's Map.
func BenchmarkInProcessLookup(b *testing.B) {
	rt := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig())
	defer rt.Close()
	m, err := rt.NewMap(maps.Spec{Name: "bench", Type: maps.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 1024})
	if err != nil {
		b.Fatal(err)
	}
	for i := uint32(0); i < 1024; i++ {
		m.Update(i, uint64(i), maps.UpdateAny)
	}
	var v uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := m.Lookup(uint32(i%1024), &v); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}

// BenchmarkSocketLookupStream is single map lookups from one client over the socket,
// pipelined on a MapLookupStream (up to 256 in flight): one request and one answer per
// lookup, without waiting a round trip for each.
func BenchmarkSocketLookupStream(b *testing.B) {
	const n = 1024
	_, m, _ := benchMap(b, n)
	ls, err := m.NewLookupStream()
	if err != nil {
		b.Fatal(err)
	}
	defer ls.Close()
	inflight := make(chan struct{}, 256)
	errs := make(chan error, 1)
	b.ResetTimer()
	go func() {
		for i := 0; i < b.N; i++ {
			inflight <- struct{}{}
			if err := ls.Send(uint32(i % n)); err != nil {
				errs <- err
				return
			}
		}
	}()
	for i := 0; i < b.N; i++ {
		v, err := ls.Recv()
		if err != nil || len(v) != 8 {
			b.Fatalf("lookup %d: %v %v", i, v, err)
		}
		<-inflight
	}
	b.StopTimer()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}

// TestLookupStream: a pipelined stream answers every lookup in order, a missing key with
// ErrKeyNotExist, and goes on after it.
func TestLookupStream(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs SO_PEERCRED")
	}
	s := newTestServer(t, Config{})
	c, err := anybpf.Connect(serve(t, s))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, err := c.NewMap(maps.Spec{Name: "ls", Type: maps.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 64})
	if err != nil {
		t.Fatal(err)
	}
	for k := uint32(0); k < 32; k++ {
		if err := m.Update(k, uint64(k)*10, maps.UpdateAny); err != nil {
			t.Fatal(err)
		}
	}
	ls, err := m.NewLookupStream()
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Close()
	for k := uint32(0); k < 40; k++ { // 32..39 do not exist
		if err := ls.Send(k); err != nil {
			t.Fatal(err)
		}
	}
	for k := uint32(0); k < 40; k++ {
		v, err := ls.Recv()
		switch {
		case k >= 32 && !errors.Is(err, anybpf.ErrKeyNotExist):
			t.Fatalf("lookup %d: %v %v, want ErrKeyNotExist", k, v, err)
		case k < 32 && (err != nil || binary.LittleEndian.Uint64(v) != uint64(k)*10):
			t.Fatalf("lookup %d: %v %v", k, v, err)
		}
	}
}
