package session

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"slices"
)

// responseWriter saves the session just before the response headers go
// out, without buffering the body. If the session could not be loaded or
// saved, it answers 503 in place of the handler's response.
type responseWriter struct {
	http.ResponseWriter
	s           *Session
	wroteHeader bool
	failed      bool // the 503 went out; the handler's writes are dropped
}

// varyCookie is the Vary header of answers that used the session, shared to
// spare an allocation per request; it is never modified in place.
var varyCookie = []string{"Cookie"}

// errDropped is what Write returns once the response became an error
// answer (Config.ErrorFunc).
var errDropped = errors.New("session: response replaced by the session's error answer (Config.ErrorFunc)")

func (w *responseWriter) WriteHeader(code int) {
	if w.wroteHeader {
		w.ResponseWriter.WriteHeader(code) // let net/http report the superfluous call
		return
	}
	if code >= 100 && code < 200 {
		w.ResponseWriter.WriteHeader(code) // informational: headers are not final yet
		return
	}
	w.wroteHeader = true
	if !w.prepare(code) {
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

// prepare commits the session and adds its cookie; on failure it writes the
// error answer (Config.ErrorFunc) and reports false. A handler that answers
// 5xx itself keeps its answer.
func (w *responseWriter) prepare(code int) bool {
	s := w.s
	s.mu.Lock()
	s.sent = true
	var err error
	if s.loaded {
		h := w.ResponseWriter.Header()
		// The answer depends on the session: no shared cache may give it
		// to a request with another cookie.
		if v, ok := h["Vary"]; !ok {
			h["Vary"] = varyCookie // shared: Header.Add copies before it appends
		} else if !slices.Contains(v, "Cookie") {
			h.Add("Vary", "Cookie")
		}
		// Save even if the client has gone: a logout must not be lost
		// because the browser stopped waiting. Every store call of a
		// request ignores the request's cancellation (Admin.call);
		// StoreTimeout still bounds it.
		if s.err != nil || s.p.op != opNone || len(s.p.dead) > 0 {
			err = s.commitLocked(s.ctx)
		}
		if err == nil {
			s.writeCookie(h)
		}
	}
	s.mu.Unlock()
	if err != nil && code < 500 {
		w.failed = true
		s.m.fail(w.ResponseWriter, s.req, err)
		return false
	}
	return true
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.failed {
		return 0, errDropped
	}
	return w.ResponseWriter.Write(b)
}

// Flush sends the headers (saving the session first) and flushes what the
// handler wrote, when the underlying writer can.
func (w *responseWriter) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.failed {
		return
	}
	http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack saves the session first, since no response header will carry it,
// then hands the connection over when the underlying writer can (see
// [http.Hijacker]). A session that this request creates cannot send its
// cookie over a hijacked connection. If the session cannot be saved, Hijack
// returns the error (wrapping ErrStoreUnavailable) and the connection stays
// with net/http, which answers 503 when the handler returns.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if !w.wroteHeader {
		if err := w.s.Commit(w.s.ctx); err != nil {
			return nil, nil, err
		}
	}
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.wroteHeader = true // the connection is the handler's: finish writes nothing
		w.s.mu.Lock()
		w.s.sent = true
		w.s.mu.Unlock()
	}
	return conn, brw, err
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish saves a session whose handler wrote no header at all.
func (w *responseWriter) finish() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
}
