package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/anybpf/anybpf/internal/daemon"
)

func newDaemonCommand(g *globalFlags) *cobra.Command {
	var cfg daemon.Config
	var metricsAddr string
	var stats bool
	cmd := &cobra.Command{
		Use:   "daemon [--socket PATH] [--state-dir DIR] [--metrics ADDR] [--group NAME]",
		Short: "Serve the anybpf API: own every program, map, link and pin of the host",
		Long: `Run the execution context service: a runtime that holds programs, maps, links and
pins for every client of the host, served over a Unix socket (mode 0660; under systemd,
the socket it is given). Root and members of --group may load, attach, pin and write;
other users who can reach the socket may only read. Pins are kept in --state-dir and
pinned programs are loaded again at start. SIGINT or SIGTERM stops it gracefully.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			cfg.Providers = daemon.DefaultProviders()
			srv, err := daemon.New(cfg)
			if err != nil {
				return fmt.Errorf("daemon: %w", err)
			}
			srv.Runtime().SetStats(stats)
			gid, err := daemon.GroupID(cfg.Group)
			if err != nil {
				srv.Close()
				return fmt.Errorf("daemon: %w", err)
			}
			l, err := daemon.Listen(g.socket, gid)
			if err != nil {
				srv.Close()
				return fmt.Errorf("daemon: %w", err)
			}
			if metricsAddr != "" {
				ml, err := net.Listen("tcp", metricsAddr)
				if err != nil {
					srv.Close()
					return fmt.Errorf("daemon: metrics: %w", err)
				}
				mux := http.NewServeMux()
				mux.Handle("/metrics", srv.MetricsHandler())
				go http.Serve(ml, mux)
				cfg.Logger.Info("metrics", "addr", ml.Addr().String())
			}
			sigs := make(chan os.Signal, 1)
			signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
			go func() {
				s := <-sigs
				cfg.Logger.Info("stopping", "signal", s.String())
				srv.Close()
			}()
			cfg.Logger.Info("serving", "socket", l.Addr().String(), "state_dir", cfg.StateDir, "pid", os.Getpid())
			err = srv.Serve(l)
			srv.Close()
			if errors.Is(err, daemon.ErrServerClosed) {
				return nil
			}
			return fmt.Errorf("daemon: %w", err)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.StateDir, "state-dir", "/var/lib/anybpf", "where pins are kept across restarts")
	f.StringVar(&metricsAddr, "metrics", "", "serve Prometheus metrics at http://ADDR/metrics")
	f.StringVar(&cfg.Group, "group", "", "the group whose members may load, attach, pin and write (default: root only)")
	f.StringVar(&cfg.Engine, "engine", "auto", "execution engine: auto, interp or jit")
	f.BoolVar(&stats, "stats", false, "count run_cnt and run_time_ns from the start (as kernel.bpf_stats_enabled=1)")
	f.IntVar(&cfg.MaxObjectsPerUser, "max-objects-per-user", daemon.DefaultMaxObjectsPerUser, "programs, maps and links one uid may hold")
	f.IntVar(&cfg.MaxRequestBytes, "max-request-bytes", daemon.DefaultMaxRequestBytes, "largest request (an object to load, a batch)")
	f.Uint64Var(&cfg.MaxMapBytes, "max-map-bytes", daemon.DefaultMaxMapBytes, "largest map, in bytes when full")
	f.Uint64Var(&cfg.MemoryLimit, "memory-limit", daemon.DefaultMemoryLimit, "memory of all maps together")
	return cmd
}
