package session_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stickless/stickless/memstore"
	"github.com/stickless/stickless/session"
)

// counters is an Observer as a metrics package would write one: each
// string maps to a counter resolved in advance, with no allocation.
type counters struct {
	requests [4]atomic.Int64
	store    [3]atomic.Int64
	nanos    atomic.Int64
	events   atomic.Int64
	down     atomic.Int64
}

func (c *counters) observer() session.Observer {
	return session.Observer{
		Request: func(_ context.Context, o session.Outcome) {
			i := 0
			switch o {
			case session.OutcomeInvalid:
				i = 1
			case session.OutcomeLive:
				i = 2
			case session.OutcomeMissing:
				i = 3
			}
			c.requests[i].Add(1)
		},
		StoreCall: func(_ context.Context, op session.Op, result session.Result, d time.Duration) {
			i := 0
			switch result {
			case session.ResultNotFound:
				i = 1
			case session.ResultUnavailable:
				i = 2
			}
			c.store[i].Add(1)
			c.nanos.Add(int64(d))
		},
		Event:       func(context.Context, session.Event) { c.events.Add(1) },
		Unavailable: func() { c.down.Add(1) },
	}
}

// BenchmarkObserver runs the requests of BenchmarkHandler with and without
// an Observer, side by side in one run, to show the hook's cost: the
// allocs/op must be the same.
func BenchmarkObserver(b *testing.B) {
	store := memstore.New(memstore.Options{})
	defer store.Close()
	var c counters
	handler := func(obs session.Observer) http.Handler {
		m := session.New(store, session.Config{Keys: [][]byte{key1}, Logger: slog.New(slog.DiscardHandler), Observer: obs})
		mux := http.NewServeMux()
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
		return m.Handler(mux)
	}
	handlers := []struct {
		name string
		h    http.Handler
	}{{"observer=off", handler(session.Observer{})}, {"observer=on", handler(c.observer())}}

	// Both Managers share the store and the key: one cookie serves both.
	valid := serve(handlers[0].h, "GET", "/setup").Cookies()[0]
	forged := *valid
	sig := []byte(forged.Value)
	sig[50] ^= 1
	forged.Value = string(sig)

	cases := []struct {
		name   string
		path   string
		cookie *http.Cookie
	}{
		{"reads-session", "/read", valid},
		{"writes-session", "/write", valid},
		{"forged-cookie", "/read", &forged},
	}
	for _, bc := range cases {
		for _, hc := range handlers {
			b.Run(bc.name+"/"+hc.name, func(b *testing.B) {
				req := httptest.NewRequest("GET", bc.path, nil)
				req.AddCookie(bc.cookie)
				b.ReportAllocs()
				for b.Loop() {
					rec := httptest.NewRecorder()
					hc.h.ServeHTTP(rec, req)
					if rec.Code != 200 {
						b.Fatalf("status %d", rec.Code)
					}
				}
				if hc.name == "observer=on" && c.requests[1].Load()+c.requests[2].Load() == 0 {
					b.Fatal("the observer saw no request")
				}
			})
		}
	}
}
