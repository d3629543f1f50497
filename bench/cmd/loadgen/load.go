package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// load describes one measured run: conns keep-alive connections sending
// method url with cookie, for dur.
type load struct {
	url     string
	method  string
	cookie  string // the Cookie header; "" sends none
	conns   int
	threads int
	dur     time.Duration
	pace    time.Duration // > 0: each connection waits a random 0..2×pace before each request (open loop)
}

// result is what one run measured.
type result struct {
	Requests int64         `json:"requests"`
	Duration time.Duration `json:"-"`
	DurUS    int64         `json:"duration_us"`
	Connect  int64         `json:"connect"`
	Read     int64         `json:"read"`
	Write    int64         `json:"write"`
	Status   int64         `json:"status"` // non-2xx/3xx answers
	Timeout  int64         `json:"timeout"`
	P50US    float64       `json:"p50_us"`
	P99US    float64       `json:"p99_us"`
	MaxUS    float64       `json:"max_us"`
}

func (r result) rps() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Duration.Seconds()
}

func (r result) errors() int64 { return r.Connect + r.Read + r.Write + r.Status + r.Timeout }

// runner sends the load of one run.
type runner interface {
	run(ctx context.Context, l load) (result, error)
	name() string
}

// wrkLua makes wrk send the method and cookie given in its environment and
// print its summary as one JSON line, with exact percentiles.
const wrkLua = `
wrk.method = os.getenv("BENCH_METHOD") or "GET"
local cookie = os.getenv("BENCH_COOKIE")
if cookie ~= nil and cookie ~= "" then
	wrk.headers["Cookie"] = cookie
end

local pace = tonumber(os.getenv("BENCH_PACE_MS") or "0")
if pace > 0 then
	math.randomseed(os.time() + math.floor(os.clock() * 1000000))
	-- a random wait before each request, the first included, so that the
	-- connections do not march in step
	function delay()
		return math.random(0, 2 * pace)
	end
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format('BENCHJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%.1f,"p99_us":%.1f,"max_us":%.1f}\n',
		summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
		latency:percentile(50), latency:percentile(99), latency.max))
end
`

// wrkRunner drives the load with wrk (Debian package wrk).
type wrkRunner struct {
	bin    string
	script string
}

func newWrkRunner(dir string) (*wrkRunner, error) {
	bin, err := exec.LookPath("wrk")
	if err != nil {
		return nil, err
	}
	script := filepath.Join(dir, "bench.lua")
	if err := os.WriteFile(script, []byte(wrkLua), 0o644); err != nil {
		return nil, err
	}
	return &wrkRunner{bin: bin, script: script}, nil
}

func (w *wrkRunner) name() string { return "wrk" }

func (w *wrkRunner) run(ctx context.Context, l load) (result, error) {
	secs := max(1, int(l.dur.Round(time.Second)/time.Second))
	threads := max(1, min(l.threads, l.conns))
	cmd := exec.CommandContext(ctx, w.bin, "-t", strconv.Itoa(threads), "-c", strconv.Itoa(l.conns),
		"-d", strconv.Itoa(secs)+"s", "--timeout", "10s", "-s", w.script, l.url)
	cmd.Env = append(os.Environ(), "BENCH_METHOD="+l.method, "BENCH_COOKIE="+l.cookie,
		"BENCH_PACE_MS="+strconv.FormatInt(l.pace.Milliseconds(), 10))
	cmd.SysProcAttr = procAttr()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("wrk: %w: %s", err, strings.TrimSpace(errb.String()))
	}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		if js, ok := strings.CutPrefix(sc.Text(), "BENCHJSON "); ok {
			var r result
			if err := json.Unmarshal([]byte(js), &r); err != nil {
				return result{}, fmt.Errorf("wrk summary %q: %w", js, err)
			}
			r.Duration = time.Duration(r.DurUS) * time.Microsecond
			return r, nil
		}
	}
	return result{}, fmt.Errorf("wrk printed no summary: %s %s", out.String(), errb.String())
}

// goRunner is the fallback when wrk is missing: one goroutine per
// connection, each on its own keep-alive connection, closed loop.
type goRunner struct{}

func (goRunner) name() string { return "Go load generator (wrk not found)" }

func (goRunner) run(ctx context.Context, l load) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, l.dur)
	defer cancel()
	var (
		mu    sync.Mutex
		lats  []time.Duration
		res   result
		wg    sync.WaitGroup
		start = time.Now()
	)
	for range l.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{
				MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1, DisableCompression: true,
				DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			var mine []time.Duration
			var r result
			for ctx.Err() == nil {
				if l.pace > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(rand.N(2*l.pace + 1)):
					}
					if ctx.Err() != nil {
						break
					}
				}
				req, _ := http.NewRequestWithContext(context.WithoutCancel(ctx), l.method, l.url, nil)
				if l.cookie != "" {
					req.Header.Set("Cookie", l.cookie)
				}
				t := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					r.Read++
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mine = append(mine, time.Since(t))
				r.Requests++
				if resp.StatusCode >= 400 {
					r.Status++
				}
			}
			mu.Lock()
			lats = append(lats, mine...)
			res.Requests += r.Requests
			res.Read += r.Read
			res.Status += r.Status
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Duration = time.Since(start)
	slices.Sort(lats)
	pct := func(p float64) float64 {
		if len(lats) == 0 {
			return 0
		}
		i := min(len(lats)-1, int(p/100*float64(len(lats))))
		return float64(lats[i].Microseconds())
	}
	res.P50US, res.P99US, res.MaxUS = pct(50), pct(99), pct(100)
	return res, nil
}
