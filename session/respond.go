package session

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// Error answers a request that failed with err, as the middleware answers
// the failures it meets itself: through the Config.ErrorFunc of the
// Manager whose [Manager.Handler] serves r, with the headers of the
// handler's own answer (Set-Cookie, Content-Type, Location...) removed,
// Cache-Control: no-store, and, when err wraps [ErrStoreUnavailable],
// Retry-After (Config.RetryAfter). By default that is a plain-text 503 for
// a store that cannot answer, 413 for [ErrTooLarge], and 500 for anything
// else, whose error is then logged to Config.Logger (the text of err never
// reaches the client). Outside Manager.Handler it gives the default
// answers.
func Error(w http.ResponseWriter, r *http.Request, err error) {
	var m *Manager
	if s, ok := r.Context().Value(ctxKey{}).(*Session); ok {
		m = s.m
	}
	m.fail(w, r, err)
}

// fail writes the answer to a request that failed with err; m may be nil.
func (m *Manager) fail(w http.ResponseWriter, r *http.Request, err error) {
	h := w.Header()
	// Drop what described the handler's own answer; keep headers such as
	// X-Request-Id or security headers that outer middleware set.
	for _, k := range replacedHeaders {
		delete(h, k)
	}
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	retryAfter, errorFunc, logger := defaultRetryAfter, defaultErrorFunc, slog.Default()
	if m != nil {
		retryAfter, logger = m.cfg.RetryAfter, m.cfg.Logger
		if m.cfg.ErrorFunc != nil {
			errorFunc = m.cfg.ErrorFunc
		}
	}
	switch {
	case errors.Is(err, ErrStoreUnavailable):
		if m != nil {
			m.ob.unavailable()
		}
		secs := int64((retryAfter + time.Second - 1) / time.Second)
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
	case errors.Is(err, ErrTooLarge):
	default:
		logger.ErrorContext(r.Context(), "session: request failed", "method", r.Method, "path", r.URL.Path, errAttr(err))
	}
	errorFunc(w, r, err)
}

// replacedHeaders are the headers of a handler's answer that do not fit
// the error answer that replaces it.
var replacedHeaders = []string{"Set-Cookie", "Content-Type", "Content-Length", "Content-Encoding",
	"Content-Disposition", "Content-Language", "Location", "Etag", "Last-Modified", "Refresh", "Cache-Control", "Expires"}

// defaultErrorFunc is the default Config.ErrorFunc: plain text that never
// carries the error's own text.
func defaultErrorFunc(w http.ResponseWriter, _ *http.Request, err error) {
	code, msg := http.StatusInternalServerError, "500 Internal Server Error\n"
	switch {
	case errors.Is(err, ErrStoreUnavailable):
		code, msg = http.StatusServiceUnavailable, "503 Service Unavailable: the session store is not answering; please retry shortly.\n"
	case errors.Is(err, ErrTooLarge):
		code, msg = http.StatusRequestEntityTooLarge, "413 Request Entity Too Large: the session is full; nothing of this request was saved.\n"
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	w.Write([]byte(msg))
}
