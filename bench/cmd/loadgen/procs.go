package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// procs starts the processes of one run and stops every one of them, by
// its own pid, when the run ends.
type procs struct {
	dir  string // the run's temporary directory
	mu   sync.Mutex
	list []*exec.Cmd
}

// start runs name with args, its output going to dir/<log>.log.
func (p *procs) start(log, name string, args ...string) (*exec.Cmd, error) {
	f, err := os.Create(filepath.Join(p.dir, log+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	f.Close() // the child holds its own descriptor
	p.mu.Lock()
	p.list = append(p.list, cmd)
	p.mu.Unlock()
	return cmd, nil
}

// stopAll sends SIGTERM to every process started, waits up to 5 s for each,
// then kills what is left.
func (p *procs) stopAll() {
	p.mu.Lock()
	list := p.list
	p.list = nil
	p.mu.Unlock()
	for _, c := range list {
		c.Process.Signal(syscall.SIGTERM)
	}
	for _, c := range list {
		done := make(chan struct{})
		go func() { c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			c.Process.Kill()
			<-done
		}
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startRedis starts a redis-server on a free loopback port with no
// persistence and returns its address and a client to it.
func (p *procs) startRedis(ctx context.Context) (string, *redis.Client, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, fmt.Errorf("redis-server not found: install the Debian package redis-server")
	}
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	dir := filepath.Join(p.dir, "redis")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, err
	}
	if _, err := p.start("redis", bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--dir", dir, "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
		"--maxclients", "20000"); err != nil {
		return "", nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	if err := waitFor(ctx, 10*time.Second, func() error { return rdb.Ping(ctx).Err() }); err != nil {
		rdb.Close()
		return "", nil, fmt.Errorf("redis-server on %s did not answer: %w (see %s)", addr, err, filepath.Join(p.dir, "redis.log"))
	}
	return addr, rdb, nil
}

// startServer starts one benchserver for contender c and waits until it
// answers.
func (p *procs) startServer(ctx context.Context, bin, c, redisAddr string, n int) (addr string, pid int, err error) {
	port, err := freePort()
	if err != nil {
		return "", 0, err
	}
	addr = "127.0.0.1:" + strconv.Itoa(port)
	log := fmt.Sprintf("server-%s-%d", c, n)
	cmd, err := p.start(log, bin, "-contender", c, "-addr", addr, "-redis", redisAddr, "-pprof")
	if err != nil {
		return "", 0, err
	}
	err = waitFor(ctx, 15*time.Second, func() error {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	if err != nil {
		return "", 0, fmt.Errorf("benchserver %s did not start: %w (see %s)", c, err, filepath.Join(p.dir, log+".log"))
	}
	return addr, cmd.Process.Pid, nil
}

// waitFor calls f every 50 ms until it succeeds, ctx is done or d passes.
func waitFor(ctx context.Context, d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
