// Command soak runs the demo's real topology (internal/topology, as `make
// cluster` does) under steady load for a bounded time, injects faults on a
// schedule, checks its invariants, and prints one markdown table per run.
//
// Usage (from the bench module; `make soak` runs it):
//
//	go run ./cmd/soak [-mode standalone|sentinel|cluster] [-duration 5m]
//	                  [-users 300] [-rate 200] [-out report.md] [-charts ../docs/charts]
//	                  [-client-cache] [-check-timeout 10s] [-viz-dir dir]
//
// The load: -users virtual users through nginx, -rate requests/s in all.
// Each logs in (and logs in a second "device" of the same user), then
// reads its session, increments its counters with POST /api/incr, writes
// plain keys with POST /api/session, lists its sessions, and now and then
// logs out or revokes its other device's session.
//
// The invariants it checks by itself:
//   - no acknowledged increment or write is lost: a counter never reads
//     below a value an increment acknowledged, a key never reads older
//     than its last acknowledged write, a session never vanishes unasked;
//     losses are counted apart when the write was acknowledged inside a
//     window where the configuration allows one (asynchronous replication
//     during a failover);
//   - no session is served after its logout or revoke was acknowledged;
//   - every answer is 2xx, 3xx, 401, 429, or 503 with Retry-After;
//   - after each fault, service returns by itself (no instance restarted,
//     except the one the fault killed).
//
// It also records the history of every session operation of the virtual
// users (history.go) and checks it for linearizability against a model of
// one session (model.go) with Porcupine (check.go): a partition per browser
// session, each within -check-timeout; Porcupine's view of each partition
// that is not linearizable is written next to -out (or into -viz-dir).
//
// It saves its results as -charts/soak-MODE.json and draws their timeline
// beside them, soak-MODE.svg (package chart; cmd/charts redraws it).
//
// Everything listens on 127.0.0.1 and stops when the run ends, also on
// Ctrl-C.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

type config struct {
	mode     string
	duration time.Duration
	users    int
	rate     float64
	out      string
	keep     bool
	verbose  bool
	faults   bool
	charts   string
	// The linearizability check (check.go):
	checkTimeout time.Duration
	vizDir       string
	clientCache  bool
	cacheWindow  time.Duration
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.StringVar(&c.mode, "mode", "standalone", "Redis mode: standalone, sentinel or cluster")
	fs.DurationVar(&c.duration, "duration", 5*time.Minute, "how long the load runs (faults included)")
	fs.IntVar(&c.users, "users", 300, "virtual users")
	fs.Float64Var(&c.rate, "rate", 200, "requests per second, all users together")
	fs.StringVar(&c.out, "out", "", "also append the report to this file")
	fs.BoolVar(&c.keep, "keep", false, "keep the run's directory (logs) after the run")
	fs.BoolVar(&c.verbose, "v", false, "log every loss and every session served after its end as it is found")
	fs.BoolVar(&c.faults, "faults", true, "inject the faults (false: the load alone)")
	fs.StringVar(&c.charts, "charts", "../docs/charts", "`dir`ectory for the results (soak-MODE.json) and their timeline chart (soak-MODE.svg); empty: none")
	fs.DurationVar(&c.checkTimeout, "check-timeout", 10*time.Second, "bound of the linearizability check of each partition of the history (one browser session)")
	fs.StringVar(&c.vizDir, "viz-dir", "", "`dir`ectory for the visualizations of partitions that are not linearizable (default: that of -out, or the system's temporary directory)")
	fs.BoolVar(&c.clientCache, "client-cache", false, "run the instances with -client-cache (redisstore's client-side cache)")
	fs.DurationVar(&c.cacheWindow, "cache-window", 20*time.Millisecond, "with -client-cache, the cache's stated window (docs/redis.md): a session that reads this stale make linearizable is within it")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.duration < 20*time.Second || c.duration > time.Hour {
		return c, fmt.Errorf("-duration must be from 20s to 1h, got %v", c.duration)
	}
	if c.users < 1 || c.users > 5000 || c.rate <= 0 || c.rate > 5000 {
		return c, fmt.Errorf("-users must be 1 to 5000 and -rate 0 to 5000")
	}
	return c, nil
}
