package main

// The long-connection run (-c10k-streams, part of make c10k): -streams
// concurrent server-sent event streams (GET /api/events) of logged-in
// users, through nginx with the shipped deploy/nginx.conf over three
// cmd/whatsup instances on one Redis, held for -streams-hold; then
// -streams-revoke of those users are logged out everywhere. It reports
// what issue 11 asks: streams dropped before the revoke, revoked streams
// ended and how fast, streams wrongly ended, Redis commands per second
// during the hold, instance RSS per held stream, and the p99 of ordinary
// page requests served meanwhile (against the same load without streams).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stickless/stickless/bench/chart"
)

// streamsConfig is the command line of the long-connection run.
type streamsConfig struct {
	streams    int           // concurrent streams, one user each
	hold       time.Duration // how long they are held before the revoke
	revoke     int           // users logged out everywhere after the hold
	pageRate   int           // GET / per second during the baseline and the hold
	workers    int           // nginx worker processes
	deployDir  string        // where nginx.conf is
	openRate   int           // streams opened per second
	endTimeout time.Duration // how long to wait for the revoked streams to end
}

// stream is one held event stream, seen from the client.
type stream struct {
	user int
	mu   sync.Mutex
	inst string    // the instance of its first tick
	end  time.Time // when it ended; zero while open
	how  string    // "end" (event: end), or why it closed without one
}

func (s *stream) ended(how string) {
	s.mu.Lock()
	if s.end.IsZero() {
		s.end, s.how = time.Now(), how
	}
	s.mu.Unlock()
}

func (s *stream) state() (inst string, end time.Time, how string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inst, s.end, s.how
}

// loopbackIP returns the n-th client address in 127.1.0.0/16: each stream
// comes from an address of its own, as 10,000 browsers would, so that
// nginx's per-address limits (limit_conn) see one connection per user, and
// no source address runs out of ephemeral ports.
func loopbackIP(base byte, n int) net.IP {
	return net.IPv4(127, base, byte(n/250), byte(n%250+1))
}

// siteMain is the main context around the rendered deploy/nginx.conf for
// this run: enough workers and connections for the streams (each stream is
// two connections in nginx: the client's and the upstream's), no access log.
var siteMain = template.Must(template.New("main").Parse(`# rendered by stickless bench/cmd/loadgen -c10k-streams
daemon off;
worker_processes {{.Workers}};
worker_rlimit_nofile {{.NoFile}};
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/nginx-error.log warn;
events {
	worker_connections {{.Conns}};
}
http {
	access_log off;
	default_type application/octet-stream;
	client_body_temp_path {{.Dir}}/body;
	proxy_temp_path {{.Dir}}/proxy;
	fastcgi_temp_path {{.Dir}}/fastcgi;
	uwsgi_temp_path {{.Dir}}/uwsgi;
	scgi_temp_path {{.Dir}}/scgi;
	include {{.Site}};
}
`))

// renderSite fills the markers of deploy/nginx.conf on every line that is
// not a comment, as deploy/cluster.sh and e2e/ do, and fails on a marker
// it does not know.
func renderSite(src, dst string, markers map[string]string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	lines := strings.Split(string(b), "\n")
	for i, line := range lines {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for k, v := range markers {
			line = strings.ReplaceAll(line, k, v)
		}
		if strings.Contains(line, "@") {
			return fmt.Errorf("%s:%d: unknown marker: %s", src, i+1, strings.TrimSpace(line))
		}
		lines[i] = line
	}
	return os.WriteFile(dst, []byte(strings.Join(lines, "\n")), 0o644)
}

// rssBytes returns the resident set size of pid (VmRSS), 0 when unknown.
func rssBytes(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// pageLoad sends GET / with the cookies in turn, paced at rate per second
// through front, until ctx is done, and returns the latencies of the 200s
// with the right body and the count of other answers.
func pageLoad(ctx context.Context, front string, cookies []string, rate int) (lats []time.Duration, bad int64) {
	var n atomic.Int64
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: loopbackIP(2, int(n.Add(1)%5000))}}
		return d.DialContext(ctx, network, addr)
	}
	tr := &http.Transport{DialContext: dial, MaxIdleConnsPerHost: 64, DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var mu sync.Mutex
	var wg sync.WaitGroup
	t := time.NewTicker(time.Second / time.Duration(rate))
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			wg.Wait()
			return lats, bad
		case <-t.C:
		}
		cookie := cookies[i%len(cookies)]
		wg.Go(func() {
			req, _ := http.NewRequest("GET", front+"/", nil)
			req.Header.Set("Cookie", cookie)
			start := time.Now()
			resp, err := hc.Do(req)
			ok := false
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				ok = resp.StatusCode == 200 && bytes.Contains(body, []byte("What&#39;s up"))
			}
			d := time.Since(start)
			mu.Lock()
			if ok {
				lats = append(lats, d)
			} else {
				bad++
			}
			mu.Unlock()
		})
	}
}

func percentile(lats []time.Duration, p float64) time.Duration {
	if len(lats) == 0 {
		return 0
	}
	s := slices.Clone(lats)
	slices.Sort(s)
	return s[min(len(s)-1, int(p/100*float64(len(s))))]
}

// login logs user in on base directly (not through nginx, whose login
// rate limit is not what this run measures) and returns the Cookie header.
func login(ctx context.Context, hc *http.Client, base, user string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/login", strings.NewReader(url.Values{"name": {user}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return "", fmt.Errorf("POST %s/login: %s", base, resp.Status)
	}
	for _, c := range resp.Cookies() {
		if c.Value != "" {
			return c.Name + "=" + c.Value, nil
		}
	}
	return "", fmt.Errorf("POST %s/login: no cookie", base)
}

// hold opens one stream through frontAddr and reads it until it ends; the
// first tick records the instance. opened is signalled once, with the
// error of the opening if any.
func (s *stream) hold(ctx context.Context, frontAddr, cookie string, ip net.IP, opened chan<- error) {
	signal := func(err error) { // the first call counts: opened has room for one
		select {
		case opened <- err:
		default:
		}
	}
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: ip}}
	c, err := d.DialContext(ctx, "tcp", frontAddr)
	if err != nil {
		s.ended("dial: " + err.Error())
		signal(err)
		return
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	fmt.Fprintf(c, "GET /api/events HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\nAccept: text/event-stream\r\nUser-Agent: loadgen-streams\r\n\r\n", frontAddr, cookie)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReaderSize(c, 1024)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		s.ended("response: " + err.Error())
		signal(err)
		return
	}
	if resp.StatusCode != 200 {
		s.ended("status " + resp.Status)
		signal(fmt.Errorf("GET /api/events: %s", resp.Status))
		return
	}
	body := bufio.NewReaderSize(resp.Body, 512)
	event := ""
	for {
		// Ticks come every 5 s, heartbeats every 15 s: 30 s of silence
		// means the stream is stuck.
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		line, err := body.ReadSlice('\n')
		if err != nil {
			if ctx.Err() != nil {
				return // the run is over: not an end of the stream
			}
			s.ended("closed without end: " + err.Error())
			signal(err)
			return
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case bytes.HasPrefix(line, []byte("event: ")):
			event = string(line[len("event: "):])
			if event == "end" {
				s.ended("end")
				return
			}
		case bytes.HasPrefix(line, []byte("data: ")) && event == "tick":
			s.mu.Lock()
			first := s.inst == ""
			if first {
				var t struct {
					Instance string `json:"instance"`
				}
				json.Unmarshal(line[len("data: "):], &t)
				s.inst = t.Instance
			}
			s.mu.Unlock()
			if first {
				signal(nil)
			}
		case len(line) == 0:
			event = ""
		}
	}
}

// runStreams is the long-connection run.
func runStreams(ctx context.Context, sc streamsConfig, charts string, p *procs, redisAddr string, rdb *redis.Client, noFile uint64, out io.Writer) error {
	start := time.Now()
	if need := uint64(sc.streams) + 1000; noFile < need {
		return fmt.Errorf("the open-file limit is %d, below the %d this run needs: raise the hard limit (ulimit -Hn) or lower -streams", noFile, need)
	}
	if sc.revoke > sc.streams {
		return errors.New("-streams-revoke must not exceed -streams")
	}
	// The demo app, its static files and the shared signing key.
	bin := filepath.Join(p.dir, "whatsup")
	// cmd/whatsup is a module of its own, next to deploy/.
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Dir = filepath.Join(sc.deployDir, "..", "cmd", "whatsup")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building cmd/whatsup in %s: %w", build.Dir, err)
	}
	staticRoot := filepath.Join(p.dir, "static")
	if b, err := exec.Command(bin, "-write-static", staticRoot).CombinedOutput(); err != nil {
		return fmt.Errorf("whatsup -write-static: %v: %s", err, b)
	}
	key := make([]byte, 32)
	rand.Read(key)
	secrets := filepath.Join(p.dir, "secrets")
	if err := os.WriteFile(secrets, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		return err
	}
	var backends []string
	var pids []int
	for i := 1; i <= 3; i++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		cmd, err := p.start(fmt.Sprintf("whatsup-i%d", i), bin, "-addr", addr, "-instance", fmt.Sprintf("i%d", i),
			"-redis", "redis://"+redisAddr+"/0", "-secrets-file", secrets, "-insecure-cookie")
		if err != nil {
			return err
		}
		err = waitFor(ctx, 15*time.Second, func() error {
			resp, err := http.Get("http://" + addr + "/healthz")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("whatsup i%d did not start: %w (see %s)", i, err, p.dir)
		}
		backends = append(backends, addr)
		pids = append(pids, cmd.Pid())
	}

	// nginx with the shipped site configuration, listening with reuseport
	// so that the kernel spreads the clients over the workers.
	port, err := freePort()
	if err != nil {
		return err
	}
	frontAddr := "127.0.0.1:" + strconv.Itoa(port)
	front := "http://" + frontAddr
	ndir := filepath.Join(p.dir, "nginx")
	if err := os.MkdirAll(ndir, 0o755); err != nil {
		return err
	}
	var servers []string
	for _, b := range backends {
		servers = append(servers, "server "+b+" max_fails=1 fail_timeout=10s;")
	}
	site := filepath.Join(ndir, "site.conf")
	err = renderSite(filepath.Join(sc.deployDir, "nginx.conf"), site, map[string]string{
		"@LISTEN@":           frontAddr + " reuseport backlog=16384",
		"@UPSTREAM_SERVERS@": strings.Join(servers, "\n    "),
		"@STATIC_ROOT@":      staticRoot,
	})
	if err != nil {
		return err
	}
	workerConns := int(min(noFile, 65535)) - 64
	var b strings.Builder
	siteMain.Execute(&b, map[string]any{"Dir": ndir, "Workers": sc.workers, "NoFile": min(noFile, 65535), "Conns": workerConns, "Site": site})
	conf := filepath.Join(ndir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		return err
	}
	nginxBin, err := exec.LookPath("nginx")
	if err != nil {
		nginxBin = "/usr/sbin/nginx"
	}
	if _, err := p.start("nginx", nginxBin, "-e", filepath.Join(ndir, "nginx-error.log"), "-p", ndir, "-c", conf); err != nil {
		return err
	}
	if err := waitFor(ctx, 10*time.Second, func() error {
		resp, err := http.Get(front + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}); err != nil {
		return fmt.Errorf("nginx did not answer on %s: %w (see %s)", front, err, ndir)
	}

	// Log in every user, on the instances directly, 64 at a time.
	const pageUsers = 100
	fmt.Fprintf(os.Stderr, "loadgen: streams: logging in %d users\n", sc.streams+pageUsers)
	cookies := make([]string, sc.streams+pageUsers)
	{
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		next := make(chan int)
		var wg sync.WaitGroup
		var firstErr atomic.Value
		for range 64 {
			wg.Go(func() {
				for i := range next {
					c, err := login(ctx, hc, "http://"+backends[i%3], fmt.Sprintf("user%05d", i))
					if err != nil {
						firstErr.CompareAndSwap(nil, err)
						continue
					}
					cookies[i] = c
				}
			})
		}
		for i := range cookies {
			next <- i
		}
		close(next)
		wg.Wait()
		if err, _ := firstErr.Load().(error); err != nil {
			return fmt.Errorf("login: %w", err)
		}
	}
	pageCookies := cookies[sc.streams:]

	// The page load without streams: the reference p99.
	measureFor := min(sc.hold, 20*time.Second)
	fmt.Fprintf(os.Stderr, "loadgen: streams: %d GET / per second for %v without streams\n", sc.pageRate, measureFor)
	pctx, pcancel := context.WithTimeout(ctx, measureFor)
	baseLats, baseBad := pageLoad(pctx, front, pageCookies, sc.pageRate)
	pcancel()

	rssBefore := int64(0)
	for _, pid := range pids {
		rssBefore += rssBytes(pid)
	}

	// Open the streams, sc.openRate per second.
	fmt.Fprintf(os.Stderr, "loadgen: streams: opening %d streams through nginx\n", sc.streams)
	sctx, scancel := context.WithCancel(ctx)
	defer scancel()
	streams := make([]*stream, sc.streams)
	var openErrs atomic.Int64
	var firstOpenErr atomic.Value
	{
		t := time.NewTicker(time.Second / time.Duration(sc.openRate))
		var wg sync.WaitGroup
		for i := range streams {
			<-t.C
			s := &stream{user: i}
			streams[i] = s
			opened := make(chan error, 1)
			go s.hold(sctx, frontAddr, cookies[i], loopbackIP(1, i), opened)
			wg.Go(func() {
				select {
				case err := <-opened:
					if err != nil {
						openErrs.Add(1)
						firstOpenErr.CompareAndSwap(nil, err)
					}
				case <-time.After(30 * time.Second):
					openErrs.Add(1)
					firstOpenErr.CompareAndSwap(nil, errors.New("no first tick within 30 s"))
				}
			})
		}
		t.Stop()
		wg.Wait()
	}
	if n := openErrs.Load(); n > 0 {
		err, _ := firstOpenErr.Load().(error)
		fmt.Fprintf(os.Stderr, "loadgen: streams: %d streams failed to open; the first: %v\n", n, err)
	}

	// The hold: page load meanwhile, Redis command counts, CPU and RSS.
	fmt.Fprintf(os.Stderr, "loadgen: streams: holding them for %v\n", sc.hold)
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		return err
	}
	holdStart := time.Now()
	app0, rds0 := pidsCPU(pids), redisCPU(ctx, rdb)
	hctx, hcancel := context.WithTimeout(ctx, sc.hold)
	holdLats, holdBad := pageLoad(hctx, front, pageCookies, sc.pageRate)
	hcancel()
	holdDur := time.Since(holdStart)
	calls, err := commandStats(ctx, rdb)
	if err != nil {
		return err
	}
	appCPU, rdsCPU := pidsCPU(pids)-app0, redisCPU(ctx, rdb)-rds0
	rssHold := int64(0)
	perInst := map[string]int64{}
	for i, pid := range pids {
		r := rssBytes(pid)
		rssHold += r
		perInst[fmt.Sprintf("i%d", i+1)] = r
	}
	held := 0
	heldBy := map[string]int{}
	for _, s := range streams {
		if inst, end, _ := s.state(); inst != "" && end.IsZero() {
			held++
			heldBy[inst]++
		}
	}

	// The revoke: users 0, k, 2k... so that they spread over the
	// instances; log out everywhere on the instances directly, 50 at a time.
	fmt.Fprintf(os.Stderr, "loadgen: streams: logging out %d users everywhere\n", sc.revoke)
	step := max(1, sc.streams/max(1, sc.revoke))
	revoked := map[int]time.Time{}
	var rmu sync.Mutex
	revokeStart := time.Now()
	{
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 50}}
		next := make(chan int)
		var wg sync.WaitGroup
		var revokeErrs atomic.Int64
		for range 50 {
			wg.Go(func() {
				for u := range next {
					req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+backends[u%3]+"/logout-everywhere", nil)
					req.Header.Set("Cookie", cookies[u])
					req.Header.Set("Accept", "application/json")
					resp, err := hc.Do(req)
					if err != nil {
						revokeErrs.Add(1)
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						revokeErrs.Add(1)
						continue
					}
					rmu.Lock()
					revoked[u] = time.Now()
					rmu.Unlock()
				}
			})
		}
		for i := 0; i < sc.revoke; i++ {
			next <- i * step
		}
		close(next)
		wg.Wait()
		if n := revokeErrs.Load(); n > 0 {
			return fmt.Errorf("%d of the %d log-out-everywhere calls failed", n, sc.revoke)
		}
	}
	revokeDur := time.Since(revokeStart)
	// Wait for the revoked streams to end (bounded), then watch the others
	// a little longer.
	deadline := time.Now().Add(sc.endTimeout)
	for time.Now().Before(deadline) {
		open := 0
		for u := range revoked {
			if _, end, _ := streams[u].state(); end.IsZero() {
				open++
			}
		}
		if open == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(5 * time.Second)
	scancel()

	var endLats []time.Duration
	dropped, revokedEnded, revokedWithin3, revokedNoEnd, revokedOpen, wrong := 0, 0, 0, 0, 0, 0
	var dropReasons, wrongReasons []string
	var lastEnd time.Time
	for _, s := range streams {
		inst, end, how := s.state()
		if inst == "" {
			continue // never opened: counted in openErrs
		}
		if !end.IsZero() && end.Before(revokeStart) {
			dropped++
			if len(dropReasons) < 3 {
				dropReasons = append(dropReasons, how)
			}
			continue
		}
		at, ok := revoked[s.user]
		switch {
		case !ok:
			if !end.IsZero() {
				wrong++
				if len(wrongReasons) < 3 {
					wrongReasons = append(wrongReasons, how)
				}
			}
		case end.IsZero():
			revokedOpen++
		case how == "end":
			revokedEnded++
			d := end.Sub(at)
			endLats = append(endLats, d)
			if d <= 3*time.Second {
				revokedWithin3++
			}
			if end.After(lastEnd) {
				lastEnd = end
			}
		default:
			revokedNoEnd++
		}
	}

	// The report.
	fmt.Fprintf(out, "# stickless long connections: %d event streams through nginx over 3 instances\n\n", sc.streams)
	writeMachine(out, goRunner{}, redisAddr, start)
	fmt.Fprintf(out, "Set-up: redis-server (no persistence), 3 cmd/whatsup instances on it, nginx (%d workers, worker_connections %d, reuseport) with deploy/nginx.conf; open-file limit %d. %d users logged in on the instances directly; each holds one `GET /api/events` through nginx, from a loopback address of its own (127.1.x.y), opened at %d/s. Session end: the library's watch, Session.Done (per instance, one batched liveness check per second of every watched session: redisstore's Checker, one pipelined EXISTS per session, 500 sessions per call; an end made on the instance itself closes at once).\n\n",
		sc.workers, workerConns, noFile, sc.streams, sc.openRate)
	mib := func(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	var total int64
	for _, v := range calls {
		total += v
	}
	_, detail := perRequest(calls, int64(holdDur.Seconds()))
	fmt.Fprintf(out, "| measure | value |\n|---|--:|\n")
	fmt.Fprintf(out, "| streams opened | %d of %d (%d failed to open) |\n", sc.streams-int(openErrs.Load()), sc.streams, openErrs.Load())
	fmt.Fprintf(out, "| held through the %v hold, by instance | %d %v |\n", sc.hold, held, heldBy)
	fmt.Fprintf(out, "| dropped before the revoke | %d %s |\n", dropped, strings.Join(dropReasons, "; "))
	fmt.Fprintf(out, "| users logged out everywhere | %d in %v (50 at a time, on the instances) |\n", len(revoked), revokeDur.Round(time.Millisecond))
	fmt.Fprintf(out, "| their streams ended with `event: end` | %d (closed without end: %d, still open after %v: %d) |\n", revokedEnded, revokedNoEnd, sc.endTimeout, revokedOpen)
	fmt.Fprintf(out, "| time from a user's logout answer to its stream's end: p50 / p99 / max | %v / %v / %v |\n",
		percentile(endLats, 50).Round(time.Millisecond), percentile(endLats, 99).Round(time.Millisecond), percentile(endLats, 100).Round(time.Millisecond))
	if !lastEnd.IsZero() {
		fmt.Fprintf(out, "| from the first logout to the last end | %v |\n", lastEnd.Sub(revokeStart).Round(time.Millisecond))
	}
	fmt.Fprintf(out, "| streams wrongly ended (not revoked), from the revoke until 5 s after the last end | %d %s |\n", wrong, strings.Join(wrongReasons, "; "))
	fmt.Fprintf(out, "| Redis commands/s during the hold | %s (%s) |\n", thousands(float64(total)/holdDur.Seconds()), detail)
	fmt.Fprintf(out, "| Redis CPU during the hold | %.0f%% of a core |\n", 100*rdsCPU.Seconds()/holdDur.Seconds())
	fmt.Fprintf(out, "| instances' CPU during the hold (3 together) | %.0f%% of a core |\n", 100*appCPU.Seconds()/holdDur.Seconds())
	perStream := "–"
	if held > 0 {
		perStream = fmt.Sprintf("%.1f KiB", float64(rssHold-rssBefore)/float64(held)/1024)
	}
	fmt.Fprintf(out, "| instances' RSS: before the streams / held / per held stream | %s / %s / %s |\n", mib(rssBefore), mib(rssHold), perStream)
	fmt.Fprintf(out, "| GET / p50 / p99 / max, %d/s, without streams (%v) | %v / %v / %v (%d failed) |\n", sc.pageRate, measureFor,
		percentile(baseLats, 50).Round(10*time.Microsecond), percentile(baseLats, 99).Round(10*time.Microsecond), percentile(baseLats, 100).Round(10*time.Microsecond), baseBad)
	fmt.Fprintf(out, "| GET / p50 / p99 / max, %d/s, during the hold | %v / %v / %v (%d failed) |\n", sc.pageRate,
		percentile(holdLats, 50).Round(10*time.Microsecond), percentile(holdLats, 99).Round(10*time.Microsecond), percentile(holdLats, 100).Round(10*time.Microsecond), holdBad)

	fmt.Fprintf(out, "\n| target | measured | met |\n|---|--:|---|\n")
	fmt.Fprintf(out, "| streams dropped before the revoke: 0 | %d | %s |\n", dropped+int(openErrs.Load()), yesNo(dropped == 0 && openErrs.Load() == 0))
	allEnded := revokedEnded == len(revoked) && len(revoked) == sc.revoke
	fmt.Fprintf(out, "| all %d revoked streams end within 3 s | %d of %d | %s |\n", sc.revoke, revokedWithin3, sc.revoke, yesNo(allEnded && revokedWithin3 == sc.revoke))
	fmt.Fprintf(out, "| streams wrongly ended: 0 | %d | %s |\n", wrong, yesNo(wrong == 0))
	fmt.Fprintf(out, "\nnginx error log: %s.\n", nginxLogSummary(filepath.Join(ndir, "nginx-error.log")))
	if charts == "" {
		return nil
	}
	res := &chart.Streams{
		Machine:  machine(),
		Date:     started(start),
		Setup:    fmt.Sprintf("%s event streams through nginx over 3 whatsup instances, held %v; then %s users logged out everywhere", thousands(float64(sc.streams)), sc.hold, thousands(float64(sc.revoke))),
		Held:     held,
		Revoked:  len(revoked),
		Wrong:    wrong,
		TargetMS: 3000,
	}
	for _, d := range endLats {
		res.EndMS = append(res.EndMS, float64(d.Round(100*time.Microsecond))/float64(time.Millisecond))
	}
	base := filepath.Join(charts, "streams")
	if err := chart.Save(base, res); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "loadgen: results and chart: %s.json, %s.svg\n", base, base)
	return nil
}
