package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

func execCommand(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, name, args...)
}

func joinArgs(args []string) string { return strings.Join(args, " ") }

// firstLine runs name args and returns the first line of its output.
func firstLine(name string, args ...string) string {
	b, err := exec.Command(name, args...).CombinedOutput()
	if err != nil && len(b) == 0 {
		return "?"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return line
}

// machine describes the machine the numbers depend on: CPU model, CPUs,
// kernel.
func machine() string {
	cpu := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return fmt.Sprintf("%s, %d CPUs, Linux %s", cpu, runtime.NumCPU(), strings.TrimSpace(string(kernel)))
}

// started formats the time a run started, as the reports and charts give it.
func started(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// writeMachine prints what the numbers depend on.
func writeMachine(out io.Writer, r runner, redisAddr string, start time.Time) {
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(out, "Machine: %s; load average before the run %s.\n",
		machine(), strings.Join(strings.Fields(string(load))[:min(3, len(strings.Fields(string(load))))], " "))
	fmt.Fprintf(out, "Software: %s; %s; %s; %s. Started %s.\n\n",
		runtime.Version(), firstLine("redis-server", "--version"), firstLine("nginx", "-v"), firstLine("wrk", "-v"), started(start))
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// summary is one cell reduced to the figures of the table.
type summary struct {
	ok         bool
	rps        float64
	p50, p99   float64 // microseconds
	cmds       float64 // executed per request under load, scripts' insides included
	sentReq    float64 // sent per request (MONITOR)
	sentDetail string
	errors     int64
	appCPU     string // µs per request
	rdsCPU     string
	rdsUS      float64 // Redis CPU µs per request, 0 when unknown
	err        error
}

func summarize(m *measured) summary {
	if m == nil {
		return summary{}
	}
	if len(m.rounds) == 0 {
		return summary{err: m.err}
	}
	var rps, p50, p99 []float64
	var reqs, errs int64
	for _, r := range m.rounds {
		rps = append(rps, r.rps())
		p50 = append(p50, r.P50US)
		p99 = append(p99, r.P99US)
		reqs += r.Requests
		errs += r.errors()
	}
	cmds, _ := perRequest(m.calls, reqs)
	sentReq, sentDetail := m.sent.describe()
	s := summary{ok: true, rps: median(rps), p50: median(p50), p99: median(p99), cmds: cmds,
		sentReq: sentReq, sentDetail: sentDetail, errors: errs, err: m.err,
		appCPU: usPerReq(m.appCPU, reqs), rdsCPU: usPerReq(m.rdsCPU, reqs)}
	if reqs > 0 {
		s.rdsUS = float64(m.rdsCPU.Microseconds()) / float64(reqs)
	}
	return s
}

func thousands(f float64) string {
	s := strconv.FormatInt(int64(f+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func ms(us float64) string {
	switch {
	case us >= 100000:
		return strconv.FormatFloat(us/1000, 'f', 0, 64) + " ms"
	case us >= 10000:
		return strconv.FormatFloat(us/1000, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(us/1000, 'f', 2, 64) + " ms"
}

// writeScenario prints the table of one scenario.
func writeScenario(out io.Writer, sc *scenario, cfg config, cells map[string]*measured) {
	how := "direct to one instance"
	if sc.nginx {
		how = "nginx round-robin over 3 instances of each contender"
	}
	cookie := map[string]string{"valid": "logged-in cookie", "forged": "forged cookie (one character changed)", "none": "no cookie"}[sc.cookie]
	fmt.Fprintf(out, "## %s\n\n`%s %s`, %s, %s; baseline %s.\n\n", sc.title, sc.method, sc.path, cookie, how, sc.baseline)
	fmt.Fprintf(out, "| contender | req/s | p50 | p99 | vs %s | app CPU µs/req | Redis CPU µs/req | Redis cmds sent/req | which (MONITOR) | executed/req | errors |\n", sc.baseline)
	fmt.Fprintf(out, "|---|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|\n")
	base := summarize(cells[sc.baseline])
	for _, c := range cfg.contenders {
		s := summarize(cells[c])
		if !s.ok {
			fmt.Fprintf(out, "| %s | failed: %v | | | | | | | | | |\n", c, s.err)
			continue
		}
		ratio := "–"
		if base.ok && base.rps > 0 {
			ratio = strconv.FormatFloat(s.rps/base.rps, 'f', 2, 64) + "×"
		}
		errs := strconv.FormatInt(s.errors, 10)
		if s.err != nil {
			errs += fmt.Sprintf(" (then failed: %v)", s.err)
		}
		fmt.Fprintf(out, "| %s | %s | %s | %s | %s | %s | %s | %.2f | %s | %.2f | %s |\n", c, thousands(s.rps), ms(s.p50), ms(s.p99), ratio,
			s.appCPU, s.rdsCPU, s.sentReq, s.sentDetail, s.cmds, errs)
	}
	fmt.Fprintln(out)
}

// writeTargets prints the targets with the ratios of this run.
func writeTargets(out io.Writer, all map[string]map[string]*measured) {
	get := func(sc, c string) summary { return summarize(all[sc][c]) }
	type target struct {
		label      string
		sc, c, ref string
		min        float64
	}
	targets := []target{
		{"read: stickless ≥ 0.95× rawrueidis", "read", "stickless", "rawrueidis", 0.95},
		{"read: stickless ≥ 2× scs", "read", "stickless", "scs", 2},
		{"cached read (client-side cache on, unchanged session): stickless-cache ≥ 0.9× bare", "read", "stickless-cache", "bare", 0.9},
		{"write: stickless ≥ 0.9× rawrueidis", "write", "stickless", "rawrueidis", 0.9},
		{"write: stickless ≥ 2× scs", "write", "stickless", "scs", 2},
		{"forged cookie: stickless ≥ 0.95× bare", "forged", "stickless", "bare", 0.95},
		{"encryption, read: stickless ≥ 0.95× stickless-clear", "read", "stickless", "stickless-clear", 0.95},
		{"encryption, write: stickless ≥ 0.95× stickless-clear", "write", "stickless", "stickless-clear", 0.95},
		{"encryption, cached read: stickless-cache ≥ 0.95× stickless-cache-clear", "read", "stickless-cache", "stickless-cache-clear", 0.95},
		{"encryption, read of 10 keys: stickless ≥ 0.95× stickless-clear", "read10", "stickless", "stickless-clear", 0.95},
	}
	fmt.Fprintf(out, "## Targets (ratios of this run)\n\n| target | measured | met |\n|---|--:|---|\n")
	for _, t := range targets {
		a, b := get(t.sc, t.c), get(t.sc, t.ref)
		if !a.ok || !b.ok || b.rps == 0 {
			continue
		}
		r := a.rps / b.rps
		fmt.Fprintf(out, "| %s | %.2f× | %s |\n", t.label, r, yesNo(r >= t.min))
	}
	if r := get("read", "stickless"); r.ok {
		fmt.Fprintf(out, "| read: 1 Redis command | %.3f executed/req under load (a slide is due about once per touch throttle) | %s |\n",
			r.cmds, yesNo(r.cmds < 1.05))
	}
	if w, raw := get("write", "stickless"), get("write", "rawrueidis"); w.ok {
		fmt.Fprintf(out, "| write: at most 4 Redis commands, script insides included | %.2f executed/req under load | %s |\n", w.cmds, yesNo(w.cmds <= 4.05))
		if raw.ok && raw.rdsUS > 0 && w.rdsUS > 0 {
			fmt.Fprintf(out, "| write: Redis CPU per write ≤ 1.5× rawrueidis | %.1f / %.1f µs = %.2f× | %s |\n",
				w.rdsUS, raw.rdsUS, w.rdsUS/raw.rdsUS, yesNo(w.rdsUS <= 1.5*raw.rdsUS))
		}
	}
	if f := get("forged", "stickless"); f.ok {
		fmt.Fprintf(out, "| forged cookie: stickless sends 0 Redis commands | %.3f sent/req (MONITOR), %.4f executed/req under load | %s |\n",
			f.sentReq, f.cmds, yesNo(f.sentReq == 0 && f.cmds < 0.0005))
	}
	if c := get("read", "stickless-cache"); c.ok {
		// The MONITOR requests come first and fill the cache once. Under
		// load, what remains is rueidis's keepalive PING.
		fmt.Fprintf(out, "| client-side cache on: unchanged reads send Redis (almost) nothing, < 0.01 executed/req | %.3f sent/req (MONITOR, first fill included), %.4f executed/req under load | %s |\n",
			c.sentReq, c.cmds, yesNo(c.cmds < 0.01))
	}
	fmt.Fprintln(out)
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}
