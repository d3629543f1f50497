package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/redis/go-redis/v9"
)

// runC10K measures logged-in reads through nginx round-robin over three
// stickless instances, at cfg.c10kBase connections and then at
// cfg.c10kConns, and prints both with the verdict: 0 errors, p99 within 3×
// of the reference p99.
func runC10K(ctx context.Context, cfg config, p *procs, r runner, redisAddr string, rdb *redis.Client, noFile uint64, out io.Writer) error {
	need := uint64(cfg.c10kConns) + 1000
	if noFile < need {
		fmt.Fprintf(os.Stderr, "loadgen: the open-file limit is %d, below the %d the load generator needs; raise it (ulimit -n) or expect connect errors\n", noFile, need)
	}
	var backends []string
	for i := range 3 {
		addr, err := p.startServer(ctx, cfg.server, "stickless", redisAddr, i+1)
		if err != nil {
			return err
		}
		backends = append(backends, addr)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	// Each nginx worker holds its share of the client connections plus as
	// many to the backends; its connection table gets what the limit allows.
	workerConns := int(min(noFile, 65535)) - 64
	if err := p.startNginx(ctx, []upstream{{Name: "u_stickless", Port: port, Backends: backends}}, cfg.c10kWork, min(noFile, 65535), workerConns); err != nil {
		return err
	}
	front := fmt.Sprintf("http://127.0.0.1:%d", port)
	cookie, err := setupCookie(ctx, front, 0)
	if err != nil {
		return err
	}
	if err := check(ctx, front+"/read", "GET", cookie, "What's up, alice?\n"); err != nil {
		return err
	}

	fmt.Fprintf(out, "# stickless C10K: logged-in reads through nginx round-robin over 3 stickless instances\n\n")
	writeMachine(out, r, redisAddr)
	fmt.Fprintf(out, "Load: %s, %d thread(s), %s per run, `GET /read` with one logged-in cookie on every connection; nginx %d worker(s), worker_connections %d, open-file limit %d (soft = hard) for the load generator, nginx and the instances.\n\n",
		r.name(), cfg.c10kThr, cfg.dur, cfg.c10kWork, workerConns, noFile)

	var res []result
	var cmds []float64
	for _, conns := range []int{cfg.c10kBase, cfg.c10kConns} {
		fmt.Fprintf(os.Stderr, "loadgen: c10k, %d connections for %s\n", conns, cfg.dur)
		m := &measured{}
		l := load{url: front + "/read", method: "GET", cookie: cookie, conns: conns, threads: cfg.c10kThr, dur: cfg.dur}
		if err := measure(ctx, r, rdb, l, m); err != nil {
			return err
		}
		res = append(res, m.rounds[0])
		c, _ := perRequest(m.calls, m.rounds[0].Requests)
		cmds = append(cmds, c)
	}
	fmt.Fprintf(out, "| connections | req/s | p50 | p99 | max | Redis cmds/req | errors (connect/read/write/status/timeout) |\n|--:|--:|--:|--:|--:|--:|---|\n")
	conns := []int{cfg.c10kBase, cfg.c10kConns}
	for i, r := range res {
		fmt.Fprintf(out, "| %d | %s | %s | %s | %s | %.2f | %d (%d/%d/%d/%d/%d) |\n", conns[i], thousands(r.rps()), ms(r.P50US), ms(r.P99US), ms(r.MaxUS),
			cmds[i], r.errors(), r.Connect, r.Read, r.Write, r.Status, r.Timeout)
	}
	base, big := res[0], res[1]
	ratio := 0.0
	if base.P99US > 0 {
		ratio = big.P99US / base.P99US
	}
	fmt.Fprintf(out, "\n| target | measured | met |\n|---|--:|---|\n")
	fmt.Fprintf(out, "| %d connections: 0 errors | %d | %s |\n", cfg.c10kConns, big.errors(), yesNo(big.errors() == 0))
	fmt.Fprintf(out, "| p99 at %d within 3× of p99 at %d | %.2f× | %s |\n", cfg.c10kConns, cfg.c10kBase, ratio, yesNo(ratio > 0 && ratio <= 3))
	fmt.Fprintf(out, "\nnginx error log: %s.\n", nginxLogSummary(filepath.Join(p.dir, "nginx", "nginx-error.log")))
	if big.errors() != 0 {
		return fmt.Errorf("%d errors at %d connections", big.errors(), cfg.c10kConns)
	}
	return nil
}

// nginxLogSummary counts the error and alert lines of nginx's log and
// quotes the first.
func nginxLogSummary(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	defer f.Close()
	n, first := 0, ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "[error]") || strings.Contains(line, "[alert]") || strings.Contains(line, "[crit]") || strings.Contains(line, "[emerg]") {
			if n == 0 {
				first = line
			}
			n++
		}
	}
	if n == 0 {
		return "no error, alert or critical line"
	}
	return fmt.Sprintf("%d error/alert lines, the first: `%s`", n, first)
}
