package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/redis/rueidis"
	"github.com/stickless/stickless/redisstore"
)

// scanCount is the COUNT of every SCAN: how many slots of the key space
// one call walks, so that no call holds Redis for long.
const scanCount = 1000

// rawClient opens a plain rueidis client on the store's Redis, for the
// commands that walk the key space.
func (e *env) rawClient() (rueidis.Client, error) {
	if err := e.needRedis(); err != nil {
		return nil, err
	}
	opt, err := redisstore.ParseURL(e.redisURL)
	if err != nil {
		return nil, usageErr("-redis: %v", err)
	}
	opt.ClientName = "sessionctl"
	opt.DisableCache = true
	if opt.Dialer.Timeout == 0 {
		opt.Dialer.Timeout = e.timeout
	}
	c, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("cannot reach Redis: %w", err)
	}
	return c, nil
}

// masters returns a client for each master of c: the one server of a
// standalone or Sentinel setup, every master of a Cluster (replicas hold
// the same keys and are skipped). They come sorted by address.
func masters(ctx context.Context, c rueidis.Client, timeout time.Duration) ([]rueidis.Client, []string, error) {
	nodes := c.Nodes()
	addrs := make([]string, 0, len(nodes))
	for a := range nodes {
		addrs = append(addrs, a)
	}
	slices.Sort(addrs)
	var out []rueidis.Client
	var names []string
	for _, a := range addrs {
		n := nodes[a]
		cctx, cancel := context.WithTimeout(ctx, timeout)
		role, err := n.Do(cctx, n.B().Role().Build()).ToArray()
		cancel()
		if err != nil {
			return nil, nil, fmt.Errorf("ROLE on %s: %w", a, err)
		}
		if r, _ := role[0].ToString(); r == "master" {
			out = append(out, n)
			names = append(names, a)
		}
	}
	if len(out) == 0 {
		return nil, nil, fmt.Errorf("no Redis master found among %d node(s)", len(nodes))
	}
	return out, names, nil
}

// redisNow returns the Redis server's clock in Unix milliseconds: the
// store's deadlines follow it.
func redisNow(ctx context.Context, c rueidis.Client) (int64, error) {
	t, err := c.Do(ctx, c.B().Time().Build()).AsIntSlice()
	if err != nil || len(t) != 2 {
		return 0, fmt.Errorf("TIME: %v", err)
	}
	return t[0]*1000 + t[1]/1000, nil
}

// scanAll walks the keys matching pattern on every master with SCAN
// (COUNT scanCount), and calls batch with each non-empty batch of keys.
func scanAll(ctx context.Context, e *env, nodes []rueidis.Client, pattern string, bar *progress, batch func([]string) error) error {
	for i, n := range nodes {
		var cursor uint64
		for {
			cctx, cancel := context.WithTimeout(ctx, e.timeout)
			se, err := n.Do(cctx, n.B().Scan().Cursor(cursor).Match(pattern).Count(scanCount).Build()).AsScanEntry()
			cancel()
			if err != nil {
				return fmt.Errorf("SCAN: %w", err)
			}
			if len(se.Elements) > 0 {
				if err := batch(se.Elements); err != nil {
					return err
				}
			}
			cursor = se.Cursor
			if cursor == 0 {
				break
			}
			bar.set(i, len(nodes), scanFraction(cursor))
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		bar.set(i+1, len(nodes), 0)
	}
	bar.done()
	return nil
}

// scanFraction estimates how much of a node's key space a SCAN has walked
// when it returns cursor: Redis walks its table in reverse binary order,
// so the cursor's bits reversed count the buckets done, from the top.
func scanFraction(cursor uint64) float64 {
	return float64(bits.Reverse64(cursor)) / math.Exp2(64)
}

// progress draws a progress bar on stderr, only when stderr is a terminal.
type progress struct {
	w     io.Writer
	on    bool
	label string
	count func() string // what was found so far, shown after the bar
	last  time.Time
}

func newProgress(e *env, label string, count func() string) *progress {
	p := &progress{w: e.stderr, label: label, count: count}
	if f, ok := e.stderr.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.on = true
		}
	}
	return p
}

// set shows node done of nodes, plus frac of the next one.
func (p *progress) set(done, nodes int, frac float64) {
	if !p.on || time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	f := (float64(done) + frac) / float64(nodes)
	const width = 30
	n := int(f * width)
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = '.'
		if i < n {
			bar[i] = '#'
		}
	}
	fmt.Fprintf(p.w, "\r%s [%s] %3d%%  %s ", p.label, bar, int(f*100), p.count())
}

func (p *progress) done() {
	if p.on && !p.last.IsZero() {
		fmt.Fprintf(p.w, "\r%s [%s] 100%%  %s\n", p.label, "##############################", p.count())
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
