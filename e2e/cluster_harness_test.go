package e2e

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stickless/stickless/internal/redistest"
	"github.com/stickless/stickless/internal/testenv"
	"github.com/stickless/stickless/internal/topology"
)

// deployDir holds the shipped configuration the tests run: the tests' working
// directory is the package directory.
const deployDir = "../deploy"

// clusterConfig says what [startCluster] starts. The zero value is three
// instances with default flags and one random signing key.
type clusterConfig struct {
	// Instances is the number of whatsup instances, named i1..iN.
	// default: 3.
	Instances int
	// Flags are more whatsup flags for every instance (they come last, so
	// they override the harness's own). default: none.
	Flags []string
	// Keys are the signing keys, one per line of the shared secrets file,
	// the first signs. default: one random key.
	Keys []string
	// DeployDir holds the nginx configuration to run. default: deployDir,
	// the shipped one.
	DeployDir string
}

// cluster is the real topology of a test, started by internal/topology as
// `make cluster` starts it: Redis (AOF on, appendfsync always), whatsup
// instances sharing it, and nginx round-robin in front rendered from
// deploy/nginx.conf, all on 127.0.0.1 in the test's temporary directory.
type cluster struct {
	*topology.Topology
	Redis     *redistest.Server
	Instances []*instance

	dir     string
	secrets string // the shared secrets file
}

// instance is one whatsup process of a cluster.
type instance struct {
	*topology.Instance
}

// randomKey returns a new signing key: 64 hex digits.
func randomKey() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// findNginx returns the nginx binary, or skips (fails in CI) without it.
func findNginx(t testing.TB) string {
	t.Helper()
	if p, err := topology.FindNginx(); err == nil {
		return p
	}
	return testenv.Require(t, "nginx", "nginx")
}

// startCluster starts Redis, the instances and nginx, waits until nginx
// answers /healthz, and stops them all when the test ends; when the test
// failed, the end of every log is printed.
func startCluster(t *testing.T, cfg clusterConfig) *cluster {
	t.Helper()
	if len(cfg.Keys) == 0 {
		cfg.Keys = []string{randomKey()}
	}
	testenv.Require(t, "redis-server", "redis-server")
	findNginx(t)
	c := &cluster{dir: t.TempDir()}
	// nginx started as root runs its workers as nobody: they must reach the
	// prefix under the temporary directory.
	if os.Geteuid() == 0 {
		for d := c.dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
			os.Chmod(d, 0o711)
		}
	}
	c.secrets = filepath.Join(c.dir, "secrets")
	c.SetKeys(t, cfg.Keys...)
	topo, err := topology.Start(topology.Config{
		Dir:       c.dir,
		DeployDir: cmp.Or(cfg.DeployDir, deployDir),
		Redis:     redistest.Options{AOF: true},
		Instances: cfg.Instances,
		AppBin:    whatsupBin,
		AppFlags:  cfg.Flags,
		Secrets:   c.secrets,
		Logf:      t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Topology, c.Redis = topo, topo.Redis
	for _, in := range topo.Instances {
		c.Instances = append(c.Instances, &instance{in})
	}
	t.Cleanup(func() { c.cleanup(t) })
	return c
}

// SetKeys rewrites the shared secrets file; instances read it when they
// start.
func (c *cluster) SetKeys(t testing.TB, keys ...string) {
	t.Helper()
	data := "# e2e signing keys, the first signs\n" + strings.Join(keys, "\n") + "\n"
	if err := os.WriteFile(c.secrets, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Restart stops the instance gracefully and starts it again on the same
// port with the same flags, then waits until it answers /healthz.
func (in *instance) Restart(t testing.TB) {
	t.Helper()
	if err := in.Instance.Restart(); err != nil {
		t.Fatal(err)
	}
}

// Start starts a stopped or killed instance again on its port and waits
// until it answers /healthz.
func (in *instance) Start(t testing.TB) {
	t.Helper()
	if err := in.Instance.Start(); err != nil {
		t.Fatal(err)
	}
}

// Kill kills the instance with SIGKILL, as a crash would.
func (in *instance) Kill(t testing.TB) {
	t.Helper()
	if err := in.Instance.Kill(); err != nil {
		t.Error(err)
	}
}

// RestartAll restarts the instances one after the other (a rolling
// restart: nginx keeps serving from the others).
func (c *cluster) RestartAll(t testing.TB) {
	t.Helper()
	for _, in := range c.Instances {
		in.Restart(t)
	}
}

// Targets returns the base URLs a request can go to: nginx, then every
// instance directly.
func (c *cluster) Targets() []string {
	out := []string{c.URL}
	for _, in := range c.Instances {
		out = append(out, in.URL)
	}
	return out
}

func (c *cluster) cleanup(t *testing.T) {
	if err := c.Close(); err != nil {
		t.Error(err)
	}
	if t.Failed() {
		var b strings.Builder
		for _, in := range c.Instances {
			b.WriteString(in.Tail(25))
		}
		b.WriteString(tail(filepath.Join(c.dir, "nginx-error.log"), 25))
		b.WriteString(tail(filepath.Join(c.dir, "nginx-access.log"), 40))
		t.Logf("e2e: logs of the cluster in %s:\n%s", c.dir, b.String())
	}
}

// tail returns the last n lines of a file, labelled, for failure output.
func tail(file string, n int) string { return testenv.Tail(file, n) }

// timeSince is the elapsed time since start, rounded for logs.
func timeSince(start time.Time) time.Duration {
	return time.Since(start).Round(time.Millisecond)
}
