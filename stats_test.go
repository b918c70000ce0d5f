package anybpf_test

import (
	"context"
	"testing"

	"github.com/anybpf/anybpf"
)

func TestProgramStats(t *testing.T) {
	rt := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig())
	defer rt.Close()
	coll, err := rt.LoadCollection("testdata/xdp_counter.o")
	if err != nil {
		t.Fatal(err)
	}
	p := coll.Programs["xdp_count"]
	pkt := make([]byte, 14)
	// Statistics start off, as the kernel's do.
	if _, err := p.Run(&anybpf.RunOptions{Data: pkt, Repeat: 3}); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.RunCount != 0 || st.RunTime != 0 {
		t.Errorf("stats counted while off: %+v", st)
	}
	if was := rt.SetStats(true); was || !rt.StatsEnabled() {
		t.Fatalf("SetStats(true): was %v, now %v", was, rt.StatsEnabled())
	}
	if _, err := p.Run(&anybpf.RunOptions{Data: pkt, Repeat: 5}); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.RunCount != 5 || st.RunTime <= 0 {
		t.Errorf("stats after 5 runs: %+v", st)
	}
	rt.SetStats(false)
	p.Run(&anybpf.RunOptions{Data: pkt})
	if st := p.Stats(); st.RunCount != 5 {
		t.Errorf("stats counted after SetStats(false): %+v", st)
	}
}

func TestProgramIdentity(t *testing.T) {
	fresh := func() *anybpf.Collection {
		rt := anybpf.NewRuntime(context.Background(), anybpf.NewRuntimeConfig())
		t.Cleanup(func() { rt.Close() })
		coll, err := rt.LoadCollection("testdata/xdp_counter.o")
		if err != nil {
			t.Fatal(err)
		}
		return coll
	}
	a, b := fresh(), fresh()
	// The tag names the code: the same across loads (map addresses differ), different
	// between programs.
	if ta, tb := a.Programs["xdp_count"].Tag(), b.Programs["xdp_count"].Tag(); ta != tb || len(ta) != 16 {
		t.Errorf("tags of two loads: %q, %q", ta, tb)
	}
	if a.Programs["xdp_count"].Tag() == a.Programs["xdp_strip2"].Tag() {
		t.Error("two programs have one tag")
	}
	ids := a.Programs["xdp_count"].MapIDs()
	want := map[uint32]bool{a.Maps["counts"].ID(): true, a.Maps["by_proto"].ID(): true}
	found := 0
	for _, id := range ids {
		if want[id] {
			found++
		}
	}
	if found != 2 {
		t.Errorf("MapIDs %v lack counts and by_proto (%v)", ids, want)
	}
	if err := a.Programs["xdp_count"].Err(); err != nil {
		t.Errorf("Err of a runnable program: %v", err)
	}
}
