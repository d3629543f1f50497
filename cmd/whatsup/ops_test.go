package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/stickless/stickless/internal/redistest"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stickless/stickless/internal/testenv"
)

func TestClientAddr(t *testing.T) {
	o := opsOptions{trustedProxy: "127.0.0.1, 10.0.0.0/8,::1"}
	if err := o.check(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"direct client", "198.51.100.7:5000", nil, "198.51.100.7"},
		{"direct client sending its own X-Forwarded-For", "198.51.100.7:5000", []string{"1.2.3.4"}, "198.51.100.7"},
		{"trusted proxy without the header", "127.0.0.1:5000", nil, "127.0.0.1"},
		{"trusted proxy", "127.0.0.1:5000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"a spoofed hop on the left is ignored", "127.0.0.1:5000", []string{"6.6.6.6, 203.0.113.9"}, "203.0.113.9"},
		{"a chain of trusted proxies", "127.0.0.1:5000", []string{"203.0.113.9, 10.1.2.3"}, "203.0.113.9"},
		{"several header lines", "127.0.0.1:5000", []string{"6.6.6.6", "203.0.113.9, 10.1.2.3"}, "203.0.113.9"},
		{"IPv6 proxy", "[::1]:5000", []string{"2001:db8::1"}, "2001:db8::1"},
		{"only trusted hops", "127.0.0.1:5000", []string{"10.0.0.1"}, "10.0.0.1"},
		{"garbage hop", "127.0.0.1:5000", []string{"x<script>"}, "x<script>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := o.clientAddr(r); got != tc.want {
				t.Errorf("clientAddr = %q, want %q", got, tc.want)
			}
		})
	}
	none := opsOptions{}
	r, _ := http.NewRequest("GET", "/", nil)
	r.RemoteAddr, r.Header = "127.0.0.1:1", http.Header{"X-Forwarded-For": {"1.2.3.4"}}
	if got := none.clientAddr(r); got != "127.0.0.1" {
		t.Errorf("without -trusted-proxy, clientAddr = %q, want the peer", got)
	}
}

func TestOpsFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-trusted-proxy", "10.0.0.0/33"},
		{"-trusted-proxy", "nginx"},
		{"-metrics-addr", "9100"},
	} {
		if _, err := parseFlags(args, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("parseFlags(%q) = %v, want a usage error", args, err)
		}
	}
	o, err := parseFlags([]string{"-metrics-addr", "127.0.0.1:9101", "-log-json", "-trusted-proxy", "127.0.0.1"}, io.Discard)
	if err != nil || o.ops.metricsAddr != "127.0.0.1:9101" || !o.ops.logJSON || len(o.ops.trusted) != 1 {
		t.Errorf("parseFlags: %+v, %v", o.ops, err)
	}
}

// TestRunMetricsAndAudit runs the demo as main does, with -metrics-addr,
// -log-json and -trusted-proxy, logs in through a "proxy" and checks the
// scrape and the audit record.
func TestRunMetricsAndAudit(t *testing.T) {
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	metricsAddr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	var logs testenv.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"-addr", addr, "-metrics-addr", metricsAddr, "-log-json",
			"-trusted-proxy", "127.0.0.1/32", "-insecure-cookie", "-instance", "t1"}, &logs)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	if err := testenv.WaitTCP(addr, 10*time.Second); err != nil {
		t.Fatalf("whatsup did not listen: %v\n%s", err, logs.String())
	}
	if err := testenv.WaitTCP(metricsAddr, 10*time.Second); err != nil {
		t.Fatalf("no metrics listener: %v\n%s", err, logs.String())
	}
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("POST", "http://"+addr+"/login", strings.NewReader(url.Values{"name": {"ann"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "ops-test/1")
	req.Header.Set("X-Forwarded-For", "6.6.6.6, 203.0.113.9")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	for range 3 {
		req, _ := http.NewRequest("GET", "http://"+addr+"/api/whoami", nil)
		req.Header.Set("Cookie", "session=forged")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	resp, err = c.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range []string{
		`stickless_session_events_total{event="login"} 1`,
		`stickless_session_events_total{event="created"} 1`,
		`stickless_session_requests_total{outcome="invalid"} 3`,
		`stickless_store_operation_duration_seconds_count{op="Create",result="ok"} 1`,
		`stickless_unavailable_responses_total 0`,
		`go_goroutines `,
		`process_start_time_seconds `,
	} {
		if !bytes.Contains(body, []byte("\n"+line)) {
			t.Errorf("the scrape has no %q", line)
		}
	}

	var audit map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("-log-json wrote a line that is not JSON: %q", sc.Text())
		}
		if rec["log"] == "audit" && rec["msg"] == "login" {
			audit = rec
		}
	}
	if audit == nil {
		t.Fatalf("no audit record of the login in:\n%s", logs.String())
	}
	for k, want := range map[string]string{"user": "ann", "client": "203.0.113.9", "user_agent": "ops-test/1", "instance": "t1", "level": "INFO"} {
		if audit[k] != want {
			t.Errorf("audit record %s = %v, want %q", k, audit[k], want)
		}
	}
	if h, _ := audit["session"].(string); len(h) != 22 {
		t.Errorf("audit record session = %v, want a 22-character handle", audit["session"])
	}
}

// TestRunClientCacheMetrics: with -client-cache and -metrics-addr, the
// reads of an unchanged session are counted as cache hits.
func TestRunClientCacheMetrics(t *testing.T) {
	rs := redistest.Standalone(t, redistest.Options{})
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	metricsAddr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	t.Setenv("STICKLESS_SECRETS", "a signing key of the cache metrics test: 32 bytes or more")
	var logs testenv.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"-addr", addr, "-metrics-addr", metricsAddr, "-redis", rs.URL(),
			"-client-cache", "-insecure-cookie", "-instance", "t1"}, &logs)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	if err := testenv.WaitTCP(addr, 10*time.Second); err != nil {
		t.Fatalf("whatsup did not listen: %v\n%s", err, logs.String())
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm("http://"+addr+"/login", url.Values{"name": {"ann"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The instance reads Redis, not its cache, for 250 ms after it
	// wrote a session (the login).
	time.Sleep(300 * time.Millisecond)
	for range 5 {
		resp, err := c.Get("http://" + addr + "/api/whoami")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, err = c.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var hits, misses float64
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, `stickless_client_cache_total{result="hit"} `); ok {
			hits, _ = strconv.ParseFloat(v, 64)
		}
		if v, ok := strings.CutPrefix(line, `stickless_client_cache_total{result="miss"} `); ok {
			misses, _ = strconv.ParseFloat(v, 64)
		}
	}
	if hits+misses != 5 || hits < 3 {
		t.Errorf("5 reads counted %v hits and %v misses, want 5 in all, mostly hits", hits, misses)
	}
}

// TestStartBeforeRedis: an instance whose Redis does not answer yet starts
// anyway and answers 503; once Redis is up, a login works within a few
// seconds, with no restart, and the log says both.
func TestStartBeforeRedis(t *testing.T) {
	port := testenv.FreePort(t)
	secrets := t.TempDir() + "/secrets"
	if err := writeFile(secrets, string(testKey)+"\n"); err != nil {
		t.Fatal(err)
	}
	base, logs := startRun(t, "-redis", "redis://127.0.0.1:"+strconv.Itoa(port), "-secrets-file", secrets)
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	login := func() (int, error) {
		resp, err := c.PostForm(base+"/login", url.Values{"name": {"ann"}})
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := login(); err != nil || code != http.StatusServiceUnavailable {
		t.Fatalf("login before Redis is up: %d %v, want 503", code, err)
	}
	redistest.Standalone(t, redistest.Options{Port: port})
	start := time.Now()
	err := testenv.Eventually(5*time.Second, 20*time.Millisecond, func() error {
		if code, err := login(); err != nil || code != http.StatusSeeOther {
			return fmt.Errorf("login: %d %v", code, err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("no login within 5 s of Redis being up: %v\n%s", err, logs)
	}
	t.Logf("a login worked %v after Redis was up", time.Since(start).Round(time.Millisecond))
	for _, want := range []string{"connecting in the background", "connected to Redis"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, logs)
		}
	}
}
