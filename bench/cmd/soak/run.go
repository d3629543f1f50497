package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/stickless/stickless/bench/chart"
	"github.com/stickless/stickless/internal/redistest"
	"github.com/stickless/stickless/internal/topology"
)

// Run starts the topology, runs the load and the faults, and prints the
// report.
func Run(ctx context.Context, args []string) error {
	cfg, err := parseFlags(args)
	if err != nil {
		return err
	}
	mode, err := topology.ParseMode(cfg.mode)
	if err != nil {
		return err
	}
	root, err := filepath.Abs("..") // the bench module sits in the repository
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(root, "deploy", "nginx.conf")); err != nil {
		return fmt.Errorf("run from the bench module of the stickless repository: %v", err)
	}
	dir, err := os.MkdirTemp("", "stickless-soak-")
	if err != nil {
		return err
	}
	if cfg.keep {
		fmt.Fprintf(os.Stderr, "soak: the run's files stay in %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	os.Chmod(dir, 0o711) // nginx's workers may run as nobody
	logf := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "soak: %s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
	}

	bin := filepath.Join(dir, "whatsup")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = filepath.Join(root, "cmd", "whatsup") // a module of its own
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building cmd/whatsup: %v\n%s", err, out)
	}
	secrets := filepath.Join(dir, "secrets")
	if err := os.WriteFile(secrets, []byte(randHex()+"\n"), 0o600); err != nil {
		return err
	}
	topo, err := topology.Start(topology.Config{
		Mode:      mode,
		Dir:       dir,
		DeployDir: filepath.Join(root, "deploy"),
		// The shipped redis.conf: AOF with appendfsync everysec.
		Redis:         redistest.Options{Include: filepath.Join(root, "deploy", "redis.conf")},
		AdminPassword: randHex(),
		AppPassword:   randHex(),
		Instances:     3,
		AppBin:        bin,
		AppFlags:      appFlags(mode, cfg.clientCache),
		Secrets:       secrets,
		MetricsFlag:   metricsFlag(cfg.clientCache), // the cache's hits
		Logf:          logf,
	})
	if err != nil {
		return err
	}
	defer func() {
		logf("stopping everything")
		if err := topo.Close(); err != nil {
			logf("%v", err)
		}
	}()
	logf("up: %s, Redis %s, %d users at %.0f requests/s for %v", topo.URL, topo.ShownURL(), cfg.users, cfg.rate, cfg.duration)

	rec := newRecorder()
	if cfg.verbose {
		rec.logf = logf
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	hist := newHistory()
	load := newLoad(topo.URL, rec, hist)
	load.store = &storage{topo: topo}
	var wg sync.WaitGroup
	start := time.Now()
	interval := time.Duration(float64(time.Second) * float64(cfg.users) / cfg.rate)
	for i := range cfg.users {
		wg.Go(func() { load.user(ctx, i, interval) })
	}
	wg.Go(func() { load.probe(ctx) })
	var faults []*fault
	if cfg.faults {
		faults = runFaults(ctx, topo, rec, load, cfg.duration, logf)
	}
	wg.Wait()
	elapsed := time.Since(start)

	report := buildReport(cfg, mode, topo, rec, faults, elapsed) + runCheck(cfg, topo, hist, faults, logf)
	fmt.Print(report)
	if cfg.charts != "" {
		name := "soak-" + string(mode)
		if cfg.clientCache {
			name += "-cache" // beside the run without it
		}
		base := filepath.Join(cfg.charts, name)
		if err := chart.Save(base, timeline(cfg, mode, rec, faults, start, elapsed)); err != nil {
			return err
		}
		logf("results and chart: %s.json, %s.svg", base, base)
	}
	if cfg.out != "" {
		f, err := os.OpenFile(cfg.out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprint(f, report)
	}
	return nil
}

// metricsFlag is whatsup's metrics flag when the instances' metrics are
// read (the client-side cache's hits), else "".
func metricsFlag(cache bool) string {
	if cache {
		return "-metrics-addr"
	}
	return ""
}

func randHex() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// appFlags are the instances' extra flags: with replicas, a logout or
// revoke waits until one replica has it (redisstore's WaitReplicas), so that
// a failover cannot bring a logged-out session back; with cache, the
// client-side cache.
func appFlags(mode topology.Mode, cache bool) []string {
	var f []string
	if mode != topology.Standalone {
		f = append(f, "-wait-replicas", "1")
	}
	if cache {
		f = append(f, "-client-cache")
	}
	return f
}
