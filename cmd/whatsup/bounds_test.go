package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stickless/stickless/memstore"
	"github.com/stickless/stickless/session"
)

// TestStoragePerAccountIsBounded: one user logs in 30 times on Redis, and
// each session writes 60 KiB. What the user's sessions hold together never
// passes 1 MiB (session.Config's MaxSessionsPerUser × MaxSize), and a
// write past a session's share gets 413 and changes nothing.
func TestStoragePerAccountIsBounded(t *testing.T) {
	const bound = 1 << 20
	d, _ := newRedisDemo(t)
	blob := `{"blob":"` + strings.Repeat("x", 60<<10) + `"}`
	more := `{"more":"` + strings.Repeat("y", 8<<10) + `"}`
	// stored returns what the live sessions of the test's browsers hold,
	// in bytes as MaxSize counts them (names plus JSON values), and how
	// many sessions are live. Every session of the user belongs to one of
	// them; an ended one answers an empty, anonymous session.
	var browsers []*http.Client
	stored := func() (bytes, live int) {
		for _, c := range browsers {
			r := d.do(c, "GET", "/api/session", "", "")
			var vals map[string]json.RawMessage
			if r.code != http.StatusOK || json.Unmarshal([]byte(r.body), &vals) != nil {
				t.Fatalf("GET /api/session: %d %s", r.code, r.body)
			}
			if len(vals) > 0 {
				live++
			}
			for k, v := range vals {
				bytes += len(k) + len(v)
			}
		}
		return bytes, live
	}
	refused := 0
	for i := range 30 {
		c := d.client()
		browsers = append(browsers, c)
		if r := d.login(c, "mallory"); r.code != http.StatusSeeOther {
			t.Fatalf("login %d: %d %s", i, r.code, r.body)
		}
		if r := d.do(c, "POST", "/api/session", "application/json", blob); r.code != http.StatusOK {
			t.Fatalf("login %d: the 60 KiB write: %d %s", i, r.code, r.body)
		}
		if r := d.do(c, "POST", "/api/session", "application/json", more); r.code == http.StatusRequestEntityTooLarge {
			refused++
		} else {
			t.Errorf("login %d: a write past the session's share: %d %s, want 413", i, r.code, r.body)
		}
		n, live := stored()
		if n > bound {
			t.Fatalf("after login %d the user's %d sessions hold %d bytes, over the bound of %d", i, live, n, bound)
		}
		if i == 29 {
			t.Logf("after 30 logins: %d live sessions hold %d bytes (bound %d); %d writes past a share refused", live, n, bound, refused)
		}
	}
	for _, c := range browsers {
		r := d.do(c, "GET", "/api/session", "", "")
		if strings.Contains(r.body, `"more"`) {
			t.Fatal("a refused write was stored")
		}
	}
}

// loadCounter is the embedded store, counting its Load calls.
type loadCounter struct {
	*memstore.Store
	loads atomic.Int64
}

func (c *loadCounter) Load(ctx context.Context, key string, lim session.Limits) (session.Record, bool, error) {
	c.loads.Add(1)
	return c.Store.Load(ctx, key, lim)
}

// TestHealthzCostsOneStoreCallPerSecond: 300 anonymous GET /healthz, 30 at
// a time, cost the store at most one call per second that they took (plus
// the first), and each answers ok.
func TestHealthzCostsOneStoreCallPerSecond(t *testing.T) {
	st := &loadCounter{Store: memstore.New(memstore.Options{})}
	t.Cleanup(func() { st.Close() })
	m := session.New(st, session.Config{Keys: [][]byte{testKey}, InsecureCookie: true})
	srv := httptest.NewServer(newApp(m, "test-1").handler())
	t.Cleanup(srv.Close)
	d := &demo{t: t, srv: srv, store: st.Store}

	start := time.Now()
	var wg sync.WaitGroup
	var bad atomic.Int64
	for range 30 {
		wg.Go(func() {
			c := d.client()
			for range 10 {
				if r := d.do(c, "GET", "/healthz", "", ""); r.code != http.StatusOK || r.body != "ok\n" {
					bad.Add(1)
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	loads := st.loads.Load()
	allowed := int64(took/healthEvery) + 1
	t.Logf("300 health checks in %v: %d store calls", took.Round(time.Millisecond), loads)
	if bad.Load() > 0 {
		t.Errorf("%d health checks did not answer ok", bad.Load())
	}
	if loads < 1 || loads > allowed {
		t.Errorf("300 health checks in %v made %d store calls, want 1 to %d (one per second)", took, loads, allowed)
	}
}
