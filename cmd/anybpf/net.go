package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/anybpf/anybpf"
	"github.com/anybpf/anybpf/link"
)

func newNetCommand(g *globalFlags) *cobra.Command {
	n := &cobra.Command{
		Use:   "net",
		Short: "Attach programs to network interfaces",
	}
	attach := &cobra.Command{
		Use:   "attach",
		Short: "Attach a program to a network interface",
	}
	attach.AddCommand(newNetAttachXDPCommand(g))
	n.AddCommand(attach,
		&cobra.Command{Use: "detach xdp dev IFACE", Short: "Detach the daemon's XDP programs from an interface", RunE: mapRun(g, "net detach", netDetach)},
		&cobra.Command{Use: "show [dev IFACE]", Aliases: []string{"list"}, Short: "List the daemon's XDP attachments", RunE: mapRun(g, "net show", netShow)},
	)
	return n
}

func newNetAttachXDPCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "xdp FILE|PROG [name NAME | section SEC] dev IFACE [peer IFACE2 | tap TAPNAME] [workers N] [priority N] [engine auto|interp|jit]",
		Short: "Run an XDP program on an interface's frames, in the foreground",
		Long: `Run an XDP program from the object FILE on every frame IFACE receives, in anybpf's
user-space datapath, until interrupted (SIGINT or SIGTERM); then print what happened to
the frames. Frames arrive through AF_PACKET memory-mapped rings, spread over workers (one
per CPU unless "workers" says otherwise), and the program's verdicts take effect:

  XDP_DROP      the frame goes nowhere
  XDP_PASS      with "peer", the frame goes out of IFACE2 (a bump in the wire: frames
                IFACE2 receives go back out of IFACE); with "tap", the datapath creates
                the TAP device TAPNAME and the frame goes to the host through it (what
                the host sends out of TAPNAME goes out of IFACE); with neither, nothing
                is done
  XDP_TX        the frame, as the program left it, goes back out of IFACE
  XDP_REDIRECT  bpf_redirect / bpf_redirect_map (devmap) send it out of IFACE2

Without a peer the kernel has already delivered its own copy of every frame to the host:
AF_PACKET cannot take it back, so XDP_DROP and XDP_PASS then make no difference to the
host. Real drop semantics need "peer", on interfaces that carry only what anybpf moves
(no addresses, bridges or routes on IFACE and IFACE2; for veth pairs, TSO and GSO off on
the other ends), or "tap", with IFACE's addresses moved to TAPNAME and ARP off on IFACE
(ip link set IFACE arp off), so that the host sees IFACE's traffic only through the
program.

With FILE this is the in-process form: the program and its maps live as long as the
command. With PROG (id N | pinned PATH | name NAME | tag TAG) the daemon attaches its
program and keeps it attached (a link: link show, link pin, net show, net detach xdp dev
IFACE), in the daemon's network namespace.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if isSelector(args[0]) {
				return mapRun(g, "net attach xdp", netAttachRemote)(cmd, args)
			}
			kw, err := keywordArgs(args[1:], []string{"name", "section", "dev", "peer", "tap", "workers", "priority", "engine"}, nil)
			if err != nil {
				return fmt.Errorf("net attach xdp: %w", err)
			}
			if kw["dev"] == "" {
				return fmt.Errorf("net attach xdp: dev IFACE is required")
			}
			opts := link.XDPOptions{Interface: kw["dev"], Peer: kw["peer"], TAP: kw["tap"]}
			for key, dst := range map[string]*int{"workers": &opts.Workers, "priority": &opts.Priority} {
				if v, ok := kw[key]; ok {
					if *dst, err = strconv.Atoi(v); err != nil {
						return fmt.Errorf("net attach xdp: %s %q is not a number", key, v)
					}
				}
			}
			cfg := anybpf.NewRuntimeConfig().WithTraceLog(os.Stderr)
			if e, ok := kw["engine"]; ok {
				cfg = cfg.WithEngine(e)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			rt := anybpf.NewRuntime(context.Background(), cfg)
			defer rt.Close()
			coll, err := rt.LoadCollection(args[0])
			if err != nil {
				return fmt.Errorf("net attach xdp: %w", err)
			}
			defer coll.Close()
			prog, err := pickProgram(coll, args[0], kw)
			if err != nil {
				return fmt.Errorf("net attach xdp: %w", err)
			}
			l, err := link.AttachXDP(prog, opts)
			if err != nil {
				return fmt.Errorf("net attach xdp: %w", err)
			}
			info := l.Info()
			if !g.json {
				fmt.Fprintf(cmd.ErrOrStderr(), "xdp program %s attached to %s; interrupt to detach\n", info.Program, info.Target)
			}
			<-ctx.Done()
			s := l.Stats()
			if err := l.Close(); err != nil {
				return fmt.Errorf("net attach xdp: detach: %w", err)
			}
			if g.json {
				return g.printJSON(cmd.OutOrStdout(), map[string]any{"program": info.Program, "target": info.Target, "stats": s})
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s on %s: received %d, passed %d (forwarded %d), dropped %d, aborted %d, tx %d, redirected %d, truncated %d, send errors %d, ring drops %d\n",
				info.Program, info.Target, s.Received, s.Passed, s.Forwarded, s.Dropped, s.Aborted, s.Transmit, s.Redirected, s.Truncated, s.SendErrors, s.RingDrops)
			return err
		},
	}
}
