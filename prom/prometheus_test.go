package prom_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stickless/stickless/internal/testenv"
	"github.com/stickless/stickless/prom"
)

// renderPrometheusConfig renders deploy/prometheus.yml as its header says:
// the markers replaced on every line that is not a comment.
func renderPrometheusConfig(t *testing.T, out string, markers map[string]string) {
	t.Helper()
	b, err := os.ReadFile("../deploy/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		for k, v := range markers {
			l = strings.ReplaceAll(l, k, v)
		}
		if strings.Contains(l, "@") {
			t.Fatalf("line %d of deploy/prometheus.yml has a marker left: %q", i+1, l)
		}
		lines[i] = l
	}
	if err := os.WriteFile(out, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPrometheusScrapesTheTemplate renders deploy/prometheus.yml for two
// metrics endpoints, checks it with promtool, runs a real Prometheus on
// it, and waits until every target is up and a stickless counter can be
// queried with the value its endpoint exports.
func TestPrometheusScrapesTheTemplate(t *testing.T) {
	promtool := testenv.Require(t, "promtool", "prometheus")
	bin := testenv.Require(t, "prometheus", "prometheus")
	var targets []string
	for i := range 2 {
		reg := prom.NewRegistry()
		m := prom.New(reg, prom.Options{})
		for range 3 + i {
			m.Observer().Request(context.Background(), "invalid")
		}
		srv := httptest.NewServer(prom.Handler(reg))
		t.Cleanup(srv.Close)
		targets = append(targets, strconv.Quote(strings.TrimPrefix(srv.URL, "http://")))
	}
	dir := t.TempDir()
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	conf := filepath.Join(dir, "prometheus.yml")
	renderPrometheusConfig(t, conf, map[string]string{
		"@METRICS_TARGETS@": strings.Join(targets, ", "),
		"@PROMETHEUS_ADDR@": addr,
	})
	rules, err := os.ReadFile("../deploy/alerts.yml") // beside the config, as the template says
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts.yml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "config", conf).CombinedOutput(); err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}

	logFile, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "--config.file="+conf, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("prometheus log:\n%s", b)
		}
	})

	api := func(path string, v any) error {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return json.NewDecoder(resp.Body).Decode(v)
	}
	// Prometheus scrapes every 5 s (the template's interval).
	err = testenv.Eventually(60*time.Second, 500*time.Millisecond, func() error {
		var r struct {
			Data struct {
				ActiveTargets []struct {
					ScrapeURL string `json:"scrapeUrl"`
					Health    string `json:"health"`
				} `json:"activeTargets"`
			} `json:"data"`
		}
		if err := api("/api/v1/targets", &r); err != nil {
			return err
		}
		if n := len(r.Data.ActiveTargets); n != 3 {
			return fmt.Errorf("%d targets, want 3", n)
		}
		for _, tg := range r.Data.ActiveTargets {
			if tg.Health != "up" {
				return fmt.Errorf("target %s is %q", tg.ScrapeURL, tg.Health)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var q struct {
		Data struct {
			Result []struct {
				Value []any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	query := url.QueryEscape(`sum(stickless_session_requests_total{job="whatsup",outcome="invalid"})`)
	if err := api("/api/v1/query?query="+query, &q); err != nil {
		t.Fatal(err)
	}
	if len(q.Data.Result) != 1 || len(q.Data.Result[0].Value) != 2 || q.Data.Result[0].Value[1] != "7" {
		t.Errorf("the forged cookies of both targets: %+v, want 7", q.Data.Result)
	}
}
