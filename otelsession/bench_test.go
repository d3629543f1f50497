package otelsession_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stickless/stickless/memstore"
	"github.com/stickless/stickless/otelsession"
	"github.com/stickless/stickless/session"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// BenchmarkObserver runs the same requests through a Manager with no
// observer, with this package's observer on a no-op tracer provider (what
// an application gets until it sets up an SDK), and on an SDK provider
// that records every span (no exporter), side by side in one run. The
// request span is started around the Manager in every case, as otelhttp
// would, from the same provider.
func BenchmarkObserver(b *testing.B) {
	store := memstore.New(memstore.Options{})
	defer store.Close()
	sdk := sdktrace.NewTracerProvider()
	defer sdk.Shutdown(context.Background())
	handler := func(tp trace.TracerProvider, obs session.Observer) http.Handler {
		m := session.New(store, session.Config{Keys: [][]byte{testKey}, Logger: slog.New(slog.DiscardHandler), Observer: obs})
		mux := http.NewServeMux()
		mux.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
			name, _ := session.FromContext(r.Context()).String("name")
			io.WriteString(w, name)
		})
		mux.HandleFunc("/write", func(w http.ResponseWriter, r *http.Request) {
			if err := session.FromContext(r.Context()).Put("visited", true); err != nil {
				http.Error(w, "error", 500)
			}
		})
		mux.HandleFunc("/setup", func(w http.ResponseWriter, r *http.Request) {
			session.FromContext(r.Context()).Put("name", "Gopher")
		})
		inner := m.Handler(mux)
		tracer := tp.Tracer("bench")
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, span := tracer.Start(r.Context(), "request")
			defer span.End()
			inner.ServeHTTP(w, r.WithContext(ctx))
		})
	}
	noopTP := noop.NewTracerProvider()
	handlers := []struct {
		name string
		h    http.Handler
	}{
		{"observer=off", handler(noopTP, session.Observer{})},
		{"otel=noop", handler(noopTP, otelsession.New(otelsession.Options{TracerProvider: noopTP}))},
		{"otel=sdk", handler(sdk, otelsession.New(otelsession.Options{TracerProvider: sdk}))},
	}
	rec := httptest.NewRecorder()
	handlers[0].h.ServeHTTP(rec, httptest.NewRequest("GET", "/setup", nil))
	valid := rec.Result().Cookies()[0]
	forged := *valid
	forged.Value = valid.Value[:len(valid.Value)-3] + "AAA"
	for _, bc := range []struct {
		name, path string
		cookie     *http.Cookie
	}{{"read", "/read", valid}, {"write", "/write", valid}, {"forged", "/read", &forged}} {
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
			})
		}
	}
}
