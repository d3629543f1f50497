// Package topology starts the demo's real topology on 127.0.0.1: Redis
// (standalone with AOF, a Sentinel set, or a Cluster with replicas),
// whatsup instances sharing it, nginx round-robin in front (rendered from
// deploy/nginx.conf), and optionally Prometheus scraping every instance.
// It stops everything it started.
//
// It is the one harness of the repository: `make cluster`
// (cmd/stickless-cluster), the e2e tests, and the soak (bench/cmd/soak)
// start their servers through it, and internal/redistest, which it builds
// on, starts the Redis servers of the unit tests. Every child runs under
// [testenv.Proc].
//
// Nothing here takes a testing.TB: failures are returned as errors, with
// the end of the failing process's log.
package topology

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/stickless/stickless/internal/redistest"
	"github.com/stickless/stickless/internal/testenv"
)

// Mode is how Redis is deployed.
type Mode string

// The modes of [Config.Mode].
const (
	Standalone Mode = "standalone" // one redis-server with AOF
	Sentinel   Mode = "sentinel"   // one master, two replicas, three Sentinels
	Cluster    Mode = "cluster"    // three masters, each with one replica
)

// ParseMode returns the Mode named s ("" is Standalone).
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case "", Standalone:
		return Standalone, nil
	case Sentinel, Cluster:
		return Mode(s), nil
	}
	return "", fmt.Errorf("topology: unknown Redis mode %q (want standalone, sentinel or cluster)", s)
}

// Config says what [Start] starts. The zero value of each field gives its
// default; Dir, DeployDir, AppBin and Secrets are required.
type Config struct {
	// Mode is how Redis is deployed. Default: Standalone.
	Mode Mode
	// Dir holds this run's files: rendered configurations, the Redis data
	// (unless RedisDir), nginx's prefix. Required.
	Dir string
	// LogDir holds the logs of nginx and the instances. Default: Dir.
	LogDir string
	// RedisDir holds the data of a standalone Redis (AOF, config, log), so
	// that it can outlive the run. Sentinel and Cluster nodes live under
	// Dir. Default: Dir/redis.
	RedisDir string
	// DeployDir is the directory of the shipped nginx.conf, nginx-dev.conf
	// and prometheus.yml. Required.
	DeployDir string
	// Redis holds the options of every Redis data server (AOF, Include,
	// Port, ExtraConfig); User and Password are set from AdminPassword.
	// Default: the zero redistest.Options (no persistence, free ports).
	Redis redistest.Options
	// RedisURL, when not empty, is an existing Redis that the instances use:
	// no Redis is started and Mode and the passwords are ignored.
	RedisURL string
	// AdminPassword, when not empty, turns on the ACL of acl.go: the
	// default user off, AdminUser with this password, and AppUser with
	// AppPassword for the instances. Default: "" (no authentication).
	AdminPassword string
	// AppPassword is AppUser's password; required with AdminPassword.
	AppPassword string
	// Instances is the number of whatsup instances, named i1..iN.
	// Default: 3.
	Instances int
	// AppBin is the instance binary (cmd/whatsup, or a build of it with
	// more flags, such as the Prometheus-enabled demo). Required.
	AppBin string
	// AppFlags are more flags for every instance, after the harness's own.
	// Default: none.
	AppFlags []string
	// AppPortBase is i1's port; iK listens on AppPortBase+K-1.
	// Default: 0 (free ports).
	AppPortBase int
	// Secrets is the signing-keys file every instance reads. Required.
	Secrets string
	// HTTPPort is nginx's port. Default: 0 (a free port).
	HTTPPort int
	// MetricsFlag is the instance flag that takes a metrics listen address
	// (whatsup's -metrics-addr). When set and AppBin's -h lists it, each
	// instance gets "MetricsFlag 127.0.0.1:port"; else the instances have
	// no metrics and Prometheus is not started. Default: "" (no metrics).
	MetricsFlag string
	// MetricsPortBase is i1's metrics port; iK's is MetricsPortBase+K-1.
	// Default: 0 (free ports).
	MetricsPortBase int
	// Prometheus starts the prometheus server scraping every instance's
	// metrics (needs MetricsFlag). Default: false.
	Prometheus bool
	// PrometheusPort is Prometheus's port. Default: 0 (a free port).
	PrometheusPort int
	// Logf reports progress. Default: nothing.
	Logf func(format string, args ...any)
}

// Topology is what [Start] started. Its fields are set by Start and not
// changed afterwards, except the sets' roles after a failover (see
// redistest). It is not safe for concurrent use, except the Instances'
// and servers' own methods.
type Topology struct {
	Mode Mode
	// Exactly one of Redis, Sentinel and Cluster is set, unless the
	// instances use an external RedisURL.
	Redis    *redistest.Server
	Sentinel *redistest.SentinelSet
	Cluster  *redistest.ClusterSet
	// RedisURL is what the instances connect with (STICKLESS_REDIS_URL),
	// credentials included: never print it, use ShownURL.
	RedisURL string
	// Instances are the whatsup processes.
	Instances []*Instance
	// URL is nginx's "http://127.0.0.1:port".
	URL   string
	Nginx *testenv.Proc
	// Prometheus is the prometheus server, or nil; PrometheusURL its URL.
	Prometheus    *testenv.Proc
	PrometheusURL string
	// Metrics reports whether the instances serve metrics.
	Metrics bool

	cfg Config
}

func (c *Config) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

// Start starts the topology that cfg describes: Redis first, then the
// instances (each answering /healthz), then nginx, then Prometheus. On
// failure it stops what it started and returns the error.
func Start(cfg Config) (t *Topology, err error) {
	if cfg.Dir == "" || cfg.DeployDir == "" || cfg.AppBin == "" || cfg.Secrets == "" {
		return nil, errors.New("topology: Config needs Dir, DeployDir, AppBin and Secrets")
	}
	if cfg.Mode == "" {
		cfg.Mode = Standalone
	}
	if cfg.Instances == 0 {
		cfg.Instances = 3
	}
	if cfg.LogDir == "" {
		cfg.LogDir = cfg.Dir
	}
	if cfg.RedisDir == "" {
		cfg.RedisDir = filepath.Join(cfg.Dir, "redis")
	}
	if cfg.AdminPassword != "" && cfg.AppPassword == "" {
		return nil, errors.New("topology: AdminPassword needs AppPassword")
	}
	for _, d := range []string{cfg.Dir, cfg.LogDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	t = &Topology{Mode: cfg.Mode, cfg: cfg}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	if cfg.RedisURL != "" {
		t.RedisURL = cfg.RedisURL
	} else if err := t.startRedis(); err != nil {
		return t, err
	}
	if err := t.startInstances(); err != nil {
		return t, err
	}
	if err := t.startNginx(); err != nil {
		return t, err
	}
	if cfg.Prometheus && t.Metrics {
		if err := t.startPrometheus(); err != nil {
			return t, err
		}
	}
	return t, nil
}

// Close stops everything Start started, in the reverse order: Prometheus,
// nginx (no new requests), the instances, Redis last. It returns every
// error joined.
func (t *Topology) Close() error {
	var errs []error
	for _, p := range []*testenv.Proc{t.Prometheus, t.Nginx} {
		if p != nil {
			errs = append(errs, p.Stop())
		}
	}
	for _, in := range t.Instances {
		errs = append(errs, in.Stop())
	}
	for _, s := range t.RedisServers() {
		// SIGTERM: Redis writes its AOF out before it exits.
		errs = append(errs, s.StopErr())
	}
	return errors.Join(errs...)
}

// RedisServers returns every Redis process started: data servers, then
// Sentinels.
func (t *Topology) RedisServers() []*redistest.Server {
	switch {
	case t.Redis != nil:
		return []*redistest.Server{t.Redis}
	case t.Sentinel != nil:
		return append(append([]*redistest.Server{t.Sentinel.Master}, t.Sentinel.Replicas...), t.Sentinel.Sentinels...)
	case t.Cluster != nil:
		return t.Cluster.All()
	}
	return nil
}

// DataServers returns the Redis servers that hold data (no Sentinels).
func (t *Topology) DataServers() []*redistest.Server {
	if t.Sentinel != nil {
		return append([]*redistest.Server{t.Sentinel.Master}, t.Sentinel.Replicas...)
	}
	return t.RedisServers()
}

// Masters returns the data servers that say role:master right now (a
// paused or stopped server is left out).
func (t *Topology) Masters() []*redistest.Server {
	var out []*redistest.Server
	for _, s := range t.DataServers() {
		if Role(s) == "master" {
			out = append(out, s)
		}
	}
	return out
}

// Role returns what INFO replication says s is ("master", "slave"), or ""
// when s does not answer within a second.
func Role(s *redistest.Server) string {
	r, err := s.Call(time.Second, "INFO", "replication")
	if err != nil || r.Err() != nil {
		return ""
	}
	for line := range strings.Lines(r.Str) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "role:"); ok {
			return v
		}
	}
	return ""
}

// ShownURL returns RedisURL with every password replaced by "***", for
// printing.
func (t *Topology) ShownURL() string { return Redact(t.RedisURL) }

// Redact replaces the password of a Redis URL's userinfo and the values of
// query parameters whose name contains "password" with "***".
func Redact(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return "***"
	}
	if at := strings.LastIndexByte(strings.SplitN(rest, "/", 2)[0], '@'); at >= 0 {
		user, _, _ := strings.Cut(rest[:at], ":")
		rest = user + ":***" + rest[at:]
	}
	if base, q, ok := strings.Cut(rest, "?"); ok {
		vals, err := url.ParseQuery(q)
		if err != nil {
			return scheme + "://" + base + "?***"
		}
		for k := range vals {
			if strings.Contains(strings.ToLower(k), "password") {
				vals.Set(k, "***")
			}
		}
		rest = base + "?" + strings.ReplaceAll(vals.Encode(), "%2A%2A%2A", "***")
	}
	return scheme + "://" + rest
}

// addr returns "127.0.0.1:port".
func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
