package main

import (
	"log/slog"
	"net/http"
	"time"
)

// The bounds of the demo's HTTP server. Every one of them limits what one
// client can hold: a connection, a goroutine, memory for its headers. nginx
// in front (deploy/nginx.conf) has its own, tighter ones; these protect an
// instance reached directly, and bound what nginx itself may hold.
const (
	// defaultReadHeaderTimeout: a client has this long to send its request
	// line and headers (slowloris). A browser sends them in one packet;
	// nginx too. Settable with -read-header-timeout (tests use a short one).
	defaultReadHeaderTimeout = 10 * time.Second

	// readTimeout bounds reading a whole request, headers and body (at
	// most 64 KiB, see maxBody): a slow-body client is cut off.
	readTimeout = 30 * time.Second

	// writeTimeout bounds writing the answer, counted from the end of the
	// request headers. Every page and API answer is ready within the store
	// timeout (1 s by default) and small; 60 s leaves room for a slow
	// client on a bad network, and nginx buffers answers anyway.
	writeTimeout = 60 * time.Second

	// idleTimeout closes a keep-alive connection idle this long. nginx
	// closes its idle upstream connections after 60 s (keepalive_timeout in
	// deploy/nginx.conf), before this, so a request never races our close.
	idleTimeout = 2 * time.Minute

	// maxHeaderBytes bounds the request headers: a session cookie is about
	// 100 bytes and a browser's headers a few KiB; the default of net/http
	// (1 MiB) lets one request carry thousands of cookies. (net/http adds
	// 4 KiB of slack to it.) Larger headers get 431.
	maxHeaderBytes = 16 << 10

	// logInterval: an error that repeats is logged once per interval per
	// message (see internal/logthrottle), with the count of those dropped.
	logInterval = 10 * time.Second
)

// Streaming: an answer that stays open longer than writeTimeout (server-sent
// events, a long poll) must push out its own write deadline through
// http.ResponseController, before each event for example:
//
//	rc := http.NewResponseController(w)
//	rc.SetWriteDeadline(time.Now().Add(time.Minute))
//
// else its writes fail once writeTimeout has passed. The read deadline
// (readTimeout) does not cut a stream: net/http clears it once the request
// (body included) is read, while it watches the connection for the client
// leaving (checked with Go 1.26). No server-wide value could fit an endless
// stream, and a long one for every request would undo the bounds above,
// hence a deadline per request.

// newServer returns the demo's http.Server with the bounds above.
func newServer(o options, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              o.addr,
		Handler:           h,
		ReadHeaderTimeout: o.headerTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
