package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	pb "github.com/anybpf/anybpf/api/anybpfv1"
)

func newLinkCommand(g *globalFlags) *cobra.Command {
	l := &cobra.Command{
		Use:   "link",
		Short: "Inspect and detach the daemon's links (programs attached to hooks)",
		Long: `Inspect and detach the links of the daemon. LINK is id N | pinned PATH. The daemon's
hook providers make links for "xdp" (net attach xdp PROG dev IFACE) and "process" (the
Attach API with target "host").`,
	}
	l.AddCommand(
		&cobra.Command{Use: "show [LINK]", Aliases: []string{"list"}, Short: "List links", RunE: mapRun(g, "link show", linkShow)},
		&cobra.Command{Use: "detach LINK", Short: "Detach a link (pinned or not)", RunE: mapRun(g, "link detach", linkDetach)},
		&cobra.Command{Use: "pin LINK PATH", Short: "Pin a link at PATH", RunE: mapRun(g, "link pin", linkPin)},
	)
	return l
}

func takeLink(api pb.AnybpfClient, args []string) (*pb.LinkInfo, []string, error) {
	kind, value, rest, err := takeSelector(args, "LINK")
	if err != nil {
		return nil, nil, err
	}
	if kind == "name" {
		return nil, nil, fmt.Errorf("links have no names; want id N | pinned PATH")
	}
	id, err := resolveID(api, kind, value, pb.ObjectKind_OBJECT_KIND_LINK)
	if err != nil {
		return nil, nil, err
	}
	info, err := api.GetLink(context.Background(), &pb.GetObjectRequest{Id: id})
	return info, rest, remoteErr(err)
}

func linkJSONOf(l *pb.LinkInfo) map[string]any {
	out := map[string]any{"id": l.Id, "prog_id": l.ProgId, "attach_type": l.AttachType, "target": l.Target}
	if len(l.Pinned) > 0 {
		out["pinned"] = l.Pinned
	}
	return out
}

func linkShow(cmd *cobra.Command, g *globalFlags, api pb.AnybpfClient, args []string) error {
	var list []*pb.LinkInfo
	if len(args) > 0 {
		info, _, err := takeLink(api, args)
		if err != nil {
			return err
		}
		list = []*pb.LinkInfo{info}
	} else {
		resp, err := api.ListLinks(context.Background(), &pb.ListRequest{})
		if err != nil {
			return remoteErr(err)
		}
		list = resp.Links
	}
	if g.json {
		out := []map[string]any{}
		for _, l := range list {
			out = append(out, linkJSONOf(l))
		}
		return g.printJSON(cmd.OutOrStdout(), out)
	}
	for _, l := range list {
		fmt.Fprintf(cmd.OutOrStdout(), "%d: %s  prog %d  target %s\n", l.Id, l.AttachType, l.ProgId, l.Target)
		for _, p := range l.Pinned {
			fmt.Fprintf(cmd.OutOrStdout(), "\tpinned %s\n", p)
		}
	}
	return nil
}

func linkDetach(cmd *cobra.Command, g *globalFlags, api pb.AnybpfClient, args []string) error {
	info, _, err := takeLink(api, args)
	if err != nil {
		return err
	}
	_, err = api.Detach(context.Background(), &pb.GetObjectRequest{Id: info.Id})
	return remoteErr(err)
}

func linkPin(cmd *cobra.Command, g *globalFlags, api pb.AnybpfClient, args []string) error {
	info, rest, err := takeLink(api, args)
	if err != nil || len(rest) != 1 {
		return fmt.Errorf("want LINK PATH")
	}
	_, err = api.Pin(context.Background(), &pb.PinRequest{Id: info.Id, Path: rest[0]})
	return remoteErr(err)
}
