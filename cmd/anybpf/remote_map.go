package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/anybpf/anybpf"
	pb "github.com/anybpf/anybpf/api/anybpfv1"
)

func newMapCommand(g *globalFlags) *cobra.Command {
	m := &cobra.Command{
		Use:   "map",
		Short: "Inspect and change the daemon's maps",
		Long: `Inspect and change the maps of the daemon (anybpf daemon), with bpftool's grammar.
MAP is id N | pinned PATH | name NAME. Bytes are given as hex 01 02, as 0x01 0x02 or as
decimal 1 2.`,
	}
	m.AddCommand(
		&cobra.Command{Use: "show [MAP]", Aliases: []string{"list"}, Short: "List maps", RunE: mapRun(g, "map show", mapShow)},
		&cobra.Command{Use: "create PATH type TYPE key N value N entries N name NAME [flags F]", Short: "Create a map and pin it at PATH", RunE: mapRun(g, "map create", mapCreate)},
		&cobra.Command{Use: "dump MAP", Short: "Print every element", RunE: mapRun(g, "map dump", mapDump)},
		&cobra.Command{Use: "lookup MAP key BYTES", Short: "Print an element", RunE: mapRun(g, "map lookup", mapLookup)},
		&cobra.Command{Use: "update MAP key BYTES value BYTES [any|exist|noexist]", Short: "Create or change an element", RunE: mapRun(g, "map update", mapUpdate)},
		&cobra.Command{Use: "delete MAP key BYTES", Short: "Delete an element", RunE: mapRun(g, "map delete", mapDelete)},
		&cobra.Command{Use: "getnext MAP [key BYTES]", Short: "Print the key after KEY (or the first)", RunE: mapRun(g, "map getnext", mapGetNext)},
		&cobra.Command{Use: "push MAP value BYTES", Aliases: []string{"enqueue"}, Short: "Push a value onto a queue or stack map", RunE: mapRun(g, "map push", mapPush)},
		&cobra.Command{Use: "pop MAP", Aliases: []string{"dequeue"}, Short: "Take the next value out of a queue or stack map and print it", RunE: mapRun(g, "map pop", mapPop(true))},
		&cobra.Command{Use: "peek MAP", Short: "Print the next value of a queue or stack map", RunE: mapRun(g, "map peek", mapPop(false))},
		&cobra.Command{Use: "freeze MAP", Short: "Make the map read-only to clients", RunE: mapRun(g, "map freeze", mapFreeze)},
		&cobra.Command{Use: "pin MAP PATH", Short: "Pin the map at PATH", RunE: mapRun(g, "map pin", mapPin)},
		&cobra.Command{Use: "event_pipe MAP [count N]", Short: "Print the records of a ring buffer or perf event array as they come", RunE: mapRun(g, "map event_pipe", mapEventPipe)},
	)
	return m
}

// mapCmd is a map subcommand against the daemon.
type mapCmd func(cmd *cobra.Command, g *globalFlags, api pb.AnybpfClient, args []string) error

func mapRun(g *globalFlags, name string, fn mapCmd) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := g.withDaemon(func(api pb.AnybpfClient) error { return fn(cmd, g, api, args) })
		return prefixed(name, err)
	}
}

// takeMap resolves the MAP at the start of args.
func takeMap(api pb.AnybpfClient, args []string) (*pb.MapInfo, []string, error) {
	kind, value, rest, err := takeSelector(args, "MAP")
	if err != nil {
		return nil, nil, err
	}
	info, err := resolveMap(api, kind, value)
	return info, rest, err
}

func mapJSONOf(m *pb.MapInfo) map[string]any {
	out := map[string]any{
		"id": m.Id, "type": m.Type, "name": m.Name, "flags": m.Flags, "bytes_key": m.KeySize,
		"bytes_value": m.ValueSize, "max_entries": m.MaxEntries, "bytes_memlock": m.Memlock,
		"frozen": map[bool]int{true: 1, false: 0}[m.Frozen],
	}
	if len(m.Pinned) > 0 {
		out["pinned"] = m.Pinned
	}
	return out
}

func printMapInfo(w io.Writer, m *pb.MapInfo) {
	fmt.Fprintf(w, "%d: %s  name %s  flags 0x%x\n", m.Id, m.Type, m.Name, m.Flags)
	fmt.Fprintf(w, "\tkey %dB  value %dB  max_entries %d  memlock %dB", m.KeySize, m.ValueSize, m.MaxEntries, m.Memlock)
	if m.Frozen {
		fmt.Fprint(w, "  frozen")
	}
	fmt.Fprintln(w)
	for _, p := range m.Pinned {
		fmt.Fprintf(w, "\tpinned %s\n", p)
	}
}

func mapShow(cmd *cobra.Command, g *globalFlags, api pb.AnybpfClient, args []string) error {
	var list []*pb.MapInfo
	if len(args) > 0 {
		info, rest, err := takeMap(api, args)
		if err != nil {
			return err
		}
		if err := noMore(rest); err != nil {
			return err
		}
		if g.json {
			return g.printJSON(cmd.OutOrStdout(), mapJSONOf(info))
		}
		list = []*pb.MapInfo{info}
	} else {
		resp, err := api.ListMaps(context.Background(), &pb.ListRequest{})
		if err != nil {
			return remoteErr(err)
		}
		list = resp.Maps
	}
	if g.json {
		out := []map[string]any{}
		for _, m := range list {
			out = append(out, mapJSONOf(m))
		}
		return g.printJSON(cmd.OutOrStdout(), out)
	}
	for _, m := range list {
		printMapInfo(cmd.OutOrStdout(), m)
	}
	return nil
}

func mapCreate(cmd *cobra.Command, g *globalFlags, api pb.AnybpfClient, args []string) error {
	if len(args) < 1 {
		return fmt.Errorf("want PATH type TYPE key N value N entries N name NAME [flags F]")
	}
	kw, err := keywordArgs(args[1:], []string{"type", "key", "value", "entries", "name", "flags", "dev"}, nil)
	if err != nil {
		return err
	}
	req := &pb.CreateMapRequest{Pin: args[0], Type: kw["type"], Name: kw["name"]}
	for _, f := range []struct {
		k   string
		dst *uint32
		req bool
	}{{"key", &req.KeySize, true}, {"value", &req.ValueSize, true}, {"entries", &req.MaxEntries, true}, {"flags", &req.Flags, false}} {
		v, ok := kw[f.k]
		if !ok {
			if f.req {
				return fmt.Errorf("%s N is missing", f.k)
			}
			continue
		}
		n, err := strconv.ParseUint(v, 0, 32)
		if err != nil {
			return fmt.Errorf("%s %q is not a 32-bit number", f.k, v)
		}
		*f.dst = uint32(n)
	}
	if req.Type == "" || req.Name == "" {
		return fmt.Errorf("type TYPE and name NAME are required")
	}
	_, err = api.CreateMap(context.Background(), req)
	return remoteErr(err)
}

// noMore refuses arguments left over.
func noMore(rest []string) error {
	if len(rest) > 0 {
		return fmt.Errorf("unexpected %q", rest[0])
	}
	return nil
}

// takeMapKey resolves "MAP key BYTES" at the start of args.
func takeMapKey(api pb.AnybpfClient, args []string) (*pb.MapInfo, []byte, []string, error) {
	info, rest, err := takeMap(api, args)
	if err != nil {
		return nil, nil, nil, err
	}
	key, rest, err := keyArg(rest, info)
	return info, key, rest, err
}

// keyArg reads "key BYTES" at the start of args.
func keyArg(args []string, m *pb.MapInfo) ([]byte, []string, error) {
	if len(args) == 0 || args[0] != "key" {
		return nil, nil, fmt.Errorf("want key BYTES")
	}
	key, rest, err := parseBytes(args[1:])
	if err != nil {
		return nil, nil, fmt.Errorf("key: %w", err)
	}
	if len(key) != int(m.KeySize) {
		return nil, nil, fmt.Errorf("key: %d bytes given, map %s has %d-byte keys", len(key), m.Name, m.KeySize)
	}
	return key, rest, nil
}

// entryOf turns a daemon element into the Entry of in-process dumps.
func entryOf(m *pb.MapInfo, key, value []byte) anybpf.Entry {
	e := anybpf.Entry{Key: key}
	if m.ValueSizeUser != m.ValueSize && m.ValueSize > 0 {
		stride := int((m.ValueSize + 7) &^ 7)
		for off := 0; off+stride <= len(value); off += stride {
			e.Values = append(e.Values, value[off:off+int(m.ValueSize)])
		}
		return e
	}
	e.Value = value
	return e
}

func mapDump(cmd *cobra.Command, g *globalFlags, api pb.AnybpfClient, args []string) error {
	info, rest, err := takeMap(api, args)
	if err != nil {
		return err
	}
	if err := noMore(rest); err != nil {
		return err
	}
	raw, err := anybpf.DumpRemote(api, info.Id)
	if err != nil {
		return err
	}
	entries := make([]anybpf.Entry, len(raw))
	for i, e := range raw {
		entries[i] = entryOf(info, e.Key, e.Value)
	}
	if g.json {
		return g.printJSON(cmd.OutOrStdout(), entriesJSON(entries))
	}
	printEntries(cmd.OutOrStdout(), entries)
	fmt.Fprintf(cmd.OutOrStdout(), "Found %d elements\n", len(entries))
	return nil
}

func mapLookup(cmd *cobra.Command, g *globalFlags, api pb.AnybpfClient, args []string) error {
	info, key, rest, err := takeMapKey(api, args)
	if err != nil {
		return err
	}
	if err := noMore(rest); err != nil {
		return err
	}
	resp, err := api.MapLookup(context.Background(), &pb.MapKeyRequest{Id: info.Id, Key: key})
	if err != nil {
		return remoteErr(err)
	}
	e := entryOf(info, key, resp.Value)
	if g.json {
		return g.printJSON(cmd.OutOrStdout(), entriesJSON([]anybpf.Entry{e})[0])
	}
	printEntries(cmd.OutOrStdout(), []anybpf.Entry{e})
	return nil
}

func mapUpdate(cmd *cobra.Command, g *globalFlags, api pb.AnybpfClient, args []string) error {
	info, key, rest, err := takeMapKey(api, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 || rest[0] != "value" {
		return fmt.Errorf("want value BYTES after the key")
	}
	value, rest, err := parseBytes(rest[1:])
	if err != nil {
		return fmt.Errorf("value: %w", err)
	}
	if len(value) != int(info.ValueSizeUser) {
		return fmt.Errorf("value: %d bytes given, map %s has %d-byte values", len(value), info.Name, info.ValueSizeUser)
	}
	flags := pb.UpdateFlag_UPDATE_ANY
	if len(rest) > 0 {
		switch rest[0] {
		case "any":
		case "exist":
			flags = pb.UpdateFlag_UPDATE_EXIST
		case "noexist":
			flags = pb.UpdateFlag_UPDATE_NOEXIST
		default:
			return fmt.Errorf("%q: want any, exist or noexist", rest[0])
		}
		if len(rest) > 1 {
			return fmt.Errorf("unexpected %q", rest[1])
		}
	}
	_, err = api.MapUpdate(context.Background(), &pb.MapUpdateRequest{Id: info.Id, Key: key, Value: value, Flags: flags})
	return remoteErr(err)
}

// mapPush pushes onto a queue or stack: an update with no key, as bpftool's push does.
func mapPush(cmd *cobra.Command, g *globalFlags, api pb.AnybpfClient, args []string) error {
	info, rest, err := takeMap(api, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 || rest[0] != "value" {
		return fmt.Errorf("want value BYTES")
	}
	value, rest, err := parseBytes(rest[1:])
	if err != nil {
		return fmt.Errorf("value: %w", err)
	}
	if err := noMore(rest); err != nil {
		return err
	}
	if len(value) != int(info.ValueSizeUser) {
		return fmt.Errorf("value: %d bytes given, map %s has %d-byte values", len(value), info.Name, info.ValueSizeUser)
	}
	_, err = api.MapUpdate(context.Background(), &pb.MapUpdateRequest{Id: info.Id, Value: value, Flags: pb.UpdateFlag_UPDATE_ANY})
	return remoteErr(err)
}

// mapPop prints the next value of a queue or stack, taking it out when remove is set.
func mapPop(remove bool) mapCmd {
	return func(cmd *cobra.Command, g *globalFlags, api pb.AnybpfClient, args []string) error {
		info, rest, err := takeMap(api, args)
		if err != nil {
			return err
		}
		if err := noMore(rest); err != nil {
			return err
		}
		req := &pb.MapKeyRequest{Id: info.Id}
		var resp *pb.MapValueResponse
		if remove {
			resp, err = api.MapLookupAndDelete(context.Background(), req)
		} else {
			resp, err = api.MapLookup(context.Background(), req)
		}
		if err != nil {
			return remoteErr(err)
		}
		if g.json {
			return g.printJSON(cmd.OutOrStdout(), map[string]any{"value": hexBytes(resp.Value)})
		}
		fmt.Fprintf(cmd.OutOrStdout(), "value: %s\n", spaced(resp.Value))
		return nil
	}
}

func mapDelete(cmd *cobra.Command, g *globalFlags, api pb.AnybpfClient, args []string) error {
	info, key, rest, err := takeMapKey(api, args)
	if err != nil {
		return err
	}
	if err := noMore(rest); err != nil {
		return err
	}
	_, err = api.MapDelete(context.Background(), &pb.MapKeyRequest{Id: info.Id, Key: key})
	return remoteErr(err)
}

func mapGetNext(cmd *cobra.Command, g *globalFlags, api pb.AnybpfClient, args []string) error {
	info, rest, err := takeMap(api, args)
	if err != nil {
		return err
	}
	req := &pb.MapNextKeyRequest{Id: info.Id}
	if len(rest) > 0 {
		if req.Key, rest, err = keyArg(rest, info); err != nil {
			return err
		}
		if err := noMore(rest); err != nil {
			return err
		}
	}
	resp, err := api.MapGetNextKey(context.Background(), req)
	if err != nil {
		return remoteErr(err)
	}
	if g.json {
		out := map[string]any{"key": nil, "next_key": hexBytes(resp.NextKey)}
		if req.Key != nil {
			out["key"] = hexBytes(req.Key)
		}
		return g.printJSON(cmd.OutOrStdout(), out)
	}
	w := cmd.OutOrStdout()
	if req.Key != nil {
		fmt.Fprintf(w, "key:\n%s\n", spaced(req.Key))
	} else {
		fmt.Fprintln(w, "key: None")
	}
	fmt.Fprintf(w, "next key:\n%s\n", spaced(resp.NextKey))
	return nil
}

func mapFreeze(cmd *cobra.Command, g *globalFlags, api pb.AnybpfClient, args []string) error {
	info, rest, err := takeMap(api, args)
	if err != nil {
		return err
	}
	if err := noMore(rest); err != nil {
		return err
	}
	_, err = api.MapFreeze(context.Background(), &pb.GetObjectRequest{Id: info.Id})
	return remoteErr(err)
}

func mapPin(cmd *cobra.Command, g *globalFlags, api pb.AnybpfClient, args []string) error {
	info, rest, err := takeMap(api, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return fmt.Errorf("want MAP PATH")
	}
	_, err = api.Pin(context.Background(), &pb.PinRequest{Id: info.Id, Path: rest[0]})
	return remoteErr(err)
}

func mapEventPipe(cmd *cobra.Command, g *globalFlags, api pb.AnybpfClient, args []string) error {
	info, rest, err := takeMap(api, args)
	if err != nil {
		return err
	}
	n, err := countArg(rest)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	var recv func() (*pb.Record, error)
	req := &pb.ReadRecordsRequest{Id: info.Id}
	switch info.Type {
	case "ringbuf":
		st, err := api.ReadRingBuffer(ctx, req)
		if err != nil {
			return remoteErr(err)
		}
		recv = st.Recv
	case "perf_event_array":
		st, err := api.ReadPerfEvents(ctx, req)
		if err != nil {
			return remoteErr(err)
		}
		recv = st.Recv
	default:
		return fmt.Errorf("map %s is a %s map; event_pipe reads ringbuf and perf_event_array maps", info.Name, info.Type)
	}
	w := cmd.OutOrStdout()
	for i := 0; n == 0 || i < n; i++ {
		rec, err := recv()
		if err != nil {
			return remoteErr(err)
		}
		switch {
		case g.json && rec.LostSamples > 0:
			g.printJSON(w, map[string]any{"cpu": rec.Cpu, "lost": rec.LostSamples})
		case g.json:
			g.printJSON(w, map[string]any{"cpu": rec.Cpu, "data": hexBytes(rec.Sample)})
		case rec.LostSamples > 0:
			fmt.Fprintf(w, "== CPU: %d lost %d samples ==\n", rec.Cpu, rec.LostSamples)
		default:
			fmt.Fprintf(w, "== CPU: %d ==\n%s\n", rec.Cpu, strings.TrimSpace(spaced(rec.Sample)))
		}
	}
	return nil
}
