package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	pb "github.com/anybpf/anybpf/api/anybpfv1"
)

// netAttachRemote attaches a daemon's program to an interface: args are PROG (a
// selector) and the keywords of the in-process form.
func netAttachRemote(cmd *cobra.Command, g *globalFlags, api pb.AnybpfClient, args []string) error {
	kind, value, rest, err := takeSelector(args, "PROG")
	if err != nil {
		return err
	}
	kw, err := keywordArgs(rest, []string{"dev", "peer", "tap", "workers", "priority"}, nil)
	if err != nil {
		return err
	}
	if kw["dev"] == "" {
		return fmt.Errorf("dev IFACE is required")
	}
	target := kw["dev"]
	for _, k := range []string{"peer", "tap", "workers", "priority"} {
		if v, ok := kw[k]; ok {
			target += " " + k + " " + v
		}
	}
	prog, err := resolveProgram(api, kind, value)
	if err != nil {
		return err
	}
	ctx := context.Background()
	l, err := api.Attach(ctx, &pb.AttachRequest{ProgId: prog.Id, AttachType: "xdp", Target: target})
	if err != nil {
		return remoteErr(err)
	}
	// Like an XDP program attached with bpftool, it stays attached when this command
	// ends: the link is pinned (net detach, or link detach, removes it).
	pin := fmt.Sprintf("/sys/fs/bpf/anybpf/xdp/%s/%d", kw["dev"], l.Id)
	if _, err := api.Pin(ctx, &pb.PinRequest{Id: l.Id, Path: pin}); err != nil {
		return remoteErr(err)
	}
	l.Pinned = append(l.Pinned, pin)
	if g.json {
		return g.printJSON(cmd.OutOrStdout(), linkJSONOf(l))
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "link %d: xdp program %d attached to %s\n", l.Id, l.ProgId, l.Target)
	return err
}

// xdpLinks returns the daemon's XDP links, those on dev only when dev is set.
func xdpLinks(api pb.AnybpfClient, dev string) ([]*pb.LinkInfo, error) {
	resp, err := api.ListLinks(context.Background(), &pb.ListRequest{})
	if err != nil {
		return nil, remoteErr(err)
	}
	var out []*pb.LinkInfo
	for _, l := range resp.Links {
		if l.AttachType != "xdp" {
			continue
		}
		if iface, _, _ := strings.Cut(l.Target, " "); dev == "" || iface == dev {
			out = append(out, l)
		}
	}
	return out, nil
}

// netDetach detaches the XDP programs the daemon runs on an interface: args are
// "xdp dev IFACE".
func netDetach(cmd *cobra.Command, g *globalFlags, api pb.AnybpfClient, args []string) error {
	if len(args) != 3 || args[0] != "xdp" || args[1] != "dev" {
		return fmt.Errorf("want: net detach xdp dev IFACE")
	}
	links, err := xdpLinks(api, args[2])
	if err != nil {
		return err
	}
	if len(links) == 0 {
		return fmt.Errorf("no xdp program is attached to %s", args[2])
	}
	for _, l := range links {
		if _, err := api.Detach(context.Background(), &pb.GetObjectRequest{Id: l.Id}); err != nil {
			return remoteErr(err)
		}
	}
	return nil
}

// netShow lists the daemon's XDP attachments, in bpftool's shape.
func netShow(cmd *cobra.Command, g *globalFlags, api pb.AnybpfClient, args []string) error {
	dev := ""
	if len(args) == 2 && args[0] == "dev" {
		dev = args[1]
	} else if len(args) != 0 {
		return fmt.Errorf("want: net show [dev IFACE]")
	}
	links, err := xdpLinks(api, dev)
	if err != nil {
		return err
	}
	if g.json {
		var xdp []map[string]any
		for _, l := range links {
			iface, _, _ := strings.Cut(l.Target, " ")
			xdp = append(xdp, map[string]any{"devname": iface, "id": l.ProgId, "link_id": l.Id, "mode": "anybpf", "target": l.Target})
		}
		return g.printJSON(cmd.OutOrStdout(), []map[string]any{{"xdp": xdp}})
	}
	fmt.Fprintln(cmd.OutOrStdout(), "xdp:")
	for _, l := range links {
		iface, _, _ := strings.Cut(l.Target, " ")
		fmt.Fprintf(cmd.OutOrStdout(), "%s id %d link %d (%s)\n", iface, l.ProgId, l.Id, l.Target)
	}
	return nil
}
