package prom_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stickless/stickless/internal/redistest"
	"github.com/stickless/stickless/prom"
	"github.com/stickless/stickless/redisstore"
	"github.com/stickless/stickless/session"
)

// BenchmarkRedisRead is a request that reads its session from a real
// Redis (with and without the client-side cache), and one with a forged
// cookie, each with no observer and with the Prometheus one, side by side
// in one run: the metrics' cost on the read path. allocs/op must not
// differ.
func BenchmarkRedisRead(b *testing.B) {
	srv := redistest.Standalone(b, redistest.Options{})
	for _, cached := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		store, err := redisstore.NewFromURL(ctx, srv.URL(), redisstore.Options{ClientCache: cached})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		defer store.Close()
		metrics := prom.New(prometheus.NewRegistry(), prom.Options{})
		handler := func(obs session.Observer) http.Handler {
			m := session.New(store, session.Config{Keys: [][]byte{testKey}, InsecureCookie: true,
				Logger: slog.New(slog.DiscardHandler), Observer: obs})
			mux := http.NewServeMux()
			mux.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
				name, _ := session.FromContext(r.Context()).String("name")
				io.WriteString(w, name)
			})
			mux.HandleFunc("/setup", func(w http.ResponseWriter, r *http.Request) {
				session.FromContext(r.Context()).Put("name", "Gopher")
			})
			return m.Handler(mux)
		}
		off, on := handler(session.Observer{}), handler(metrics.Observer())
		rec := httptest.NewRecorder()
		off.ServeHTTP(rec, httptest.NewRequest("GET", "/setup", nil))
		valid := rec.Result().Cookies()[0]
		forged := *valid
		forged.Value = valid.Value[:len(valid.Value)-2] + "AA"

		name := "read"
		if cached {
			name = "read-cached"
		}
		cases := []struct {
			name   string
			cookie *http.Cookie
		}{{name, valid}}
		if !cached {
			cases = append(cases, struct {
				name   string
				cookie *http.Cookie
			}{"forged", &forged})
		}
		for _, bc := range cases {
			for _, h := range []struct {
				name string
				h    http.Handler
			}{{"observer=off", off}, {"observer=on", on}} {
				b.Run(bc.name+"/"+h.name, func(b *testing.B) {
					req := httptest.NewRequest("GET", "/read", nil)
					req.AddCookie(bc.cookie)
					b.ReportAllocs()
					for b.Loop() {
						rec := httptest.NewRecorder()
						h.h.ServeHTTP(rec, req)
						if rec.Code != 200 {
							b.Fatalf("status %d", rec.Code)
						}
					}
				})
			}
		}
	}
}
