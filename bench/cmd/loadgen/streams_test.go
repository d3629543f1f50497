package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRenderSite(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "in.conf")
	os.WriteFile(src, []byte("# @LISTEN@ in a comment stays\nlisten @LISTEN@;\nalias @STATIC_ROOT@/;\n"), 0o644)
	dst := filepath.Join(dir, "out.conf")
	if err := renderSite(src, dst, map[string]string{"@LISTEN@": "127.0.0.1:1 reuseport", "@STATIC_ROOT@": "/s"}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(dst)
	if want := "# @LISTEN@ in a comment stays\nlisten 127.0.0.1:1 reuseport;\nalias /s/;\n"; string(b) != want {
		t.Errorf("rendered %q, want %q", b, want)
	}
	if err := renderSite(src, dst, map[string]string{"@LISTEN@": "x"}); err == nil || !strings.Contains(err.Error(), "unknown marker") {
		t.Errorf("a marker left unfilled: %v, want an error", err)
	}
}

func TestLoopbackIPsAreDistinct(t *testing.T) {
	seen := map[string]bool{}
	for i := range 10000 {
		ip := loopbackIP(1, i)
		if ip[12] != 127 || seen[ip.String()] {
			t.Fatalf("stream %d: address %v repeated or not loopback", i, ip)
		}
		seen[ip.String()] = true
	}
}

func TestPercentile(t *testing.T) {
	var l []time.Duration
	for i := 1; i <= 100; i++ {
		l = append(l, time.Duration(101-i)*time.Millisecond)
	}
	if p := percentile(l, 99); p != 100*time.Millisecond {
		t.Errorf("p99 of 1..100 ms = %v", p)
	}
	if p := percentile(l, 50); p != 51*time.Millisecond {
		t.Errorf("p50 of 1..100 ms = %v", p)
	}
	if percentile(nil, 99) != 0 {
		t.Error("p99 of nothing")
	}
}
