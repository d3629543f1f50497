package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stickless/stickless/internal/redistest"
	"github.com/stickless/stickless/internal/testenv"
)

// procs starts the processes of one run through the repository's one
// process supervisor (internal/testenv.Proc: own process group, killed with
// the load driver) and stops every one of them, by its own pid, when the
// run ends.
type procs struct {
	dir   string // the run's temporary directory
	mu    sync.Mutex
	list  []*testenv.Proc
	redis []*redistest.Server
}

// start runs name with args, its output going to dir/<log>.log.
func (p *procs) start(log, name string, args ...string) (*testenv.Proc, error) {
	pr := &testenv.Proc{Name: log, Path: name, Args: args, LogFile: filepath.Join(p.dir, log+".log")}
	if err := pr.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p.mu.Lock()
	p.list = append(p.list, pr)
	p.mu.Unlock()
	return pr, nil
}

// stopAll stops every process started, all at once: SIGTERM, then SIGKILL
// after testenv.StopTimeout; Redis last.
func (p *procs) stopAll() {
	p.mu.Lock()
	list, redis := p.list, p.redis
	p.list, p.redis = nil, nil
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, pr := range list {
		wg.Go(func() { pr.Stop() })
	}
	wg.Wait()
	for _, s := range redis {
		s.StopErr()
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

// startRedis starts a redis-server (internal/redistest) on a free loopback
// port with no persistence and returns its address and a client to it.
func (p *procs) startRedis(ctx context.Context) (string, *redis.Client, error) {
	dir := filepath.Join(p.dir, "redis")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, err
	}
	s, err := redistest.StartStandalone(dir, redistest.Options{ExtraConfig: []string{"maxclients 20000"}})
	if err != nil {
		return "", nil, err
	}
	p.mu.Lock()
	p.redis = append(p.redis, s)
	p.mu.Unlock()
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr})
	if err := waitFor(ctx, 10*time.Second, func() error { return rdb.Ping(ctx).Err() }); err != nil {
		rdb.Close()
		return "", nil, fmt.Errorf("redis-server on %s did not answer: %w (see %s)", s.Addr, err, s.LogFile)
	}
	return s.Addr, rdb, nil
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
	pr, err := p.start(log, bin, "-contender", c, "-addr", addr, "-redis", redisAddr, "-pprof")
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
	return addr, pr.Pid(), nil
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
