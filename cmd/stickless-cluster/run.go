package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/stickless/stickless/internal/redistest"
	"github.com/stickless/stickless/internal/testenv"
	"github.com/stickless/stickless/internal/topology"
)

// Run starts the topology, prints it, and runs until ctx is done (Ctrl-C)
// or nginx dies; then it stops everything.
func Run(ctx context.Context, out io.Writer) error {
	say := func(format string, args ...any) { fmt.Fprintf(out, "cluster: "+format+"\n", args...) }
	root, err := repoRoot()
	if err != nil {
		return err
	}
	s, err := settingsFromEnv(root)
	if err != nil {
		return err
	}
	if err := checkPorts(s); err != nil {
		return err
	}
	// The state kept between runs: secrets and passwords (0600 files in a
	// 0700 directory), the standalone Redis's AOF, the logs.
	logs := filepath.Join(s.state, "logs")
	if err := os.MkdirAll(logs, 0o700); err != nil {
		return err
	}
	os.Chmod(s.state, 0o700)
	secrets := filepath.Join(s.state, "secrets")
	made, err := ensureSecret(secrets, signingKeysHeader)
	if err != nil {
		return err
	}
	if made {
		say("generated the signing key in %s", secrets)
	}
	cfg := topology.Config{
		Mode:            s.mode,
		LogDir:          logs,
		RedisDir:        filepath.Join(s.state, "redis"),
		DeployDir:       filepath.Join(root, "deploy"),
		RedisURL:        s.redisURL,
		Instances:       s.instances,
		AppFlags:        s.appFlags,
		AppPortBase:     s.appPortBase,
		Secrets:         secrets,
		HTTPPort:        s.httpPort,
		MetricsFlag:     s.metricsFlag,
		MetricsPortBase: s.metricsBase,
		PrometheusPort:  s.prometheusPort,
		Logf:            func(format string, args ...any) { say(format, args...) },
	}
	cfg.Redis = redistest.Options{Include: filepath.Join(root, "deploy", "redis.conf"), Port: s.redisPort}
	if s.redisURL == "" {
		for _, p := range []struct{ file, header string }{
			{"redis-admin-password", adminPasswordHeader},
			{"redis-password", appPasswordHeader},
		} {
			f := filepath.Join(s.state, p.file)
			if made, err := ensureSecret(f, p.header); err != nil {
				return err
			} else if made {
				say("generated a Redis password in %s", f)
			}
		}
		if cfg.AdminPassword, err = readSecret(filepath.Join(s.state, "redis-admin-password")); err != nil {
			return err
		}
		if cfg.AppPassword, err = readSecret(filepath.Join(s.state, "redis-password")); err != nil {
			return err
		}
	}
	if s.prometheus {
		if _, err := exec.LookPath("prometheus"); err == nil {
			cfg.Prometheus = true
		} else {
			say("prometheus is not installed (apt-get install -y prometheus): starting without it")
		}
	}

	run, err := os.MkdirTemp("", "stickless-cluster-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(run)
	// nginx's workers drop root privileges: let them reach their files.
	os.Chmod(run, 0o711)
	cfg.Dir = run
	if cfg.AppBin = s.appBin; cfg.AppBin == "" {
		say("building %s", s.appPkg)
		if cfg.AppBin, err = build(s, filepath.Join(run, "bin")); err != nil {
			return err
		}
	}

	topo, err := topology.Start(cfg)
	if err != nil {
		return err
	}
	defer func() {
		say("stopping nginx, the instances and Redis")
		if err := topo.Close(); err != nil {
			say("%v", err)
		}
		say("stopped; logs are in %s", logs)
	}()
	fmt.Fprint(out, describe(topo, s, secrets))

	// Run until a signal comes. An instance or Redis that dies is reported
	// and the rest goes on, so that you can watch nginx skip a dead
	// instance, or a failover; when nginx dies, all stops.
	reported := make(map[*testenv.Proc]bool)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if topo.Nginx.Exited() {
			return fmt.Errorf("nginx exited; the end of its log:\n%s", testenv.Tail(filepath.Join(logs, "nginx-error.log"), 10))
		}
		for _, in := range topo.Instances {
			if in.Exited() && !reported[in.Proc] {
				reported[in.Proc] = true
				say("%s (pid gone) exited; the end of its log:\n%s", in.Name, in.Tail(5))
			}
			if in.Running() {
				reported[in.Proc] = false
			}
		}
	}
}

// repoRoot finds the repository: the directory above deploy/ that holds
// go.mod, from the working directory up.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "deploy", "nginx.conf")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("run from inside the stickless repository (no deploy/nginx.conf above %s)", dir)
		}
	}
}

// checkPorts fails when a port the run needs is taken, naming the variable
// that moves it.
func checkPorts(s settings) error {
	busy := func(p int) bool {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p), 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	if busy(s.httpPort) {
		return fmt.Errorf("port %d is in use (another make cluster?): set STICKLESS_HTTP_PORT", s.httpPort)
	}
	for k := range s.instances {
		if p := s.appPortBase + k; busy(p) {
			return fmt.Errorf("port %d (instance i%d) is in use: set STICKLESS_APP_PORT_BASE", p, k+1)
		}
	}
	if s.redisURL == "" {
		var ports []int
		switch s.mode {
		case topology.Standalone:
			ports = []int{s.redisPort}
		case topology.Sentinel:
			ports = []int{s.redisPort, s.redisPort + 1, s.redisPort + 2, s.redisPort + 20000, s.redisPort + 20001, s.redisPort + 20002}
		case topology.Cluster:
			for i := range 6 {
				ports = append(ports, s.redisPort+i, s.redisPort+i+testenv.ClusterBusOffset)
			}
		}
		for _, p := range ports {
			if busy(p) {
				return fmt.Errorf("port %d is in use: set STICKLESS_REDIS_PORT (Redis takes ports from it on), or STICKLESS_REDIS_URL to use that Redis", p)
			}
		}
	}
	return nil
}

// build builds the instance binary (s.appPkg, in the module that holds it)
// into dir.
func build(s settings, dir string) (string, error) {
	pkg := filepath.Join(s.root, s.appPkg)
	mod := pkg
	for {
		if _, err := os.Stat(filepath.Join(mod, "go.mod")); err == nil {
			break
		}
		if mod == s.root || filepath.Dir(mod) == mod {
			mod = s.root
			break
		}
		mod = filepath.Dir(mod)
	}
	rel, err := filepath.Rel(mod, pkg)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command(s.goCmd, "build", "-o", bin, "./"+filepath.ToSlash(rel))
	cmd.Dir = mod
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %v\n%s", s.appPkg, err, out)
	}
	return bin, nil
}

const (
	signingKeysHeader = `# stickless cookie signing keys, one per line; the first signs, all verify.
# Generated by make cluster. To rotate: add a new key as the first line and
# restart the instances; remove the old one after the absolute session
# timeout (cookies signed with it stop working).
`
	adminPasswordHeader = `# The password of the Redis ACL user "admin" (every right) of make cluster:
# redis-cli -p 6390 --user admin --pass "$(tail -n1 THIS_FILE)"
`
	appPasswordHeader = `# The password of the Redis ACL user "stickless" that the instances use
# (the store's keys and commands only; see internal/topology/acl.go).
`
)

// ensureSecret writes header and 32 random bytes in hex into file, mode
// 0600, unless it exists; it reports whether it wrote it.
func ensureSecret(file, header string) (bool, error) {
	if st, err := os.Stat(file); err == nil && st.Size() > 0 {
		return false, nil
	}
	b := make([]byte, 32)
	rand.Read(b)
	tmp := file + ".new"
	if err := os.WriteFile(tmp, []byte(header+hex.EncodeToString(b)+"\n"), 0o600); err != nil {
		return false, err
	}
	return true, os.Rename(tmp, file)
}

// readSecret returns the last non-comment line of file.
func readSecret(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	var last string
	for line := range strings.Lines(string(b)) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			last = line
		}
	}
	if last == "" {
		return "", errors.New(file + ": no secret in it")
	}
	return last, nil
}
