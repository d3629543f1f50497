package prom_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stickless/stickless/internal/redistest"
	"github.com/stickless/stickless/internal/testenv"
	"github.com/stickless/stickless/prom"
	"github.com/stickless/stickless/redisstore"
	"github.com/stickless/stickless/session"
)

var testKey = []byte("prom test signing key, 32 bytes or more")

// sample returns the value of the counter, or the sample count of the
// histogram, name{labels} in reg (pairs of label name and value); 0 when
// absent.
func sample(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue metrics
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue() == value
		}
	}
	return false
}

// testApp is a small app on the session API: login, read, logout, a large
// write, revoke-all.
func testApp(m *session.Manager) http.Handler {
	mux := http.NewServeMux()
	sess := func(r *http.Request) *session.Session { return session.FromContext(r.Context()) }
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		sess(r).Login(r.FormValue("user"))
	})
	mux.HandleFunc("GET /user", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, sess(r).User())
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		sess(r).Destroy()
	})
	mux.HandleFunc("POST /big", func(w http.ResponseWriter, r *http.Request) {
		if err := sess(r).Put("big", strings.Repeat("x", 2000)); err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		}
	})
	mux.HandleFunc("POST /revoke-all", func(w http.ResponseWriter, r *http.Request) {
		if _, err := m.RevokeAll(r.Context(), sess(r).User()); err != nil {
			session.Error(w, r, err)
		}
	})
	return m.Handler(mux)
}

// TestMetricsOnRedis makes real requests against a real Redis and checks
// that every metric moves by what the requests did.
func TestMetricsOnRedis(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	store, err := redisstore.NewFromURL(ctx, srv.URL(), redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	reg := prom.NewRegistry()
	metrics := prom.New(reg, prom.Options{})
	m := session.New(store, session.Config{
		Keys: [][]byte{testKey}, InsecureCookie: true, MaxSize: 1000,
		StoreTimeout: 500 * time.Millisecond, Observer: metrics.Observer(),
		Logger: slog.New(slog.DiscardHandler),
	})
	ts := httptest.NewServer(testApp(m))
	defer ts.Close()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	do := func(c *http.Client, method, path string, cookie string, want int) {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+path, nil)
		if cookie != "" {
			req.Header.Set("Cookie", "session="+cookie)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d, want %d", method, path, resp.StatusCode, want)
		}
	}
	plain := &http.Client{Timeout: 10 * time.Second}
	cookie := func() string {
		for _, c := range jar.Cookies(mustURL(t, ts.URL)) {
			if c.Name == "session" {
				return c.Value
			}
		}
		t.Fatal("no session cookie in the jar")
		return ""
	}

	// sel names one series: its metric and its labels as "k,v,k,v".
	type sel struct{ name, labels string }
	requests := func(o string) sel { return sel{prom.RequestsName, "outcome," + o} }
	call := func(op, r string) sel { return sel{prom.StoreName, "op," + op + ",result," + r} }
	event := func(e string) sel { return sel{prom.EventsName, "event," + e} }
	unavailable := sel{prom.UnavailableName, ""}
	watched := []sel{
		requests("none"), requests("invalid"), requests("live"), requests("missing"),
		call("Load", "ok"), call("Load", "not_found"), call("Load", "unavailable"), call("Create", "ok"),
		call("Update", "ok"), call("Renew", "ok"), call("Destroy", "ok"), call("DestroyUser", "ok"),
		event("created"), event("renewed"), event("login"), event("destroyed"), event("revoked"), event("too_large"),
		unavailable,
	}
	snapshot := func() map[sel]float64 {
		out := map[sel]float64{}
		for _, s := range watched {
			out[s] = sample(t, reg, s.name, strings.Split(s.labels, ",")...)
		}
		return out
	}
	key := func(s sel) string { return s.name + "{" + s.labels + "}" }
	const forged = 9
	var old string
	steps := []struct {
		name string
		run  func()
		want map[sel]float64 // the deltas; every other watched series stays
	}{
		{"login", func() { do(browser, "POST", "/login?user=ann", "", 200) },
			map[sel]float64{requests("none"): 1, call("Create", "ok"): 1, event("created"): 1, event("login"): 1}},
		{"three reads", func() {
			for range 3 {
				do(browser, "GET", "/user", "", 200)
			}
		}, map[sel]float64{requests("live"): 3, call("Load", "ok"): 3}},
		{"forged cookies", func() {
			good := cookie()
			for i := range forged {
				b := []byte(good)
				b[len(b)-1-i] ^= 1
				do(plain, "GET", "/user", string(b), 200)
			}
		}, map[sel]float64{requests("invalid"): forged}},
		{"a write refused", func() { do(browser, "POST", "/big", "", 413) },
			map[sel]float64{requests("live"): 1, call("Load", "ok"): 1, event("too_large"): 1}},
		{"logout, then the old cookie", func() {
			old = cookie()
			do(browser, "POST", "/logout", "", 200)
			do(plain, "GET", "/user", old, 200)
		}, map[sel]float64{requests("live"): 1, call("Load", "ok"): 1, call("Destroy", "ok"): 1, event("destroyed"): 1,
			requests("missing"): 1, call("Load", "not_found"): 1}},
		{"revoke-all of two sessions", func() {
			do(plain, "POST", "/login?user=bob", "", 200)
			do(browser, "POST", "/login?user=bob", "", 200)
			do(browser, "POST", "/revoke-all", "", 200)
		}, map[sel]float64{requests("none"): 2, call("Create", "ok"): 2, event("created"): 2, event("login"): 2,
			requests("live"): 1, call("Load", "ok"): 1, call("DestroyUser", "ok"): 1, event("revoked"): 2}},
		{"Redis down", func() {
			do(browser, "POST", "/login?user=cy", "", 200)
			srv.Stop(t)
			do(browser, "GET", "/user", "", 503)
			do(browser, "GET", "/user", "", 503)
		}, map[sel]float64{requests("missing"): 1, call("Load", "not_found"): 1, call("Create", "ok"): 1,
			event("created"): 1, event("login"): 1, call("Load", "unavailable"): 2, unavailable: 2}},
	}
	for _, st := range steps {
		before := snapshot()
		st.run()
		after := snapshot()
		for _, s := range watched {
			if got, want := after[s]-before[s], st.want[s]; got != want {
				t.Errorf("%s: %s moved by %v, want %v", st.name, key(s), got, want)
			}
		}
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestObserverDoesNotAllocate(t *testing.T) {
	metrics := prom.New(prometheus.NewRegistry(), prom.Options{})
	obs := metrics.Observer()
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() {
		obs.Request(ctx, "live")
		obs.Request(ctx, "invalid")
		obs.StoreCall(ctx, "Load", "ok", time.Millisecond)
		obs.StoreCall(ctx, "Update", "not_found", time.Millisecond)
		obs.Event(ctx, "login")
		obs.Unavailable()
		metrics.CacheRead(true)
		metrics.CacheRead(false)
	})
	if allocs != 0 {
		t.Errorf("the observer allocates %v times per round, want 0", allocs)
	}
}

func TestCacheRead(t *testing.T) {
	reg := prometheus.NewRegistry()
	metrics := prom.New(reg, prom.Options{})
	for range 3 {
		metrics.CacheRead(true)
	}
	metrics.CacheRead(false)
	if hit, miss := sample(t, reg, prom.CacheName, "result", "hit"), sample(t, reg, prom.CacheName, "result", "miss"); hit != 3 || miss != 1 {
		t.Errorf("hit %v miss %v, want 3 and 1", hit, miss)
	}
}

// TestPromtool checks a scrape with promtool check metrics (the Debian
// prometheus package), after some traffic, with the Go and process
// collectors.
func TestPromtool(t *testing.T) {
	promtool := testenv.Require(t, "promtool", "prometheus")
	reg := prom.NewRegistry()
	metrics := prom.New(reg, prom.Options{})
	obs := metrics.Observer()
	ctx := context.Background()
	obs.Request(ctx, "live")
	obs.StoreCall(ctx, "Load", "ok", 300*time.Microsecond)
	obs.StoreCall(ctx, "NewOp", "ok", time.Millisecond) // an op New does not know
	obs.Event(ctx, "login")
	obs.Unavailable()
	metrics.CacheRead(true)

	rec := httptest.NewRecorder()
	prom.Handler(reg).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.Bytes()
	for _, name := range []string{prom.RequestsName, prom.StoreName + "_bucket", prom.EventsName, prom.UnavailableName,
		prom.CacheName, "go_goroutines", "process_resident_memory_bytes"} {
		if !bytes.Contains(body, []byte("\n"+name)) {
			t.Errorf("the scrape has no %s", name)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
