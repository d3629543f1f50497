package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stickless/stickless/bench/chart"
)

// runBench runs the side-by-side scenarios and prints their tables.
func runBench(ctx context.Context, cfg config, p *procs, r runner, redisAddr string, rdb *redis.Client, noFile uint64, out io.Writer) error {
	instances := 1
	for _, s := range cfg.scenarios {
		if findScenario(s).nginx {
			instances = 3
		}
	}
	if cfg.profile != "" && !slices.Contains(cfg.contenders, "stickless") {
		cfg.contenders = append(cfg.contenders, "stickless")
	}
	servers := map[string][]string{} // contender -> instance addresses
	pids := map[string][]int{}       // contender -> instance pids
	for _, c := range cfg.contenders {
		for i := range instances {
			addr, pid, err := p.startServer(ctx, cfg.server, c, redisAddr, i+1)
			if err != nil {
				return err
			}
			servers[c] = append(servers[c], addr)
			pids[c] = append(pids[c], pid)
		}
	}
	front := map[string]string{} // contender -> nginx address
	if instances == 3 {
		var ups []upstream
		for _, c := range cfg.contenders {
			port, err := freePort()
			if err != nil {
				return err
			}
			ups = append(ups, upstream{Name: "u_" + c, Port: port, Backends: servers[c]})
			front[c] = fmt.Sprintf("127.0.0.1:%d", port)
		}
		if err := p.startNginx(ctx, ups, 1, min(noFile, 65535), 4096); err != nil {
			return err
		}
	}

	fmt.Fprintf(out, "# stickless side-by-side benchmark\n\n")
	start := time.Now()
	writeMachine(out, r, redisAddr, start)
	fmt.Fprintf(out, "Load: %s, %d keep-alive connections, %d thread(s); %d round(s) of %s per contender and scenario, contenders interleaved within each round",
		r.name(), cfg.conns, cfg.threads, cfg.rounds, cfg.dur)
	if cfg.warmup > 0 {
		fmt.Fprintf(out, ", after a %s warm-up each", cfg.warmup)
	}
	fmt.Fprintf(out, ". req/s, p50 and p99 are medians of the rounds. \"Redis cmds sent/req\" counts, with MONITOR over 50 sequential requests before the runs, the commands the server sent to Redis (each one round trip unless pipelined), with the commands its Lua scripts ran inside Redis listed apart; \"executed/req\" is INFO commandstats under load (CONFIG RESETSTAT before each run; script insides included) divided by the requests. \"app CPU\" is the user+system CPU time of the contender's instance(s) (/proc) and \"Redis CPU\" that of redis-server (INFO cpu) over the rounds, per request: the cost of a request, steadier than req/s on a shared machine.\n\n")

	all := map[string]map[string]*measured{}
	for _, sname := range cfg.scenarios {
		sc := findScenario(sname)
		cells := map[string]*measured{}
		all[sname] = cells
		loads := map[string]load{}
		for _, c := range cfg.contenders {
			m := &measured{}
			cells[c] = m
			base := "http://" + servers[c][0]
			target := base
			if sc.nginx {
				target = "http://" + front[c]
			}
			var cookie string
			if sc.cookie != "none" {
				var err error
				cookie, err = setupCookie(ctx, base, sc.keys)
				if err != nil {
					m.err = err
					continue
				}
				if sc.cookie == "forged" {
					cookie = forge(cookie)
				}
			}
			l := load{url: target + sc.path, method: sc.method, cookie: cookie, conns: cfg.conns, threads: cfg.threads, dur: cfg.dur}
			err := check(ctx, l.url, l.method, l.cookie, sc.body(c))
			if err != nil {
				m.err = err
				continue
			}
			m.sent, err = monitor(ctx, redisAddr, func() (int, error) { return sequential(ctx, l, 50) })
			if err != nil {
				m.err = err
				continue
			}
			loads[c] = l
		}
		if cfg.warmup > 0 {
			for _, c := range cfg.contenders {
				if l, ok := loads[c]; ok {
					l.dur = cfg.warmup
					if _, err := r.run(ctx, l); err != nil {
						cells[c].err = err
						delete(loads, c)
					}
				}
			}
		}
		for round := range cfg.rounds {
			for _, c := range cfg.contenders {
				l, ok := loads[c]
				if !ok {
					continue
				}
				fmt.Fprintf(os.Stderr, "loadgen: %s, round %d/%d, %s\n", sname, round+1, cfg.rounds, c)
				busy := pids[c][:1]
				if sc.nginx {
					busy = pids[c]
				}
				if err := measure(ctx, r, rdb, l, busy, cells[c]); err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					cells[c].err = err
					delete(loads, c)
				}
			}
		}
		writeScenario(out, sc, cfg, cells)
	}
	writeTargets(out, all)
	if cfg.charts != "" {
		base := filepath.Join(cfg.charts, "bench")
		if err := chart.Save(base, benchChart(cfg, r, all, start)); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "loadgen: results and chart: %s.json, %s.svg\n", base, base)
	}

	if cfg.profile != "" {
		return profileStickless(ctx, cfg, r, servers["stickless"][0], out)
	}
	return nil
}

// profileStickless takes a CPU profile of one stickless instance while it
// answers the read scenario, and prints go tool pprof -top.
func profileStickless(ctx context.Context, cfg config, r runner, addr string, out io.Writer) error {
	base := "http://" + addr
	cookie, err := setupCookie(ctx, base, 0)
	if err != nil {
		return err
	}
	secs := max(1, int(cfg.profileDur/time.Second))
	type got struct {
		b   []byte
		err error
	}
	done := make(chan got, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, secs), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- got{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != 200 {
			err = fmt.Errorf("pprof: %s", resp.Status)
		}
		done <- got{b, err}
	}()
	l := load{url: base + "/read", method: "GET", cookie: cookie, conns: cfg.conns, threads: cfg.threads, dur: time.Duration(secs+1) * time.Second}
	res, err := r.run(ctx, l)
	if err != nil {
		return err
	}
	g := <-done
	if g.err != nil {
		return g.err
	}
	if err := os.WriteFile(cfg.profile, g.b, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n## CPU profile: stickless, read scenario\n\n%d s profile of one stickless instance at %.0f req/s (%d connections); written to %s.\n\n",
		secs, res.rps(), cfg.conns, cfg.profile)
	for _, args := range [][]string{
		{"tool", "pprof", "-top", "-nodecount=40", cfg.profile},
		{"tool", "pprof", "-top", "-cum", "-nodecount=40", cfg.profile},
	} {
		cmd := execCommand(ctx, "go", args...)
		b, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("go tool pprof: %w: %s", err, b)
		}
		fmt.Fprintf(out, "```\n$ go %s\n%s```\n\n", joinArgs(args), b)
	}
	return nil
}

// contenderLabels name the contenders in the chart's legend.
var contenderLabels = map[string]string{
	"bare":            "bare net/http",
	"rawredis":        "go-redis by hand",
	"rawrueidis":      "rueidis by hand",
	"scs":             "scs",
	"gorilla":         "gorilla/sessions",
	"stickless":       "stickless",
	"stickless-cache": "stickless + client cache",
}

// tableOnly are the contenders left out of the chart: stickless with its
// values in clear, the baseline of what encryption costs, which the
// targets' table states as ratios.
var tableOnly = []string{"stickless-clear", "stickless-cache-clear"}

// benchChart returns the run's requests/s, for its chart.
func benchChart(cfg config, r runner, all map[string]map[string]*measured, start time.Time) *chart.Bench {
	b := &chart.Bench{
		Machine: machine(),
		Date:    started(start),
		Load: fmt.Sprintf("%s, %d keep-alive connections; %s per contender and scenario",
			r.name(), cfg.conns, roundsText(cfg.rounds, cfg.dur)),
		Limit: "rawrueidis",
	}
	if cfg.quick {
		b.Load = "A quick run (-quick): " + b.Load
	}
	var charted []string
	for _, c := range cfg.contenders {
		if !slices.Contains(tableOnly, c) {
			charted = append(charted, c)
		}
	}
	for _, c := range charted {
		label := contenderLabels[c]
		if label == "" {
			label = c
		}
		b.Contenders = append(b.Contenders, chart.Contender{Key: c, Label: label})
	}
	for _, name := range cfg.scenarios {
		sc := findScenario(name)
		cs := chart.Scenario{Key: sc.name, Label: sc.label, Baseline: sc.baseline}
		for _, c := range charted {
			cs.RPS = append(cs.RPS, summarize(all[name][c]).rps)
		}
		b.Scenarios = append(b.Scenarios, cs)
	}
	return b
}

// roundsText says how each cell was measured: "the median of 3 rounds of
// 5s", or "one round of 2s".
func roundsText(rounds int, d time.Duration) string {
	if rounds == 1 {
		return fmt.Sprintf("one round of %v", d)
	}
	return fmt.Sprintf("the median of %d rounds of %v", rounds, d)
}
