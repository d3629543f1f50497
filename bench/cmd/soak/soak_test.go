package main

import (
	"net/http"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name  string
		code  int
		retry string
		class string
		ok    bool
	}{
		{"ok", 200, "", "2xx", true},
		{"redirect", 303, "", "3xx", true},
		{"login required", 401, "", "401", true},
		{"throttled", 429, "", "429", true},
		{"unavailable", 503, "1", "503", true},
		{"unavailable without Retry-After", 503, "", "503 without Retry-After", false},
		{"bad gateway", 502, "", "status 502", false},
		{"internal", 500, "", "status 500", false},
		{"not found", 404, "", "status 404", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tc.code, Header: http.Header{}}
			if tc.retry != "" {
				resp.Header.Set("Retry-After", tc.retry)
			}
			class, ok := classify(resp)
			if class != tc.class || ok != tc.ok {
				t.Errorf("classify(%d, Retry-After %q) = %q, %v; want %q, %v", tc.code, tc.retry, class, ok, tc.class, tc.ok)
			}
		})
	}
}

func TestPct(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	if got := pct(d, 50); got != 50*time.Millisecond {
		t.Errorf("p50 = %v", got)
	}
	if got := pct(d, 99); got != 99*time.Millisecond {
		t.Errorf("p99 = %v", got)
	}
	if got := pct(nil, 99); got != 0 {
		t.Errorf("p99 of nothing = %v", got)
	}
}

func TestFaultWindow(t *testing.T) {
	start := time.Now()
	f := &fault{start: start, end: start.Add(10 * time.Second)}
	for _, tc := range []struct {
		at   time.Duration
		want bool
	}{{-2 * time.Second, false}, {-500 * time.Millisecond, true}, {5 * time.Second, true}, {11 * time.Second, false}} {
		if got := f.contains(start.Add(tc.at)); got != tc.want {
			t.Errorf("contains(start%+v) = %v", tc.at, got)
		}
	}
	if (&fault{}).contains(start) {
		t.Error("a fault that did not run contains a time")
	}
}

func TestParseFlags(t *testing.T) {
	if _, err := parseFlags([]string{"-duration", "5s"}); err == nil {
		t.Error("-duration 5s accepted")
	}
	c, err := parseFlags([]string{"-mode", "cluster", "-duration", "60s"})
	if err != nil || c.mode != "cluster" || c.duration != time.Minute || c.users != 300 {
		t.Errorf("parseFlags: %+v, %v", c, err)
	}
}
