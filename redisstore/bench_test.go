package redisstore

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stickless/stickless/internal/redistest"
	"github.com/stickless/stickless/session"
)

// benchSession starts a Redis and one instance in front of it, and logs a
// client in with a session of ten values.
func benchSession(b *testing.B) (*instance, *http.Cookie) {
	return benchSessionWith(b, Options{})
}

// benchSessionWith is benchSession with a store configured by opts.
func benchSessionWith(b *testing.B, opts Options) (*instance, *http.Cookie) {
	b.Helper()
	srv := redistest.Standalone(b, redistest.Options{})
	in := newInstanceWith(b, srv.URL(), time.Second, nil, opts)
	c := &client{}
	must(b, c.do(in.h, "POST", "/login?u=ann"), 200, "login")
	for i := range 9 {
		must(b, c.do(in.h, "POST", put(fmt.Sprintf("key%d", i), strings.Repeat("v", 20))), 200, "write")
	}
	return in, c.with().cookie
}

// serve runs the request method target with cookie through h, b.N times,
// serially and from 16×GOMAXPROCS goroutines, and fails on another status than
// want.
func serve(b *testing.B, h http.Handler, method, target string, cookie *http.Cookie, want int) {
	run := func(pb interface{ Next() bool }) {
		req := httptest.NewRequest(method, target, nil)
		req.AddCookie(cookie)
		for pb.Next() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != want {
				b.Errorf("status %d, want %d", rec.Code, want)
				return
			}
		}
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		run(serialPB{b})
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(16) // many requests in flight, as on a busy server
		b.RunParallel(func(pb *testing.PB) { run(pb) })
	})
}

type serialPB struct{ b *testing.B }

func (p serialPB) Next() bool { return p.b.Loop() }

// BenchmarkRead is a request that reads its session: one HGETALL.
func BenchmarkRead(b *testing.B) {
	in, cookie := benchSession(b)
	serve(b, in.h, "GET", "/get?k=key1", cookie, 200)
}

// BenchmarkReadCached is BenchmarkRead with Options.ClientCache: no Redis
// command once the session is cached.
func BenchmarkReadCached(b *testing.B) {
	in, cookie := benchSessionWith(b, Options{ClientCache: true})
	serve(b, in.h, "GET", "/get?k=key1", cookie, 200)
}

// BenchmarkWrite is a request that reads its session and writes one
// field: HGETALL and one EVALSHA.
func BenchmarkWrite(b *testing.B) {
	in, cookie := benchSession(b)
	serve(b, in.h, "POST", put("key1", "changed"), cookie, 200)
}

// BenchmarkForged is a request with a forged cookie: no Redis command.
func BenchmarkForged(b *testing.B) {
	in, cookie := benchSession(b)
	forged := *cookie
	forged.Value = cookie.Value[:len(cookie.Value)-2] + "AA"
	serve(b, in.h, "GET", "/whoami", &forged, 200)
}

// BenchmarkLoad is Store.Load alone, without the Manager, of a session of
// ten values: one HGETALL, or (cached) none.
func BenchmarkLoad(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"hgetall", Options{}},
		{"cached", Options{ClientCache: true}},
	} {
		b.Run(bc.name, func(b *testing.B) { benchLoad(b, bc.opts) })
	}
}

func benchLoad(b *testing.B, opts Options) {
	srv := redistest.Standalone(b, redistest.Options{})
	st := newStore(b, srv.URL(), opts)
	lt := session.Limits{Idle: 30 * time.Minute, Absolute: 24 * time.Hour}
	vals := map[string]string{}
	for i := range 10 {
		vals[fmt.Sprintf("key%d", i)] = `"` + strings.Repeat("v", 20) + `"`
	}
	ctx := context.Background()
	const key = "bench-load-key-0123456789abcdef0123456789abcdef"
	if err := st.tcreate(ctx, key, session.Write{Set: vals, User: "ann"}, lt); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := st.Load(ctx, key, lt); !ok || err != nil {
			b.Fatalf("Load: %v %v", ok, err)
		}
	}
}
