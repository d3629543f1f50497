package main

import (
	"log/slog"
	"net/http"
	"time"
)

// accessLog logs one line per request (-access-log): method, path, status,
// bytes and duration, after the handler returns. It never logs the query
// or any header, so no token or cookie reaches the log. A stream
// (/api/events) is logged when it ends.
func accessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			log.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", rec.statusCode()), slog.Int64("bytes", rec.bytes),
				slog.Duration("dur", time.Since(start)))
		}()
		next.ServeHTTP(rec, r)
	})
}

// statusRecorder remembers the status and counts the body bytes; Unwrap
// lets http.ResponseController reach Flush and the deadlines.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush and FlushError pass the flush on; http.ResponseController prefers
// FlushError, so a stream learns of a client gone.
func (w *statusRecorder) Flush() { w.FlushError() }

func (w *statusRecorder) FlushError() error {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusRecorder) statusCode() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
