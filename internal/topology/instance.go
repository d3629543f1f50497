package topology

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/stickless/stickless/internal/testenv"
)

// StartTimeout bounds the wait for an instance, nginx or Prometheus to
// answer after it was started.
const StartTimeout = 30 * time.Second

// Instance is one whatsup process. Its methods are safe for concurrent use.
type Instance struct {
	*testenv.Proc
	Name        string // i1, i2, ...
	Addr        string // "127.0.0.1:port"
	URL         string // "http://127.0.0.1:port", straight to the instance
	MetricsAddr string // "127.0.0.1:port" of its metrics, or ""
}

// Start starts a stopped or killed instance on its port and waits until it
// answers /healthz with 200.
func (in *Instance) Start() error {
	if err := in.Proc.Start(); err != nil {
		return err
	}
	if err := in.WaitReady(StartTimeout, httpOK(in.URL+"/healthz")); err != nil {
		in.Proc.Kill()
		return fmt.Errorf("%w\n%s", err, in.Tail(30))
	}
	return nil
}

// Restart stops the instance gracefully and starts it again.
func (in *Instance) Restart() error {
	if err := in.Stop(); err != nil {
		return err
	}
	return in.Start()
}

// httpOK returns a probe that GETs url and wants 200.
func httpOK(url string) func() error {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	return func() error {
		resp, err := hc.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}

// hasFlag reports whether bin -h lists flag (e.g. "-metrics-addr").
func hasFlag(bin, flag string) bool {
	out, _ := exec.Command(bin, "-h").CombinedOutput()
	return strings.Contains(string(out), "  "+flag+" ") || strings.Contains(string(out), "  "+flag+"\n")
}

// startInstances starts the instances one after the other, each on its
// port, trying another free port when the one picked was taken meanwhile.
func (t *Topology) startInstances() error {
	cfg := &t.cfg
	t.Metrics = cfg.MetricsFlag != "" && hasFlag(cfg.AppBin, cfg.MetricsFlag)
	if cfg.MetricsFlag != "" && !t.Metrics {
		cfg.logf("%s has no %s flag: the instances serve no metrics, Prometheus is not started", filepath.Base(cfg.AppBin), cfg.MetricsFlag)
	}
	// The URL, and its password, goes through the environment: not in ps.
	env := append(os.Environ(), "STICKLESS_REDIS_URL="+t.RedisURL)
	for k := 1; k <= cfg.Instances; k++ {
		in := &Instance{Name: "i" + strconv.Itoa(k)}
		in.Proc = &testenv.Proc{
			Name:    in.Name,
			Path:    cfg.AppBin,
			Dir:     cfg.Dir,
			Env:     env,
			LogFile: filepath.Join(cfg.LogDir, in.Name+".log"),
		}
		t.Instances = append(t.Instances, in)
		for attempt := 1; ; attempt++ {
			port, err := pick(cfg.AppPortBase, k)
			if err != nil {
				return err
			}
			in.Addr = addr(port)
			in.URL = "http://" + in.Addr
			in.Args = []string{"-addr", in.Addr, "-instance", in.Name, "-secrets-file", cfg.Secrets, "-insecure-cookie"}
			if t.Metrics {
				mport, err := pick(cfg.MetricsPortBase, k)
				if err != nil {
					return err
				}
				in.MetricsAddr = addr(mport)
				in.Args = append(in.Args, cfg.MetricsFlag, in.MetricsAddr)
			}
			in.Args = append(in.Args, cfg.AppFlags...)
			err = in.Start()
			if err == nil {
				break
			}
			if in.LogHas("address already in use") && attempt < 5 && cfg.AppPortBase == 0 {
				continue
			}
			return err
		}
		cfg.logf("%-10s %s (pid %d)", in.Name, in.URL, in.Pid())
	}
	return nil
}

// pick returns base+k-1, or a free port when base is 0.
func pick(base, k int) (int, error) {
	if base != 0 {
		return base + k - 1, nil
	}
	return testenv.FreePortErr()
}
