package daemon

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/anybpf/anybpf/maps"
)

// Array maps live in memory-mapped files of the state directory (mapfiles), so a kill
// loses nothing written to them. The contents of other pinned maps (hashes, LRU hashes,
// tries) survive a graceful stop only: Close writes them to state-dir/maps, and the next
// start reads them back into the restored maps and removes the files (so that a later
// kill -9 cannot bring back stale contents).
const snapshotDir = "maps"

// snapshotMagic starts a snapshot file; key size, value size and count follow, then the
// elements.
const snapshotMagic = "anybpf map snapshot 1\n"

func snapshotFile(stateDir, pin string) string {
	sum := sha256.Sum256([]byte(pin))
	return filepath.Join(stateDir, snapshotDir, hex.EncodeToString(sum[:16])+".bin")
}

// snapshottable reports whether a map's contents are keys and values that can be saved
// and stored back (not ring buffers, queues, program arrays or maps of maps).
func snapshottable(t maps.Type) bool {
	switch t {
	case maps.Hash, maps.Array, maps.PerCPUHash, maps.PerCPUArray, maps.LRUHash, maps.LRUPerCPUHash, maps.LPMTrie:
		return true
	}
	return false
}

// snapshotPinsLocked saves the contents of every pinned map.
func (s *Server) snapshotPinsLocked() error {
	if s.cfg.StateDir == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(s.cfg.StateDir, snapshotDir), 0o700); err != nil {
		return err
	}
	var errs []error
	for p, o := range s.pins {
		if o.m == nil || o.file != "" || !snapshottable(o.m.Spec().Type) {
			continue
		}
		if err := writeFileSync(snapshotFile(s.cfg.StateDir, p), s.encodeMap(o)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Server) encodeMap(o *object) []byte {
	spec := o.m.Spec()
	vs := s.userValueSize(spec)
	var body bytes.Buffer
	var key any
	next := make([]byte, spec.KeySize)
	val := make([]byte, vs)
	n := uint32(0)
	for o.m.NextKey(key, next) == nil && n < spec.MaxEntries {
		if o.m.Lookup(next, val) == nil {
			body.Write(next)
			body.Write(val)
			n++
		}
		key = append([]byte(nil), next...)
	}
	out := []byte(snapshotMagic)
	out = binary.LittleEndian.AppendUint32(out, spec.KeySize)
	out = binary.LittleEndian.AppendUint32(out, uint32(vs))
	out = binary.LittleEndian.AppendUint32(out, n)
	return append(out, body.Bytes()...)
}

// restoreSnapshotsLocked stores the saved contents back into the restored pinned maps
// and removes the snapshot files.
func (s *Server) restoreSnapshotsLocked() {
	dir := filepath.Join(s.cfg.StateDir, snapshotDir)
	for p, o := range s.pins {
		if o.m == nil || o.file != "" { // a file-backed map's file is its contents
			continue
		}
		f := snapshotFile(s.cfg.StateDir, p)
		data, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err == nil {
			err = s.decodeMap(o, data)
		}
		if err != nil {
			s.log.Error("restore: map contents", "path", p, "err", err)
		}
	}
	keep := map[string]bool{} // the pins kept for the next start keep their contents
	for _, r := range s.pending {
		keep[filepath.Base(snapshotFile(s.cfg.StateDir, r.Path))] = true
	}
	if ents, err := os.ReadDir(dir); err == nil {
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".bin") && !keep[e.Name()] {
				os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
}

func (s *Server) decodeMap(o *object, data []byte) error {
	spec := o.m.Spec()
	vs := s.userValueSize(spec)
	rest, ok := bytes.CutPrefix(data, []byte(snapshotMagic))
	if !ok || len(rest) < 12 {
		return errors.New("not a map snapshot")
	}
	ks, gotVS, n := binary.LittleEndian.Uint32(rest), binary.LittleEndian.Uint32(rest[4:]), binary.LittleEndian.Uint32(rest[8:])
	rest = rest[12:]
	if ks != spec.KeySize || int(gotVS) != vs {
		return fmt.Errorf("snapshot of %d-byte keys and %d-byte values, the map has %d and %d", ks, gotVS, spec.KeySize, vs)
	}
	size := uint64(ks) + uint64(vs)
	if uint64(len(rest)) != uint64(n)*size {
		return fmt.Errorf("snapshot of %d elements holds %d bytes", n, len(rest))
	}
	for i := uint64(0); i < uint64(n); i++ {
		e := rest[i*size : (i+1)*size]
		if err := o.m.Update(e[:ks], e[ks:], maps.UpdateAny); err != nil {
			return fmt.Errorf("element %d: %w", i, err)
		}
	}
	return nil
}
