package anybpf_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anybpf/anybpf"
	"github.com/anybpf/anybpf/internal/testutil"
	"github.com/anybpf/anybpf/progtype"
)

// TestCorpusRun runs every XDP, socket filter and tc program of the sample objects on a
// small IPv4 frame. Each either runs (without any memory fault in checked mode) or says
// plainly that it needs something anybpf does not provide yet.
func TestCorpusRun(t *testing.T) {
	dir := testutil.CorpusDir(t, "ebpf-samples")
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".o") && !strings.Contains(p, "/invalid/") {
			files = append(files, p)
		}
		return nil
	})
	ran, unsupported := map[progtype.Type]int{}, 0
	for _, f := range files {
		coll, err := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig()).LoadCollection(f)
		if err != nil {
			continue // objects the loader or the verifier refuses are TestCorpus's business (internal/elfload, verifier)
		}
		for _, p := range coll.Programs {
			if p.Type != progtype.XDP && p.Type != progtype.SocketFilter && p.Type != progtype.SchedCls && p.Type != progtype.CgroupSockAddr {
				continue
			}
			pkt := make([]byte, 64)
			copy(pkt, []byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00, 0x45})
			_, err := p.Run(&anybpf.RunOptions{Data: pkt})
			switch {
			case err == nil:
				ran[p.Type]++
			case errors.Is(err, anybpf.ErrNotSupported):
				unsupported++
			default:
				t.Errorf("%s: %s: %v", filepath.Base(f), p.Name, err)
			}
		}
	}
	t.Logf("programs that ran: %v; %d need features not built yet", ran, unsupported)
	for typ, floor := range map[progtype.Type]int{progtype.XDP: 44, progtype.SocketFilter: 14, progtype.SchedCls: 4} {
		if ran[typ] < floor {
			t.Errorf("only %d %s programs ran; %d did when this test was written", ran[typ], typ, floor)
		}
	}
}
