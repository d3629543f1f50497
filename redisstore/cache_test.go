package redisstore

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stickless/stickless/internal/redistest"
	"github.com/stickless/stickless/internal/testenv"
	"github.com/stickless/stickless/session"
)

// cached configures a store with the client-side cache on, under the
// client name name (to find its connections in CLIENT LIST).
func cached(name string) Options {
	return Options{ClientCache: true, Client: rueidis.ClientOption{ClientName: name}}
}

// cacheRounds checks two stores with the client-side cache on, a and b, on
// srv: b's repeated reads of an unchanged session send Redis no command,
// and after each Update on a, b's reads see the update within a bound
// (the cache's window: see TestClientCacheWindow for its measure).
func cacheRounds(t *testing.T, srv *redistest.Server, a, b *Store) {
	t.Helper()
	ctx := t.Context()
	key := newKey()
	if err := a.tcreate(ctx, key, session.Write{Set: vals("n", "0")}, long); err != nil {
		t.Fatal(err)
	}
	const rounds = 20
	for i := range rounds {
		b.Load(ctx, key, long) // cached
		srv.ResetStats(t)
		for range 10 {
			rec, ok, err := b.Load(ctx, key, long)
			if err != nil || !ok {
				t.Fatalf("round %d: Load on b: %v %v", i, ok, err)
			}
			if got, want := rec.Values["n"], strconv.Itoa(i); got != want {
				t.Fatalf("round %d: b read n = %s, want %s", i, got, want)
			}
		}
		if stats := srv.CommandStats(t); own(stats) != 0 {
			t.Fatalf("round %d: reads of an unchanged cached session sent Redis %v", i, stats)
		}
		if ok, err := a.tupdate(ctx, key, session.Write{Set: vals("n", strconv.Itoa(i+1))}, long); err != nil || !ok {
			t.Fatalf("round %d: Update on a: %v %v", i, ok, err)
		}
		want := strconv.Itoa(i + 1)
		deadline := time.Now().Add(5 * time.Second)
		for {
			rec, ok, err := b.Load(ctx, key, long)
			if err != nil || !ok {
				t.Fatalf("round %d: Load on b: %v %v", i, ok, err)
			}
			if rec.Values["n"] == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: b still reads n = %s 5 s after a wrote %s", i, rec.Values["n"], want)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

func TestClientCacheRounds(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{})
	cacheRounds(t, srv, newStore(t, srv.URL(), cached("a")), newStore(t, srv.URL(), cached("b")))
}

// windowEnv carries the writer's configuration to the child process of
// TestClientCacheWindow: the Redis URL, the session key and the number of
// writes.
const windowEnv = "STICKLESS_CACHE_WINDOW_WRITER"

// TestClientCacheWindow measures the client-side cache's window across
// processes, under load: a second process (this test binary again, as
// TestClientCacheWindowWriter) writes a session 300 times and then
// destroys it, and prints the moment each write was acknowledged; this
// process reads the session from its cache in a loop, with other
// sessions read and written meanwhile, and notes the moment it first saw
// each value, and the session gone. The window of a write is from its
// acknowledgement to that moment (0 when the read saw it first). The test
// logs p50, p99 and max; it fails only when a write is never seen (or the
// session never seen gone), which a cache that cannot be invalidated
// would do.
func TestClientCacheWindow(t *testing.T) {
	testenv.Require(t, "redis-server", "redis-server")
	if testing.Short() {
		t.Skip("-short: the cache window is measured in the full run")
	}
	srv := redistest.Standalone(t, redistest.Options{})
	reader := newStore(t, srv.URL(), cached("window-reader"))
	ctx := t.Context()
	key := newKey()
	const writes = 300
	if err := reader.tcreate(ctx, key, session.Write{Set: vals("n", "0")}, long); err != nil {
		t.Fatal(err)
	}
	// Load on this process: other sessions read (cached) and written.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		other := newKey()
		if err := reader.tcreate(ctx, other, session.Write{Set: vals("n", "0")}, long); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if w == 0 && i%50 == 0 {
					reader.tupdate(ctx, other, session.Write{Set: vals("n", strconv.Itoa(i))}, long)
				} else {
					reader.Load(ctx, other, long)
				}
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()

	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestClientCacheWindowWriter$", "-test.v")
	cmd.Env = append(os.Environ(), windowEnv+"="+srv.URL()+" "+key+" "+strconv.Itoa(writes))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acks := make(chan []int64, 1)
	go func() {
		var a []int64
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "ack" {
				ns, _ := strconv.ParseInt(f[2], 10, 64)
				a = append(a, ns)
			}
		}
		acks <- a
	}()
	// seen[i] is when a read first saw value i or a later one; seen[writes+1]
	// when it first found the session gone.
	seen := make([]int64, writes+2)
	last := 0
	deadline := time.Now().Add(60 * time.Second)
	for last <= writes && time.Now().Before(deadline) {
		rec, found, err := reader.Load(ctx, key, long)
		now := time.Now().UnixNano()
		if err != nil {
			t.Fatal(err)
		}
		v := writes + 1
		if found {
			v, _ = strconv.Atoi(rec.Values["n"])
		}
		for ; last < v; last++ {
			seen[last+1] = now
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("writer: %v", err)
	}
	ack := <-acks
	if len(ack) != writes+1 {
		t.Fatalf("the writer acknowledged %d writes and destroys, want %d", len(ack), writes+1)
	}
	if last <= writes {
		t.Fatalf("the reader saw %d of %d writes (and the destroy) within 60 s: its cache was not invalidated", last, writes+1)
	}
	var windows []time.Duration
	for i, a := range ack {
		windows = append(windows, time.Duration(max(seen[i+1]-a, 0)))
	}
	slices.Sort(windows)
	q := func(p float64) time.Duration { return windows[min(len(windows)-1, int(p*float64(len(windows))))] }
	t.Logf("client-side cache window over %d writes and a destroy, across processes, under load: p50 %v, p99 %v, max %v",
		len(windows), q(0.5), q(0.99), windows[len(windows)-1])
	t.Logf("after the destroy was acknowledged, the other process still read the session for %v",
		time.Duration(max(seen[writes+1]-ack[writes], 0)))
}

// TestClientCacheWindowWriter is the writer of TestClientCacheWindow, in a
// process of its own; it skips unless that test started it.
func TestClientCacheWindowWriter(t *testing.T) {
	cfg := strings.Fields(os.Getenv(windowEnv))
	if len(cfg) != 3 {
		t.Skip("the writer of TestClientCacheWindow, run by it")
	}
	url, key := cfg[0], cfg[1]
	writes, _ := strconv.Atoi(cfg[2])
	s := newStore(t, url, Options{})
	ctx := t.Context()
	for i := 1; i <= writes; i++ {
		if ok, err := s.tupdate(ctx, key, session.Write{Set: vals("n", strconv.Itoa(i))}, long); err != nil || !ok {
			t.Fatalf("write %d: %v %v", i, ok, err)
		}
		fmt.Printf("ack %d %d\n", i, time.Now().UnixNano())
		time.Sleep(time.Duration(1+i%5) * time.Millisecond)
	}
	if err := s.Destroy(ctx, key); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("ack %d %d\n", writes+1, time.Now().UnixNano())
}
