package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// runC10K measures logged-in reads through nginx round-robin over three
// stickless instances at cfg.c10kBase connections and at cfg.c10kConns,
// first saturated (closed loop), then paced at one offered rate, and prints
// them with the verdict: 0 errors, paced p99 within 3× of the reference.
func runC10K(ctx context.Context, cfg config, p *procs, r runner, redisAddr string, rdb *redis.Client, noFile uint64, out io.Writer) error {
	need := uint64(cfg.c10kConns) + 1000
	if noFile < need {
		fmt.Fprintf(os.Stderr, "loadgen: the open-file limit is %d, below the %d the load generator needs; raise it (ulimit -n) or expect connect errors\n", noFile, need)
	}
	var backends []string
	for i := range 3 {
		addr, _, err := p.startServer(ctx, cfg.server, "stickless", redisAddr, i+1)
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
	writeMachine(out, r, redisAddr, time.Now())
	fmt.Fprintf(out, "Load: %s, %d thread(s), %s per run, `GET /read` with one logged-in cookie on every connection; nginx %d worker(s), worker_connections %d, open-file limit %d (soft = hard) for the load generator, nginx and the instances.\n\n",
		r.name(), cfg.c10kThr, cfg.dur, cfg.c10kWork, workerConns, noFile)

	type row struct {
		label string
		conns int
		res   result
		cmds  float64
	}
	run := func(label string, conns int, pace time.Duration) (row, error) {
		fmt.Fprintf(os.Stderr, "loadgen: c10k, %s, %d connections for %s\n", label, conns, cfg.dur)
		m := &measured{}
		l := load{url: front + "/read", method: "GET", cookie: cookie, conns: conns, threads: cfg.c10kThr, dur: cfg.dur, pace: pace}
		if err := measure(ctx, r, rdb, l, nil, m); err != nil {
			return row{}, err
		}
		c, _ := perRequest(m.calls, m.rounds[0].Requests)
		return row{label, conns, m.rounds[0], c}, nil
	}
	var rows []row
	for _, conns := range []int{cfg.c10kBase, cfg.c10kConns} {
		rw, err := run("saturated", conns, 0)
		if err != nil {
			return err
		}
		rows = append(rows, rw)
	}
	rate := cfg.c10kRate
	if rate <= 0 {
		rate = max(100, int(rows[0].res.rps()/4))
	}
	for _, conns := range []int{cfg.c10kBase, cfg.c10kConns} {
		pace := time.Duration(float64(conns) / float64(rate) * float64(time.Second))
		rw, err := run(fmt.Sprintf("paced, %d req/s offered", rate), conns, pace)
		if err != nil {
			return err
		}
		rows = append(rows, rw)
	}
	fmt.Fprintf(out, "Saturated: every connection sends its next request as soon as the answer comes (closed loop, wrk's usual mode): the highest rate, and latency that grows with the connections by Little's law (latency ≈ connections ÷ rate). Paced: the same offered rate, %d req/s (a quarter of the saturated rate at %d connections unless -c10k-rate is given), spread over the connections, each waiting a random 0–2×(connections ÷ rate) before each request: what the connection count alone costs.\n\n", rate, cfg.c10kBase)
	fmt.Fprintf(out, "| load | connections | req/s | p50 | p99 | max | Redis cmds/req | errors (connect/read/write/status/timeout) |\n|---|--:|--:|--:|--:|--:|--:|---|\n")
	for _, rw := range rows {
		r := rw.res
		fmt.Fprintf(out, "| %s | %d | %s | %s | %s | %s | %.2f | %d (%d/%d/%d/%d/%d) |\n", rw.label, rw.conns, thousands(r.rps()), ms(r.P50US), ms(r.P99US), ms(r.MaxUS),
			rw.cmds, r.errors(), r.Connect, r.Read, r.Write, r.Status, r.Timeout)
	}
	ratio := func(a, b result) float64 {
		if b.P99US <= 0 {
			return 0
		}
		return a.P99US / b.P99US
	}
	satRatio, paceRatio := ratio(rows[1].res, rows[0].res), ratio(rows[3].res, rows[2].res)
	errs := rows[1].res.errors() + rows[3].res.errors()
	fmt.Fprintf(out, "\n| target | measured | met |\n|---|--:|---|\n")
	fmt.Fprintf(out, "| %d connections: 0 errors (both runs) | %d | %s |\n", cfg.c10kConns, errs, yesNo(errs == 0))
	fmt.Fprintf(out, "| paced: p99 at %d within 3× of p99 at %d | %.2f× | %s |\n", cfg.c10kConns, cfg.c10kBase, paceRatio, yesNo(paceRatio > 0 && paceRatio <= 3))
	fmt.Fprintf(out, "| saturated: p99 at %d vs p99 at %d (for information: Little's law) | %.2f× | – |\n", cfg.c10kConns, cfg.c10kBase, satRatio)
	fmt.Fprintf(out, "| saturated: req/s at %d vs at %d | %.2f× | – |\n", cfg.c10kConns, cfg.c10kBase, rows[1].res.rps()/max(1, rows[0].res.rps()))
	fmt.Fprintf(out, "\nnginx error log: %s.\n", nginxLogSummary(filepath.Join(p.dir, "nginx", "nginx-error.log")))
	if errs != 0 {
		return fmt.Errorf("%d errors at %d connections", errs, cfg.c10kConns)
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
