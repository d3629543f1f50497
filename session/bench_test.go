package session_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stickless/stickless/memstore"
	"github.com/stickless/stickless/session"
)

// BenchmarkHandler measures the middleware per request, with the embedded
// store and no network, with the values encrypted (the default) and in
// clear: a handler that ignores its session, one that reads a value, one
// that writes one, and a read with a forged cookie (which must cost no
// store call). httptest.NewRecorder's own allocations are counted.
func BenchmarkHandler(b *testing.B) {
	for _, values := range []string{"encrypted", "clear"} {
		b.Run(values, func(b *testing.B) {
			benchmarkHandler(b, session.Config{DisableEncryption: values == "clear"})
		})
	}
}

func benchmarkHandler(b *testing.B, cfg session.Config) {
	store := memstore.New(memstore.Options{})
	defer store.Close()
	cfg.Keys, cfg.Logger = [][]byte{key1}, slog.New(slog.DiscardHandler)
	m := session.New(store, cfg)
	mux := http.NewServeMux()
	mux.HandleFunc("/ignore", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
		name, _ := session.FromContext(r.Context()).String("name")
		io.WriteString(w, name)
	})
	mux.HandleFunc("/write", func(w http.ResponseWriter, r *http.Request) {
		if err := session.FromContext(r.Context()).Put("visited", true); err != nil {
			http.Error(w, "error", 500)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/setup", func(w http.ResponseWriter, r *http.Request) {
		session.FromContext(r.Context()).Put("name", "Gopher")
	})
	h := m.Handler(mux)

	valid := serve(h, "GET", "/setup").Cookies()[0]
	forged := *valid
	sig := []byte(forged.Value)
	sig[50] ^= 1
	forged.Value = string(sig)

	cases := []struct {
		name   string
		path   string
		cookie *http.Cookie
	}{
		{"ignores-session", "/ignore", valid},
		{"reads-session", "/read", valid},
		{"writes-session", "/write", valid},
		{"forged-cookie", "/read", &forged},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", bc.path, nil)
			req.AddCookie(bc.cookie)
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
