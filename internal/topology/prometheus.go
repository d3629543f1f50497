package topology

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/stickless/stickless/internal/testenv"
)

// startPrometheus renders deploy/prometheus.yml with every instance's
// metrics address, puts deploy/alerts.yml beside it and starts the
// prometheus server on 127.0.0.1.
func (t *Topology) startPrometheus() error {
	cfg := &t.cfg
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		return fmt.Errorf("prometheus not found; install it: apt-get install -y prometheus")
	}
	dir := filepath.Join(cfg.Dir, "prometheus")
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return err
	}
	var targets []string
	for _, in := range t.Instances {
		targets = append(targets, strconv.Quote(in.MetricsAddr))
	}
	port := cfg.PrometheusPort
	if port == 0 {
		if port, err = testenv.FreePortErr(); err != nil {
			return err
		}
	}
	conf := filepath.Join(dir, "prometheus.yml")
	err = Render(filepath.Join(cfg.DeployDir, "prometheus.yml"), conf, map[string]string{
		"@METRICS_TARGETS@": strings.Join(targets, ", "),
		"@PROMETHEUS_ADDR@": addr(port),
	})
	if err != nil {
		return err
	}
	// The alerting rules, where the rendered file's rule_files finds them.
	rules, err := os.ReadFile(filepath.Join(cfg.DeployDir, "alerts.yml"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts.yml"), rules, 0o600); err != nil {
		return err
	}
	t.PrometheusURL = "http://" + addr(port)
	t.Prometheus = &testenv.Proc{
		Name: "prometheus",
		Path: bin,
		Args: []string{
			"--config.file=" + conf,
			"--storage.tsdb.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + addr(port),
		},
		Dir:     dir,
		LogFile: filepath.Join(cfg.LogDir, "prometheus.log"),
	}
	if err := t.Prometheus.Start(); err != nil {
		return err
	}
	if err := t.Prometheus.WaitReady(StartTimeout, httpOK(t.PrometheusURL+"/-/ready")); err != nil {
		return fmt.Errorf("%w\n%s", err, t.Prometheus.Tail(30))
	}
	cfg.logf("%-10s %s (pid %d, config %s)", "prometheus", t.PrometheusURL, t.Prometheus.Pid(), conf)
	return nil
}
