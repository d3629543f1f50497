package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stickless/stickless/internal/testenv"
)

// dbsize is the number of keys in the cluster's Redis (database 0, the one
// the instances use).
func (c *cluster) dbsize(t testing.TB) int {
	t.Helper()
	return len(c.Redis.Keys(t))
}

// TestAnonymousWritesStoreNothing: 200 anonymous 32 KiB writes to
// POST /api/session, through nginx and straight to each instance, add no
// key to Redis. Each is refused: 401 from the instance, or 429 from nginx's
// rate limit.
func TestAnonymousWritesStoreNothing(t *testing.T) {
	c := startCluster(t, clusterConfig{})
	before := c.dbsize(t)
	body := `{"blob":"` + strings.Repeat("x", 32<<10) + `"}`
	targets := c.Targets()
	codes := make(map[string]int)
	var mu sync.Mutex
	var wg sync.WaitGroup
	jobs := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range jobs {
				target := targets[i%len(targets)]
				hdr := http.Header{"Content-Type": {"application/json"}}
				if i%2 == 0 {
					hdr.Set("Accept", "application/json")
				}
				// A fresh client each time: no cookie, as a script sends.
				r, err := newClient(t, "script").do("POST", target+"/api/session", body, hdr)
				mu.Lock()
				if err != nil {
					codes[err.Error()]++
				} else {
					codes[fmt.Sprintf("%d via %s", r.Code, strings.TrimPrefix(target, "http://"))]++
					if r.Code != http.StatusUnauthorized && !(r.Code == http.StatusTooManyRequests && target == c.URL) {
						t.Errorf("anonymous write %d to %s: %v, want 401 (or 429 through nginx)", i, target, r)
					}
				}
				mu.Unlock()
			}
		})
	}
	for i := range 200 {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	t.Logf("answers: %v", codes)
	if after := c.dbsize(t); after != before {
		t.Fatalf("200 anonymous writes: %d Redis keys before, %d after; want none added", before, after)
	}
}

// TestLoginBurstIsLimited: 100 POST /login from one address at once
// through nginx get 429s, while the login form, a logged-in user's pages
// and (once the burst is spent) a normal login still work.
func TestLoginBurstIsLimited(t *testing.T) {
	c := startCluster(t, clusterConfig{})
	olga := newClient(t, "olga's browser")
	olga.login(t, c.URL, "olga")

	form := url.Values{"name": {"bot"}}.Encode()
	var (
		mu      sync.Mutex
		codes   = make(map[int]int)
		retryOK = true
		wg      sync.WaitGroup
	)
	jobs := make(chan int)
	for range 10 {
		wg.Go(func() {
			for range jobs {
				r, err := newClient(t, "bot").do("POST", c.URL+"/login", form,
					http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
				mu.Lock()
				if err != nil {
					t.Errorf("POST /login: %v", err)
				} else {
					codes[r.Code]++
					if r.Code == http.StatusTooManyRequests && r.Header.Get("Retry-After") == "" {
						retryOK = false
					}
				}
				mu.Unlock()
			}
		})
	}
	for i := range 100 {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	t.Logf("100 logins at once from one address: %v", codes)
	if codes[http.StatusTooManyRequests] == 0 {
		t.Fatalf("100 logins at once: no 429 (%v)", codes)
	}
	if codes[http.StatusSeeOther] == 0 || codes[http.StatusSeeOther]+codes[http.StatusTooManyRequests] != 100 {
		t.Errorf("100 logins at once: %v, want only 303s (the burst) and 429s", codes)
	}
	if !retryOK {
		t.Error("a 429 without Retry-After")
	}

	// Meanwhile: the form and a logged-in user's pages are not limited.
	if r := newClient(t, "visitor").mustGet(t, c.URL+"/login"); r.Code != http.StatusOK {
		t.Errorf("GET /login after the burst: %v", r)
	}
	if r := olga.mustGet(t, c.URL+"/"); r.Code != http.StatusOK || !strings.Contains(r.Body, greeting("olga")) {
		t.Errorf("olga's page after the burst: %v", r)
	}

	// Afterwards: a person's login goes through once the rate allows one
	// more (one every 2 s); the bound only catches a limit that never lets go.
	paula := newClient(t, "paula's browser")
	start := time.Now()
	err := testenv.Eventually(30*time.Second, 500*time.Millisecond, func() error {
		r, err := paula.do("POST", c.URL+"/login", url.Values{"name": {"paula"}}.Encode(),
			http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
		if err != nil {
			return err
		}
		if r.Code != http.StatusSeeOther {
			return fmt.Errorf("login: %v", r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a normal login went through %v after the burst", timeSince(start))
	if w := paula.mustWhoami(t, c.URL); w.name() != "paula" {
		t.Fatalf("after her login paula is %q", w.name())
	}
}

// TestAPIFloodIsLimited: a flood of API calls from one address, 64 at a
// time, meets 429s from nginx; calls one after the other do not.
func TestAPIFloodIsLimited(t *testing.T) {
	c := startCluster(t, clusterConfig{})
	quinn := newClient(t, "quinn's browser")
	quinn.login(t, c.URL, "quinn")
	for i := range 20 {
		if r := quinn.mustGet(t, c.URL+"/api/whoami"); r.Code != http.StatusOK {
			t.Fatalf("call %d one after the other: %v", i, r)
		}
	}
	var (
		mu    sync.Mutex
		codes = make(map[int]int)
		wg    sync.WaitGroup
	)
	jobs := make(chan int)
	for range 64 {
		wg.Go(func() {
			cl := newClient(t, "flood")
			for range jobs {
				r, err := cl.get(c.URL + "/api/whoami")
				mu.Lock()
				if err != nil {
					t.Errorf("GET /api/whoami: %v", err)
				} else {
					codes[r.Code]++
				}
				mu.Unlock()
			}
		})
	}
	for i := range 500 {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	t.Logf("500 API calls, 64 at a time: %v", codes)
	if codes[http.StatusTooManyRequests] == 0 {
		t.Fatalf("no 429 in the flood: %v", codes)
	}
	if codes[http.StatusOK]+codes[http.StatusTooManyRequests] != 500 {
		t.Errorf("answers other than 200 and 429: %v", codes)
	}
}
