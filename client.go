package anybpf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/anybpf/anybpf/api/anybpfv1"
	"github.com/anybpf/anybpf/maps"
)

// DefaultSocket is where anybpf daemon listens unless told otherwise.
const DefaultSocket = "/run/anybpf/anybpf.sock"

// ErrNoDaemon is returned by Connect when no daemon listens at the socket.
var ErrNoDaemon = errors.New("no anybpf daemon")

// Client is a connection to an anybpf daemon (anybpf daemon). It loads collections, maps
// and programs into the daemon and returns handles with the methods of the in-process
// Collection, Program and Map. What a client loads belongs to its connection until it is
// pinned: Close unloads what is not pinned, as closing file descriptors does in Linux.
type Client struct {
	conn *grpc.ClientConn
	api  pb.AnybpfClient
	path string
}

// Connect connects to the daemon listening on the Unix socket at socketPath
// (DefaultSocket when empty). It fails with ErrNoDaemon when nothing listens there.
func Connect(socketPath string) (*Client, error) {
	if socketPath == "" {
		socketPath = DefaultSocket
	}
	c, err := net.DialTimeout("unix", socketPath, 2*time.Second)
	if errors.Is(err, os.ErrPermission) {
		return nil, fmt.Errorf("cannot reach the anybpf daemon at %s: permission denied (its socket is for root and the daemon's group)", socketPath)
	}
	if err != nil {
		return nil, fmt.Errorf("%w at %s (start one with `anybpf daemon --socket %s`, or `systemctl start anybpf.socket`): %v", ErrNoDaemon, socketPath, socketPath, err)
	}
	c.Close()
	conn, err := grpc.NewClient("unix://"+socketPath,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20), grpc.MaxCallSendMsgSize(256<<20)))
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", socketPath, err)
	}
	return &Client{conn: conn, api: pb.NewAnybpfClient(conn), path: socketPath}, nil
}

// Close closes the connection; the daemon unloads what the client loaded and did not pin.
func (c *Client) Close() error { return c.conn.Close() }

// API returns the daemon's gRPC API on the client's connection, for what the handles
// do not offer.
func (c *Client) API() pb.AnybpfClient { return c.api }

// remoteError turns a daemon error into one users can test with errors.Is: a missing key
// is ErrKeyNotExist, and so on, with the daemon's message.
func remoteError(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	var sentinel error
	switch st.Code() {
	case codes.NotFound:
		sentinel = ErrKeyNotExist
	case codes.AlreadyExists:
		sentinel = maps.ErrKeyExist
	case codes.Unimplemented:
		sentinel = ErrNotSupported
	case codes.InvalidArgument:
		sentinel = maps.ErrInvalid
	case codes.ResourceExhausted:
		sentinel = maps.ErrFull
	default:
		return fmt.Errorf("daemon: %s: %s", st.Code(), st.Message())
	}
	return fmt.Errorf("daemon: %s: %w", st.Message(), sentinel)
}

// RemoteCollection is a Collection loaded into the daemon.
type RemoteCollection struct {
	Programs map[string]*RemoteProgram
	Maps     map[string]*RemoteMap
}

// Close lets go of every program and map still in the collection; pinned ones stay.
func (c *RemoteCollection) Close() {
	for _, p := range c.Programs {
		p.Close()
	}
	for _, m := range c.Maps {
		m.Close()
	}
}

// DetachMap removes the named map from the collection and returns it (nil if none).
func (c *RemoteCollection) DetachMap(name string) *RemoteMap {
	m := c.Maps[name]
	delete(c.Maps, name)
	return m
}

// DetachProgram removes the named program from the collection and returns it.
func (c *RemoteCollection) DetachProgram(name string) *RemoteProgram {
	p := c.Programs[name]
	delete(c.Programs, name)
	return p
}

// LoadCollection loads the ELF object at path (read here, verified and compiled in the
// daemon).
func (c *Client) LoadCollection(path string) (*RemoteCollection, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return c.loadBytes(b, path)
}

// LoadCollectionFromReader is LoadCollection for an object held in a reader.
func (c *Client) LoadCollectionFromReader(rd io.ReaderAt, name string) (*RemoteCollection, error) {
	b, err := io.ReadAll(io.NewSectionReader(rd, 0, 1<<62))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c.loadBytes(b, name)
}

// RemoteCollectionOptions are the daemon's options for loading an object.
type RemoteCollectionOptions struct {
	// ProgramType, when set, is the type every program is loaded as instead of what its
	// section says: a libbpf section name (xdp, socket, cgroup/connect4, ...) or a type
	// name (sched_cls, ...), as bpftool's `prog load ... type TYPE` takes it.
	ProgramType string
}

// LoadCollectionWithOptions is LoadCollectionFromReader with options.
func (c *Client) LoadCollectionWithOptions(rd io.ReaderAt, name string, opts RemoteCollectionOptions) (*RemoteCollection, error) {
	b, err := io.ReadAll(io.NewSectionReader(rd, 0, 1<<62))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c.loadBytesAs(b, name, opts.ProgramType)
}

func (c *Client) loadBytes(b []byte, name string) (*RemoteCollection, error) {
	return c.loadBytesAs(b, name, "")
}

func (c *Client) loadBytesAs(b []byte, name, progType string) (*RemoteCollection, error) {
	resp, err := c.api.LoadObject(context.Background(), &pb.LoadObjectRequest{Source: &pb.LoadObjectRequest_Object{Object: b}, Name: name, ProgramType: progType})
	if err != nil {
		return nil, remoteError(err)
	}
	coll := &RemoteCollection{Programs: map[string]*RemoteProgram{}, Maps: map[string]*RemoteMap{}}
	for _, p := range resp.Programs {
		coll.Programs[p.Name] = &RemoteProgram{Name: p.Name, Section: p.Section, c: c, id: p.Id}
	}
	for _, m := range resp.Maps {
		coll.Maps[m.Name] = c.remoteMap(m)
	}
	return coll, nil
}

// NewMap creates a map in the daemon, owned by the client's connection until pinned.
func (c *Client) NewMap(spec maps.Spec) (*RemoteMap, error) {
	info, err := c.api.CreateMap(context.Background(), &pb.CreateMapRequest{Type: spec.Type.String(), Name: spec.Name, KeySize: spec.KeySize, ValueSize: spec.ValueSize, MaxEntries: spec.MaxEntries, Flags: spec.Flags})
	if err != nil {
		return nil, remoteError(err)
	}
	return c.remoteMap(info), nil
}

// NewMapFromID returns the daemon's map with the id.
func (c *Client) NewMapFromID(id uint32) (*RemoteMap, error) {
	info, err := c.api.GetMap(context.Background(), &pb.GetObjectRequest{Id: id})
	if err != nil {
		return nil, remoteError(err)
	}
	return c.remoteMap(info), nil
}

// NewProgramFromID returns the daemon's program with the id.
func (c *Client) NewProgramFromID(id uint32) (*RemoteProgram, error) {
	info, err := c.api.GetProgram(context.Background(), &pb.GetObjectRequest{Id: id})
	if err != nil {
		return nil, remoteError(err)
	}
	return &RemoteProgram{Name: info.Name, Section: info.Section, c: c, id: info.Id}, nil
}

// LoadPinnedMap returns the map pinned at path.
func (c *Client) LoadPinnedMap(path string) (*RemoteMap, error) {
	pin, err := c.api.GetPinned(context.Background(), &pb.PinPath{Path: path})
	if err != nil {
		return nil, remoteError(err)
	}
	if pin.Kind != pb.ObjectKind_OBJECT_KIND_MAP {
		return nil, fmt.Errorf("%s is not a map", path)
	}
	info, err := c.api.GetMap(context.Background(), &pb.GetObjectRequest{Id: pin.Id})
	if err != nil {
		return nil, remoteError(err)
	}
	return c.remoteMap(info), nil
}

// LoadPinnedProgram returns the program pinned at path.
func (c *Client) LoadPinnedProgram(path string) (*RemoteProgram, error) {
	pin, err := c.api.GetPinned(context.Background(), &pb.PinPath{Path: path})
	if err != nil {
		return nil, remoteError(err)
	}
	if pin.Kind != pb.ObjectKind_OBJECT_KIND_PROGRAM {
		return nil, fmt.Errorf("%s is not a program", path)
	}
	info, err := c.api.GetProgram(context.Background(), &pb.GetObjectRequest{Id: pin.Id})
	if err != nil {
		return nil, remoteError(err)
	}
	return &RemoteProgram{Name: info.Name, Section: info.Section, c: c, id: info.Id}, nil
}

// SetStats turns the daemon's run statistics on or off and reports whether they were on.
func (c *Client) SetStats(on bool) (bool, error) {
	resp, err := c.api.SetStats(context.Background(), &pb.SetStatsRequest{Enabled: on})
	if err != nil {
		return false, remoteError(err)
	}
	return resp.WasEnabled, nil
}

// RemoteProgram is a Program in the daemon.
type RemoteProgram struct {
	Name    string
	Section string
	c       *Client
	id      uint32
}

// ID is the program's id in the daemon.
func (p *RemoteProgram) ID() uint32 { return p.id }

// Run test-runs the program in the daemon, as Program.Run does in-process.
func (p *RemoteProgram) Run(opts *RunOptions) (uint32, error) {
	if opts == nil {
		opts = &RunOptions{}
	}
	resp, err := p.c.api.TestRun(context.Background(), &pb.TestRunRequest{Id: p.id, DataIn: opts.Data, CtxIn: opts.Context, Repeat: opts.Repeat})
	if err != nil {
		return 0, fmt.Errorf("run %s: %w", p.Name, remoteError(err))
	}
	opts.Duration = time.Duration(resp.DurationNs)
	opts.DataOut = append(opts.DataOut[:0], resp.DataOut...)
	opts.ContextOut = append(opts.ContextOut[:0], resp.CtxOut...)
	return resp.Retval, nil
}

// Info returns what the daemon says of the program.
func (p *RemoteProgram) Info() (*pb.ProgramInfo, error) {
	info, err := p.c.api.GetProgram(context.Background(), &pb.GetObjectRequest{Id: p.id})
	return info, remoteError(err)
}

// Stats returns the program's run statistics.
func (p *RemoteProgram) Stats() (ProgramStats, error) {
	info, err := p.Info()
	if err != nil {
		return ProgramStats{}, err
	}
	return ProgramStats{RunCount: info.RunCnt, RunTime: time.Duration(info.RunTimeNs)}, nil
}

// Xlated returns the program as it runs, as Program.Xlated does.
func (p *RemoteProgram) Xlated() ([]string, error) {
	resp, err := p.c.api.DumpProgram(context.Background(), &pb.DumpProgramRequest{Id: p.id})
	if err != nil {
		return nil, remoteError(err)
	}
	return resp.Lines, nil
}

// Pin pins the program at path (/sys/fs/bpf/... or BPF:\...).
func (p *RemoteProgram) Pin(path string) error { return p.c.pin(p.id, path) }

// Close lets go of the client's hold on the program, as closing a file descriptor does:
// the daemon unloads it unless it is pinned or in use (a link, a program array).
func (p *RemoteProgram) Close() error { return p.c.unload(p.id) }

func (c *Client) pin(id uint32, path string) error {
	_, err := c.api.Pin(context.Background(), &pb.PinRequest{Id: id, Path: path})
	return remoteError(err)
}

// unload lets go of the client's hold on an object; one that is gone already is no
// error.
func (c *Client) unload(id uint32) error {
	_, err := c.api.Unload(context.Background(), &pb.UnloadRequest{Id: id, Release: true})
	if status.Code(err) == codes.NotFound {
		return nil
	}
	return remoteError(err)
}

// RemoteMap is a Map in the daemon.
type RemoteMap struct {
	c       *Client
	id      uint32
	spec    maps.Spec
	valueSz int // a value as clients see it (per-CPU maps: every CPU's)
}

func (c *Client) remoteMap(info *pb.MapInfo) *RemoteMap {
	spec := maps.Spec{Name: info.Name, KeySize: info.KeySize, ValueSize: info.ValueSize, MaxEntries: info.MaxEntries, Flags: info.Flags}
	for t := maps.Type(0); t <= maps.UserRingBuf; t++ {
		if t.String() == info.Type {
			spec.Type = t
		}
	}
	return &RemoteMap{c: c, id: info.Id, spec: spec, valueSz: int(info.ValueSizeUser)}
}

// ID is the map's id in the daemon.
func (m *RemoteMap) ID() uint32 { return m.id }

// Spec describes the map.
func (m *RemoteMap) Spec() maps.Spec { return m.spec }

// Lookup reads key's value into valueOut, a []byte of the value size or a pointer to a
// fixed-size value, as Map.Lookup does.
func (m *RemoteMap) Lookup(key, valueOut any) error {
	k, err := encode(key, int(m.spec.KeySize))
	if err != nil {
		return fmt.Errorf("map %s: key: %w", m.spec.Name, err)
	}
	resp, err := m.c.api.MapLookup(context.Background(), &pb.MapKeyRequest{Id: m.id, Key: k})
	if err != nil {
		return remoteError(err)
	}
	return m.valueOut(resp.Value, valueOut)
}

// LookupAndDelete takes the next value out of a queue or stack map, as Map's does.
func (m *RemoteMap) LookupAndDelete(key, valueOut any) error {
	k, err := encode(key, int(m.spec.KeySize))
	if err != nil {
		return fmt.Errorf("map %s: key: %w", m.spec.Name, err)
	}
	resp, err := m.c.api.MapLookupAndDelete(context.Background(), &pb.MapKeyRequest{Id: m.id, Key: k})
	if err != nil {
		return remoteError(err)
	}
	return m.valueOut(resp.Value, valueOut)
}

// valueOut stores a value the daemon sent into valueOut, a []byte of the value size or
// a non-nil pointer to a fixed-size value.
func (m *RemoteMap) valueOut(v []byte, valueOut any) error {
	if b, ok := valueOut.([]byte); ok {
		if len(b) != len(v) {
			return fmt.Errorf("map %s: value out of %d bytes, the values are %d", m.spec.Name, len(b), len(v))
		}
		copy(b, v)
		return nil
	}
	return decodeValue(m.spec.Name, v, valueOut)
}

// Update sets key's value (flags: maps.UpdateAny, UpdateNoExist, UpdateExist).
func (m *RemoteMap) Update(key, value any, flags uint64) error {
	k, err := encode(key, int(m.spec.KeySize))
	if err != nil {
		return fmt.Errorf("map %s: key: %w", m.spec.Name, err)
	}
	v, err := encode(value, m.valueSz)
	if err != nil {
		return fmt.Errorf("map %s: value: %w", m.spec.Name, err)
	}
	_, err = m.c.api.MapUpdate(context.Background(), &pb.MapUpdateRequest{Id: m.id, Key: k, Value: v, Flags: pb.UpdateFlag(flags)})
	return remoteError(err)
}

// Delete removes key.
func (m *RemoteMap) Delete(key any) error {
	k, err := encode(key, int(m.spec.KeySize))
	if err != nil {
		return fmt.Errorf("map %s: key: %w", m.spec.Name, err)
	}
	_, err = m.c.api.MapDelete(context.Background(), &pb.MapKeyRequest{Id: m.id, Key: k})
	return remoteError(err)
}

// NextKey writes the key after key (the first when key is nil) into nextOut.
func (m *RemoteMap) NextKey(key any, nextOut []byte) error {
	req := &pb.MapNextKeyRequest{Id: m.id}
	if key != nil {
		k, err := encode(key, int(m.spec.KeySize))
		if err != nil {
			return fmt.Errorf("map %s: key: %w", m.spec.Name, err)
		}
		req.Key = k
	}
	resp, err := m.c.api.MapGetNextKey(context.Background(), req)
	if err != nil {
		return remoteError(err)
	}
	copy(nextOut, resp.NextKey)
	return nil
}

// Dump returns every element of the map, in the order of Map.Dump.
func (m *RemoteMap) Dump() ([]Entry, error) {
	entries, err := DumpRemote(m.c.api, m.id)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(entries))
	stride := int((m.spec.ValueSize + 7) &^ 7)
	perCPU := m.spec.Type == maps.PerCPUArray || m.spec.Type == maps.PerCPUHash || m.spec.Type == maps.LRUPerCPUHash
	for _, e := range entries {
		ent := Entry{Key: e.Key}
		if perCPU && stride > 0 {
			for off := 0; off+stride <= len(e.Value); off += stride {
				ent.Values = append(ent.Values, e.Value[off:off+int(m.spec.ValueSize)])
			}
		} else {
			ent.Value = e.Value
		}
		out = append(out, ent)
	}
	return out, nil
}

// DumpRemote reads every element of the daemon's map id, page by page, in Map.Dump's
// order (index order for arrays, key byte order for hash maps and tries).
func DumpRemote(api pb.AnybpfClient, id uint32) ([]*pb.MapEntry, error) {
	info, err := api.GetMap(context.Background(), &pb.GetObjectRequest{Id: id})
	if err != nil {
		return nil, remoteError(err)
	}
	var all []*pb.MapEntry
	req := &pb.MapDumpRequest{Id: id}
	for {
		resp, err := api.MapDump(context.Background(), req)
		if err != nil {
			return nil, remoteError(err)
		}
		all = append(all, resp.Entries...)
		if !resp.More || len(resp.Entries) == 0 {
			break
		}
		req.After = resp.Entries[len(resp.Entries)-1].Key
	}
	switch info.Type {
	case "array", "percpu_array", "prog_array", "array_of_maps", "devmap", "cpumap", "xskmap", "queue", "stack":
	default:
		sort.Slice(all, func(i, j int) bool { return bytes.Compare(all[i].Key, all[j].Key) < 0 })
	}
	return all, nil
}

// Pin pins the map at path (/sys/fs/bpf/... or BPF:\...).
func (m *RemoteMap) Pin(path string) error { return m.c.pin(m.id, path) }

// Freeze makes the map read-only to clients.
func (m *RemoteMap) Freeze() error {
	_, err := m.c.api.MapFreeze(context.Background(), &pb.GetObjectRequest{Id: m.id})
	return remoteError(err)
}

// Close lets go of the client's hold on the map, as closing a file descriptor does: the
// daemon unloads it unless it is pinned or programs use it.
func (m *RemoteMap) Close() error { return m.c.unload(m.id) }

// RemoteReader reads the records of a ring buffer or perf event array in the daemon.
type RemoteReader struct {
	cancel context.CancelFunc
	recv   func() (*pb.Record, error)
}

// NewReader starts reading the records of a ring buffer or perf event array map.
func (m *RemoteMap) NewReader() (*RemoteReader, error) {
	ctx, cancel := context.WithCancel(context.Background())
	req := &pb.ReadRecordsRequest{Id: m.id}
	var recv func() (*pb.Record, error)
	switch m.spec.Type {
	case maps.RingBuf:
		st, err := m.c.api.ReadRingBuffer(ctx, req)
		if err != nil {
			cancel()
			return nil, remoteError(err)
		}
		recv = st.Recv
	case maps.PerfEventArray:
		st, err := m.c.api.ReadPerfEvents(ctx, req)
		if err != nil {
			cancel()
			return nil, remoteError(err)
		}
		recv = st.Recv
	default:
		cancel()
		return nil, fmt.Errorf("map %s: %w: a %s map has no records", m.spec.Name, maps.ErrInvalid, m.spec.Type)
	}
	return &RemoteReader{cancel: cancel, recv: recv}, nil
}

// Read waits for the next record.
func (r *RemoteReader) Read() (maps.PerfRecord, error) {
	rec, err := r.recv()
	if err != nil {
		if status.Code(err) == codes.Canceled {
			return maps.PerfRecord{}, maps.ErrClosed
		}
		return maps.PerfRecord{}, remoteError(err)
	}
	return maps.PerfRecord{CPU: int(rec.Cpu), RawSample: rec.Sample, LostSamples: rec.LostSamples}, nil
}

// Close stops reading.
func (r *RemoteReader) Close() error {
	r.cancel()
	return nil
}

// LookupStream is a stream of single lookups in one map of the daemon, answered in the
// order they were sent: Send may run ahead of Recv (from another goroutine), so that
// many lookups are in flight at once instead of one round trip each.
type LookupStream struct {
	m      *RemoteMap
	stream pb.Anybpf_MapLookupStreamClient
	cancel context.CancelFunc
}

// NewLookupStream opens a lookup stream on the map.
func (m *RemoteMap) NewLookupStream() (*LookupStream, error) {
	ctx, cancel := context.WithCancel(context.Background())
	st, err := m.c.api.MapLookupStream(ctx)
	if err != nil {
		cancel()
		return nil, remoteError(err)
	}
	return &LookupStream{m: m, stream: st, cancel: cancel}, nil
}

// Send asks for key's value; Recv returns the answers in order.
func (ls *LookupStream) Send(key any) error {
	k, err := encode(key, int(ls.m.spec.KeySize))
	if err != nil {
		return fmt.Errorf("map %s: key: %w", ls.m.spec.Name, err)
	}
	return remoteError(ls.stream.Send(&pb.MapKeyRequest{Id: ls.m.id, Key: k}))
}

// Recv returns the value of the oldest lookup not answered yet, or the error it failed
// with (ErrKeyNotExist for a missing key).
func (ls *LookupStream) Recv() ([]byte, error) {
	res, err := ls.stream.Recv()
	if err != nil {
		return nil, remoteError(err)
	}
	if res.Code != 0 {
		return nil, remoteError(status.Error(codes.Code(res.Code), res.Message))
	}
	return res.Value, nil
}

// Close ends the stream: lookups not received yet are dropped.
func (ls *LookupStream) Close() error {
	err := ls.stream.CloseSend()
	ls.cancel()
	return remoteError(err)
}
