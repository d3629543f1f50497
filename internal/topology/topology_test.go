package topology

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"standalone", "redis://stickless:s3cret@127.0.0.1:6390/0", "redis://stickless:***@127.0.0.1:6390/0"},
		{"no user", "redis://:s3cret@127.0.0.1:6390", "redis://:***@127.0.0.1:6390"},
		{"no credentials", "redis://127.0.0.1:6390/0", "redis://127.0.0.1:6390/0"},
		{"sentinel query", "redis://u:p1@h:1/0?addr=h:2&master_set=mymaster&sentinel_password=p2&sentinel_username=u",
			"redis://u:***@h:1/0?addr=h%3A2&master_set=mymaster&sentinel_password=***&sentinel_username=u"},
		{"no scheme", "s3cret", "***"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Redact(tc.in)
			if got != tc.want {
				t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if strings.Contains(got, "s3cret") || strings.Contains(got, "p2") {
				t.Errorf("Redact(%q) = %q keeps a password", tc.in, got)
			}
		})
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": Standalone, "standalone": Standalone, "sentinel": Sentinel, "cluster": Cluster} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseMode("Cluster"); err == nil {
		t.Error("ParseMode(Cluster) accepted")
	}
}

func TestRenderNginx(t *testing.T) {
	dir := t.TempDir()
	conf, err := RenderNginx("../../deploy", dir, dir, "127.0.0.1:1234", dir, []string{"127.0.0.1:1", "127.0.0.1:2"})
	if err != nil {
		t.Fatal(err)
	}
	main, _ := os.ReadFile(conf)
	site, _ := os.ReadFile(filepath.Join(dir, "site.conf"))
	for _, want := range []string{"listen 127.0.0.1:1234;", "server 127.0.0.1:1 max_fails=1 fail_timeout=10s;", "server 127.0.0.1:2 "} {
		if !strings.Contains(string(site), want) {
			t.Errorf("site.conf lacks %q", want)
		}
	}
	if !strings.Contains(string(main), "include "+filepath.Join(dir, "site.conf")) {
		t.Errorf("nginx.conf does not include site.conf:\n%s", main)
	}
}

func TestRenderRefusesUnknownMarker(t *testing.T) {
	dir := t.TempDir()
	tmpl := filepath.Join(dir, "t.conf")
	os.WriteFile(tmpl, []byte("# @DOC@ in a comment is fine\nlisten @LISTEN@;\nroot @ROOT@;\n"), 0o600)
	err := Render(tmpl, filepath.Join(dir, "out"), map[string]string{"@LISTEN@": "x"})
	if err == nil || !strings.Contains(err.Error(), ":3:") {
		t.Fatalf("Render with @ROOT@ left: %v, want an error naming line 3", err)
	}
}

func TestRenderPrometheus(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "p.yml")
	if err := Render("../../deploy/prometheus.yml", out, map[string]string{
		"@METRICS_TARGETS@": `"127.0.0.1:9101"`, "@PROMETHEUS_ADDR@": "127.0.0.1:9090"}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	if !strings.Contains(string(b), `- targets: ["127.0.0.1:9101"]`) || !strings.Contains(string(b), `["127.0.0.1:9090"]`) {
		t.Errorf("rendered prometheus.yml:\n%s", b)
	}
}
