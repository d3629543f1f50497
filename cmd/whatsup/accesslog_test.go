package main

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAccessLog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	h := accessLog(log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			w.Write([]byte("data"))
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("flush through the access log: %v", err)
			}
			return
		}
		http.Error(w, "nope", http.StatusTeapot)
	}))
	for _, target := range []string{"/x?token=secret", "/stream"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", target, nil))
	}
	out := buf.String()
	for _, want := range []string{"method=GET path=/x status=418 bytes=5", "path=/stream status=200 bytes=4"} {
		if !strings.Contains(out, want) {
			t.Errorf("log %q lacks %q", out, want)
		}
	}
	if strings.Contains(out, "secret") {
		t.Errorf("the query reached the log: %q", out)
	}
}
