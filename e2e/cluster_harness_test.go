package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stickless/stickless/internal/redistest"
	"github.com/stickless/stickless/internal/testenv"
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
}

// cluster is the real topology of a test: Redis (AOF on), whatsup instances
// sharing it, and nginx round-robin in front, all on 127.0.0.1 in the
// test's temporary directory.
type cluster struct {
	Redis     *redistest.Server
	Instances []*instance
	URL       string // nginx, "http://127.0.0.1:port"

	dir     string
	secrets string // the shared secrets file
	nginx   *proc
}

// instance is one whatsup process of a cluster.
type instance struct {
	*proc
	Name string // i1, i2, ...
	URL  string // "http://127.0.0.1:port", straight to the instance
}

// randomKey returns a new signing key: 64 hex digits.
func randomKey() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// findNginx returns the nginx binary: Debian installs it in /usr/sbin, which
// is not on a user's PATH.
func findNginx(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	return testenv.Require(t, "nginx", "nginx")
}

// startCluster starts Redis, the instances and nginx, waits until nginx
// answers /healthz, and stops them all when the test ends; when the test
// failed, the end of every log is printed.
func startCluster(t *testing.T, cfg clusterConfig) *cluster {
	t.Helper()
	if cfg.Instances == 0 {
		cfg.Instances = 3
	}
	if len(cfg.Keys) == 0 {
		cfg.Keys = []string{randomKey()}
	}
	nginxBin := findNginx(t)
	c := &cluster{dir: t.TempDir()}
	c.Redis = redistest.Standalone(t, redistest.Options{AOF: true})
	// Registered after Standalone's, so it runs first: Redis stops last.
	t.Cleanup(func() { c.cleanup(t) })

	c.secrets = filepath.Join(c.dir, "secrets")
	c.SetKeys(t, cfg.Keys...)
	for k := 1; k <= cfg.Instances; k++ {
		in := &instance{Name: "i" + strconv.Itoa(k)}
		in.proc = &proc{name: in.Name, path: whatsupBin, dir: c.dir, logFile: filepath.Join(c.dir, in.Name+".log")}
		c.Instances = append(c.Instances, in)
	}
	for _, in := range c.Instances {
		c.launchInstance(t, in, cfg.Flags)
	}
	c.launchNginx(t, nginxBin)
	return c
}

// launchInstance starts in on a free port, trying another port when the
// one picked was taken meanwhile.
func (c *cluster) launchInstance(t *testing.T, in *instance, flags []string) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
		in.URL = "http://" + addr
		in.args = append([]string{
			"-addr", addr, "-instance", in.Name,
			"-redis", c.Redis.URL() + "/0",
			"-secrets-file", c.secrets,
			"-insecure-cookie",
		}, flags...)
		if err := in.start(); err != nil {
			t.Fatal(err)
		}
		err := in.waitHTTP(in.URL + "/healthz")
		if err == nil {
			return
		}
		in.kill()
		if logHas(in.logFile, "address already in use") && attempt < 5 {
			continue
		}
		t.Fatalf("%v\n%s", err, tail(in.logFile, 30))
	}
}

// launchNginx renders the shipped configuration with a free port and the
// instances' addresses, and starts nginx in the foreground.
func (c *cluster) launchNginx(t *testing.T, bin string) {
	t.Helper()
	prefix := filepath.Join(c.dir, "nginx")
	if err := os.MkdirAll(prefix, 0o711); err != nil {
		t.Fatal(err)
	}
	// nginx started as root runs its workers as nobody: let them reach the
	// temporary files under the prefix.
	if os.Geteuid() == 0 {
		for d := prefix; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
			os.Chmod(d, 0o711)
		}
	}
	var servers []string
	for _, in := range c.Instances {
		servers = append(servers, "server "+strings.TrimPrefix(in.URL, "http://")+" max_fails=1 fail_timeout=10s;")
	}
	// The static files of the release, under their hashed names, where
	// nginx's /static/ location reads them (as deploy/cluster.sh does).
	staticRoot := filepath.Join(prefix, "static")
	if out, err := exec.Command(whatsupBin, "-write-static", staticRoot).CombinedOutput(); err != nil {
		t.Fatalf("whatsup -write-static: %v\n%s", err, out)
	}
	errorLog := filepath.Join(c.dir, "nginx-error.log")
	c.nginx = &proc{name: "nginx", path: bin, dir: prefix, logFile: filepath.Join(c.dir, "nginx.log")}
	for attempt := 1; ; attempt++ {
		listen := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
		markers := map[string]string{
			"@LISTEN@":           listen,
			"@UPSTREAM_SERVERS@": strings.Join(servers, "\n    "),
			"@PREFIX@":           prefix,
			"@LOGS@":             c.dir,
			"@SITE_CONF@":        filepath.Join(prefix, "site.conf"),
			"@STATIC_ROOT@":      staticRoot,
		}
		renderConf(t, filepath.Join(deployDir, "nginx.conf"), filepath.Join(prefix, "site.conf"), markers)
		renderConf(t, filepath.Join(deployDir, "nginx-dev.conf"), filepath.Join(prefix, "nginx.conf"), markers)
		c.nginx.args = []string{"-p", prefix + "/", "-e", errorLog, "-c", filepath.Join(prefix, "nginx.conf")}
		c.URL = "http://" + listen
		if err := c.nginx.start(); err != nil {
			t.Fatal(err)
		}
		err := c.nginx.waitHTTP(c.URL + "/healthz")
		if err == nil {
			return
		}
		c.nginx.kill()
		if logHas(errorLog, "Address already in use") && attempt < 5 {
			continue
		}
		t.Fatalf("%v\n%s%s", err, tail(errorLog, 30), tail(c.nginx.logFile, 10))
	}
}

// renderConf copies the template to out with the markers replaced on every
// line that is not a comment, as deploy/cluster.sh does.
func renderConf(t testing.TB, template, out string, markers map[string]string) {
	t.Helper()
	b, err := os.ReadFile(template)
	if err != nil {
		t.Fatal(err)
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
			t.Fatalf("%s:%d: marker left unreplaced: %s", template, i+1, line)
		}
		lines[i] = line
	}
	if err := os.WriteFile(out, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
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
	if err := in.stop(); err != nil {
		t.Error(err)
	}
	in.Start(t)
}

// Start starts a stopped or killed instance again on its port and waits
// until it answers /healthz.
func (in *instance) Start(t testing.TB) {
	t.Helper()
	if err := in.start(); err != nil {
		t.Fatal(err)
	}
	if err := in.waitHTTP(in.URL + "/healthz"); err != nil {
		t.Fatalf("%v\n%s", err, tail(in.logFile, 30))
	}
}

// Kill kills the instance with SIGKILL, as a crash would.
func (in *instance) Kill(t testing.TB) {
	t.Helper()
	if err := in.kill(); err != nil {
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
	var errs []error
	if c.nginx != nil {
		errs = append(errs, c.nginx.stop())
	}
	for _, in := range c.Instances {
		errs = append(errs, in.stop())
	}
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		var b strings.Builder
		for _, in := range c.Instances {
			b.WriteString(tail(in.logFile, 25))
		}
		b.WriteString(tail(filepath.Join(c.dir, "nginx-error.log"), 25))
		b.WriteString(tail(filepath.Join(c.dir, "nginx-access.log"), 40))
		t.Logf("e2e: logs of the cluster in %s:\n%s", c.dir, b.String())
	}
}

// timeSince is the elapsed time since start, rounded for logs.
func timeSince(start time.Time) time.Duration {
	return time.Since(start).Round(time.Millisecond)
}
