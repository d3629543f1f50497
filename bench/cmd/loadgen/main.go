// Command loadgen runs the side-by-side session benchmark in one go: it
// starts one redis-server (free loopback port, temporary directory, no
// persistence), three benchserver instances per contender and an nginx in
// front of them, then measures every scenario for every contender in
// interleaved rounds with wrk (or a Go load generator when wrk is missing),
// and prints markdown tables: requests/s (median of the rounds), p50 and
// p99 latency, the ratio to the scenario's baseline and the Redis commands
// per request (INFO commandstats, reset before each run). It saves the
// requests/s as -charts/bench.json and draws them beside, bench.svg
// (package chart; cmd/charts redraws it); the long-connection run saves
// streams.json and streams.svg.
//
// Usage (from the bench module):
//
//	go run ./cmd/loadgen [-quick] [-rounds 3] [-duration 5s] [-conns 64] [-threads 1]
//	                     [-contenders bare,rawredis,...] [-scenarios read,write,...]
//	                     [-profile cpu.pprof] [-charts ../docs/charts]
//	go run ./cmd/loadgen -c10k [-c10k-conns 10000] [-c10k-base 100] [-duration 20s]
//	go run ./cmd/loadgen -c10k-streams [-streams 10000] [-streams-hold 60s] [-streams-revoke 1000]
//	                     [-streams-page-rate 200] [-deploy ../deploy]
//
// Everything listens on 127.0.0.1 and stops when the run ends.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stickless/stickless/bench/contender"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// config is the parsed command line.
type config struct {
	quick      bool
	rounds     int
	dur        time.Duration
	warmup     time.Duration
	conns      int
	threads    int
	contenders []string
	scenarios  []string
	server     string
	profile    string
	profileDur time.Duration
	keep       bool
	goLoad     bool
	c10k       bool
	c10kConns  int
	c10kBase   int
	c10kThr    int
	c10kWork   int
	c10kRate   int
	streams    bool
	sc         streamsConfig
	charts     string // where the results and their charts go; "": none
}

// Run parses args, runs the benchmark and writes its report to out.
func Run(ctx context.Context, args []string, out io.Writer) error {
	var cfg config
	var contenders, scenarios string
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.BoolVar(&cfg.quick, "quick", false, "one round of 2 s per contender and scenario, no warm-up")
	fs.IntVar(&cfg.rounds, "rounds", 3, "rounds per scenario; each round runs every contender once")
	fs.DurationVar(&cfg.dur, "duration", 0, "length of one run (default 5s; 20s with -c10k)")
	fs.DurationVar(&cfg.warmup, "warmup", time.Second, "warm-up run per contender and scenario, not measured")
	fs.IntVar(&cfg.conns, "conns", 64, "keep-alive connections (wrk -c)")
	fs.IntVar(&cfg.threads, "threads", 1, "load generator threads (wrk -t)")
	fs.StringVar(&contenders, "contenders", strings.Join(contender.Names, ","), "contenders to measure, in order")
	fs.StringVar(&scenarios, "scenarios", strings.Join(scenarioNames(), ","), "scenarios to run, in order")
	fs.StringVar(&cfg.server, "server", "", "benchserver binary (default: built into the temporary directory)")
	fs.StringVar(&cfg.profile, "profile", "", "after the tables, write a CPU profile of stickless on the read scenario to this file and print go tool pprof -top")
	fs.DurationVar(&cfg.profileDur, "profile-duration", 10*time.Second, "length of the profiled run")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the temporary directory (logs, nginx.conf)")
	fs.BoolVar(&cfg.goLoad, "go", false, "use the Go load generator even when wrk is installed")
	fs.BoolVar(&cfg.c10k, "c10k", false, "run the C10K test instead: stickless x3 behind nginx, -c10k-conns connections vs -c10k-base")
	fs.IntVar(&cfg.c10kConns, "c10k-conns", 10000, "connections of the C10K run")
	fs.IntVar(&cfg.c10kBase, "c10k-base", 100, "connections of the reference run")
	fs.IntVar(&cfg.c10kThr, "c10k-threads", 2, "wrk threads of the C10K runs")
	fs.IntVar(&cfg.c10kRate, "c10k-rate", 0, "offered req/s of the paced C10K runs (default: a quarter of the saturated rate at -c10k-base)")
	fs.IntVar(&cfg.c10kWork, "c10k-nginx-workers", 2, "nginx worker processes of the C10K run")
	fs.BoolVar(&cfg.streams, "c10k-streams", false, "run the long-connection run instead: -streams event streams through nginx over 3 whatsup instances, held, then some users revoked")
	fs.IntVar(&cfg.sc.streams, "streams", 10000, "concurrent event streams of the long-connection run, one user each")
	fs.DurationVar(&cfg.sc.hold, "streams-hold", 60*time.Second, "how long the streams are held before the revoke")
	fs.IntVar(&cfg.sc.revoke, "streams-revoke", 1000, "users logged out everywhere after the hold")
	fs.IntVar(&cfg.sc.pageRate, "streams-page-rate", 200, "GET / per second sent through nginx without streams and during the hold")
	fs.IntVar(&cfg.sc.openRate, "streams-open-rate", 1000, "streams opened per second")
	fs.IntVar(&cfg.sc.workers, "streams-nginx-workers", 4, "nginx worker processes of the long-connection run")
	fs.StringVar(&cfg.charts, "charts", "../docs/charts", "`dir`ectory for the results and their charts: bench.json and bench.svg, or streams.json and streams.svg with -c10k-streams; empty: none")
	fs.StringVar(&cfg.sc.deployDir, "deploy", "../deploy", "the repository's deploy directory (nginx.conf; cmd/whatsup is built from its sibling)")
	fs.DurationVar(&cfg.sc.endTimeout, "streams-end-timeout", 15*time.Second, "how long to wait for the revoked streams to end")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.contenders = splitList(contenders)
	cfg.scenarios = splitList(scenarios)
	for _, c := range cfg.contenders {
		if !slices.Contains(contender.Names, c) {
			return fmt.Errorf("unknown contender %q (want some of %s)", c, strings.Join(contender.Names, ","))
		}
	}
	for _, s := range cfg.scenarios {
		if findScenario(s) == nil {
			return fmt.Errorf("unknown scenario %q (want some of %s)", s, strings.Join(scenarioNames(), ","))
		}
	}
	if cfg.quick {
		cfg.rounds, cfg.warmup = 1, 0
		if cfg.dur == 0 {
			cfg.dur = 2 * time.Second
		}
		cfg.profileDur = min(cfg.profileDur, 4*time.Second)
	}
	if cfg.dur == 0 {
		cfg.dur = 5 * time.Second
		if cfg.c10k {
			cfg.dur = 20 * time.Second
		}
	}
	if cfg.rounds < 1 || cfg.conns < 1 || cfg.dur < time.Second {
		return errors.New("-rounds and -conns must be positive and -duration at least 1s")
	}

	dir, err := os.MkdirTemp("", "stickless-bench-")
	if err != nil {
		return err
	}
	if cfg.keep {
		fmt.Fprintln(os.Stderr, "loadgen: keeping", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	p := &procs{dir: dir}
	defer p.stopAll()

	if cfg.server == "" && !cfg.streams {
		cfg.server = filepath.Join(dir, "benchserver")
		build := exec.CommandContext(ctx, "go", "build", "-o", cfg.server, "github.com/stickless/stickless/bench/cmd/benchserver")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building benchserver (run loadgen from the bench module): %w", err)
		}
	}
	var r runner = goRunner{}
	if !cfg.goLoad {
		if w, err := newWrkRunner(dir); err == nil {
			r = w
		} else {
			fmt.Fprintln(os.Stderr, "loadgen: wrk not found (Debian package wrk); using the Go load generator")
		}
	}
	noFile, err := raiseNoFile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen: could not raise the open-file limit:", err)
	}
	redisAddr, rdb, err := p.startRedis(ctx)
	if err != nil {
		return err
	}
	defer rdb.Close()
	if cfg.streams {
		return runStreams(ctx, cfg.sc, cfg.charts, p, redisAddr, rdb, noFile, out)
	}
	if cfg.c10k {
		return runC10K(ctx, cfg, p, r, redisAddr, rdb, noFile, out)
	}
	return runBench(ctx, cfg, p, r, redisAddr, rdb, noFile, out)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// scenario is one row group of the report.
type scenario struct {
	name     string
	title    string
	label    string // under its group of bars in the chart
	method   string
	path     string
	cookie   string // "valid", "forged" or "none"
	keys     int    // keys of 100 bytes the setup stores
	baseline string
	nginx    bool // through nginx round-robin over three instances
	body     func(c string) string
}

func greeting(c, extra, extraBare string) string {
	if c == "bare" {
		return "What's up, stranger?" + extraBare + "\n"
	}
	return "What's up, alice?" + extra + "\n"
}

var scenarios = []scenario{
	{name: "read", title: "(1) read a logged-in session", label: "read a\nlogged-in session", method: "GET", path: "/read", cookie: "valid", baseline: "rawrueidis",
		body: func(c string) string { return greeting(c, "", "") }},
	{name: "write", title: "(2) write one key", label: "write\none key", method: "POST", path: "/write", cookie: "valid", baseline: "rawrueidis",
		body: func(c string) string { return greeting(c, "", "") }},
	{name: "forged", title: "(3) forged cookie", label: "forged\ncookie", method: "GET", path: "/read", cookie: "forged", baseline: "bare",
		body: func(string) string { return "What's up, stranger?\n" }},
	{name: "nocookie", title: "(4) no cookie", label: "no\ncookie", method: "GET", path: "/read", cookie: "none", baseline: "bare",
		body: func(string) string { return "What's up, stranger?\n" }},
	{name: "read10", title: "(5) read 10 keys of 100 bytes", label: "read 10 keys\nof 100 B", method: "GET", path: "/read10", cookie: "valid", keys: 10, baseline: "rawrueidis",
		body: func(c string) string { return greeting(c, " 10 keys, 1000 bytes", " 0 keys, 0 bytes") }},
	{name: "nginx", title: "(6) read through nginx round-robin over 3 instances", label: "read via nginx\nover 3 instances", method: "GET", path: "/read", cookie: "valid", baseline: "rawrueidis", nginx: true,
		body: func(c string) string { return greeting(c, "", "") }},
}

func scenarioNames() []string {
	var out []string
	for _, s := range scenarios {
		out = append(out, s.name)
	}
	return out
}

func findScenario(name string) *scenario {
	for i := range scenarios {
		if scenarios[i].name == name {
			return &scenarios[i]
		}
	}
	return nil
}

// setupCookie logs in through base (POST /setup) and returns the Cookie
// header that carries the new session.
func setupCookie(ctx context.Context, base string, keys int) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/setup?keys="+strconv.Itoa(keys), nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("POST %s/setup: %s: %s", base, resp.Status, strings.TrimSpace(string(b)))
	}
	return contender.CookieHeader(resp), nil
}

// forge changes one character of the cookie's value, a quarter of the way
// in (inside the token of every contender's format), so that it keeps its
// shape but is no longer valid. A contender without a cookie gets a
// garbage one of the usual size.
func forge(cookie string) string {
	if cookie == "" {
		return "session=" + strings.Repeat("A", 87)
	}
	name, value, _ := strings.Cut(cookie, "=")
	i := len(value) / 4
	c := byte('0')
	if value[i] == '0' {
		c = '1'
	}
	return name + "=" + value[:i] + string(c) + value[i+1:]
}

// check sends one request as the load will and compares the answer.
func check(ctx context.Context, url, method, cookie, want string) error {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return err
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != want {
		return fmt.Errorf("%s %s: got %s %q, want 200 %q", method, url, resp.Status, b, want)
	}
	return nil
}

// measured is one (scenario, contender) cell: its rounds and the Redis
// commands they sent.
type measured struct {
	rounds []result
	calls  map[string]int64 // INFO commandstats over the rounds
	sent   sent             // MONITOR over a few sequential requests
	appCPU time.Duration    // CPU time of the contender's instances over the rounds
	rdsCPU time.Duration    // CPU time of redis-server over the rounds
	err    error
}

// sequential sends n requests of l one after the other and checks each
// answers 200.
func sequential(ctx context.Context, l load, n int) (int, error) {
	for i := range n {
		req, err := http.NewRequestWithContext(ctx, l.method, l.url, nil)
		if err != nil {
			return i, err
		}
		if l.cookie != "" {
			req.Header.Set("Cookie", l.cookie)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return i, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return i, fmt.Errorf("%s %s: %s", l.method, l.url, resp.Status)
		}
	}
	return n, nil
}

// measure runs l once, resetting and reading the Redis command counts
// and the CPU time of Redis and of the processes pids around it.
func measure(ctx context.Context, r runner, rdb *redis.Client, l load, pids []int, m *measured) error {
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		return err
	}
	app0, rds0 := pidsCPU(pids), redisCPU(ctx, rdb)
	res, err := r.run(ctx, l)
	if err != nil {
		return err
	}
	m.appCPU += pidsCPU(pids) - app0
	m.rdsCPU += redisCPU(ctx, rdb) - rds0
	calls, err := commandStats(ctx, rdb)
	if err != nil {
		return err
	}
	if m.calls == nil {
		m.calls = map[string]int64{}
	}
	for k, v := range calls {
		m.calls[k] += v
	}
	m.rounds = append(m.rounds, res)
	return nil
}
