package anybpf_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/anybpf/anybpf"
	"github.com/anybpf/anybpf/progtype"
)

// TestCollectionProgramType loads a program whose section names no type: it cannot run
// until CollectionOptions.ProgramType says what it is.
func TestCollectionProgramType(t *testing.T) {
	tests := []struct {
		name    string
		typ     progtype.Type
		wantErr error // of a run
		ipv6    uint32
	}{
		{"no type", progtype.Unspec, anybpf.ErrUnverifiable, 0},
		{"xdp", progtype.XDP, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := os.Open("testdata/untyped.o")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rt := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig())
			defer rt.Close()
			coll, err := rt.LoadCollectionWithOptions(f, "untyped.o", anybpf.CollectionOptions{ProgramType: tt.typ})
			if err != nil {
				t.Fatal(err)
			}
			defer coll.Close()
			p := coll.Programs["untyped_filter"]
			if p.Type != tt.typ {
				t.Errorf("program type %v, want %v", p.Type, tt.typ)
			}
			ret, err := p.Run(&anybpf.RunOptions{Data: frame(0x86dd, "x")})
			if !errors.Is(err, tt.wantErr) || (err == nil && ret != tt.ipv6) {
				t.Fatalf("run on an IPv6 frame: %d, %v; want %d, %v", ret, err, tt.ipv6, tt.wantErr)
			}
		})
	}
}
