package session

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/stickless/stickless/internal/logthrottle"
)

// Observer receives what a Manager sees, for metrics and traces. Every field
// may be nil. The funcs are called on the request path, synchronously: they
// must be fast, safe for concurrent use and must not block. String arguments
// are package constants (listed below), so an implementation can map them to
// pre-built label values without allocating.
//
// The ctx of Request, StoreCall and Event is the context of the call that
// led to them: the request's inside [Manager.Handler] (so it carries the
// request's trace span, if any), the caller's for [Manager.Revoke] and the
// other calls made outside a request, and a background context for the
// batched liveness checks behind [Session.Done]. An Observer reads values
// from it and never keeps it.
//
// Request is called once per request whose session was loaded, with what
// its cookie led to:
//   - "none": no session cookie;
//   - "invalid": a cookie that failed verification (forged, tampered, signed
//     by a retired key, garbage); no store call was made;
//   - "live": a verified cookie whose session the store returned;
//   - "missing": a verified cookie whose session is gone (expired, destroyed
//     or renewed away).
//
// A request whose load failed is not reported by Request: its store call
// reports "unavailable" and its 503 reports Unavailable.
//
// StoreCall is called after every store call with its name as op ("Load";
// "Create", "Update" or "Renew" for the three writes of Store.Save;
// "Destroy", "Incr", "CompareAndSwap", "UserSessions", "DestroyUser", and
// "Live" for the batched checks behind [Session.Done]), its
// result ("ok", also when the store refused a change
// with ErrTooLarge or ErrNotInteger; "not_found" when Load, an update or
// renewal by Save, Incr or CompareAndSwap found no live session;
// "unavailable" when the call failed or passed StoreTimeout) and its
// duration; the call began d before StoreCall is called.
//
// Event is called once per event:
//   - "created": a new session was stored;
//   - "renewed": a session got a new token ([Session.Renew]);
//   - "login": a save bound a session to a user ([Session.Login]);
//   - "destroyed": a session was destroyed by [Session.Destroy];
//   - "revoked": a session was ended by [Manager.Revoke] or
//     [Manager.RevokeAll] (once per session);
//   - "evicted": a session was ended to keep a user within
//     Config.MaxSessionsPerUser;
//   - "too_large": a write was refused with ErrTooLarge.
//
// Unavailable is called for every 503 that the middleware or
// [Manager.Unavailable] answers.
type Observer struct {
	Request     func(ctx context.Context, outcome string)
	StoreCall   func(ctx context.Context, op, result string, d time.Duration)
	Event       func(ctx context.Context, e string)
	Unavailable func()
}

// The strings an Observer receives.
const (
	outcomeNone    = "none"
	outcomeInvalid = "invalid"
	outcomeLive    = "live"
	outcomeMissing = "missing"

	resultOK          = "ok"
	resultNotFound    = "not_found"
	resultUnavailable = "unavailable"

	eventCreated   = "created"
	eventRenewed   = "renewed"
	eventLogin     = "login"
	eventDestroyed = "destroyed"
	eventRevoked   = "revoked"
	eventEvicted   = "evicted"
	eventTooLarge  = "too_large"
)

// logInterval is the least time between two records of the same throttled
// kind (forged cookies, store failures), so that an attacker or an outage
// cannot flood the logs. Each record carries the count since the last one.
const logInterval = 10 * time.Second

// observing is a Manager's metrics hook, audit log and log throttles.
type observing struct {
	Observer
	audit   *slog.Logger // nil: no audit records
	addr    func(*http.Request) string
	forged  *logthrottle.Limiter
	failing *logthrottle.Limiter
}

func (o *observing) init(cfg Config) {
	o.Observer = cfg.Observer
	o.audit = cfg.AuditLog
	o.addr = cfg.ClientAddr
	if o.addr == nil {
		o.addr = remoteHost
	}
	o.forged, o.failing = logthrottle.NewLimiter(logInterval), logthrottle.NewLimiter(logInterval)
}

// errNotFound is returned by the funcs that Manager.call runs when the
// store answered "no live session", so that call can report not_found; call
// maps it back to nil.
var errNotFound = errors.New("session: not found")

// notFound returns errNotFound when the store answered without error and
// found nothing.
func notFound(found bool, err error) error {
	if err == nil && !found {
		return errNotFound
	}
	return err
}

// storeCall reports one store call that began at start (zero when no
// StoreCall is set) and returns err with errNotFound mapped to nil.
func (o *observing) storeCall(ctx context.Context, op string, start time.Time, err error) error {
	result := resultOK
	switch {
	case err == nil:
	case err == errNotFound:
		result, err = resultNotFound, nil
	case errors.Is(err, ErrTooLarge) || errors.Is(err, ErrNotInteger):
		// The store answered, refusing the change.
	default:
		result = resultUnavailable
	}
	if o.StoreCall != nil {
		o.StoreCall(ctx, op, result, time.Since(start))
	}
	return err
}

// start returns the time a store call begins, only when someone measures it.
func (o *observing) start() time.Time {
	if o.StoreCall == nil {
		return time.Time{}
	}
	return time.Now()
}

func (o *observing) request(ctx context.Context, outcome string) {
	if o.Request != nil {
		o.Request(ctx, outcome)
	}
}

func (o *observing) event(ctx context.Context, e string) {
	if o.Event != nil {
		o.Event(ctx, e)
	}
}

func (o *observing) unavailable() {
	if o.Unavailable != nil {
		o.Unavailable()
	}
}

// storeFailed logs a failed store call on logger, at most once per
// logInterval, with the count of failures since the last record.
func (o *observing) storeFailed(ctx context.Context, logger *slog.Logger, op string, err error) {
	if ok, suppressed := o.failing.Allow(); ok {
		n := suppressed + 1 // this failure included
		logger.LogAttrs(ctx, errorLevel, "session store call failed", stringAttr("op", op), errAttr(err),
			slog.Int64("count", n), slog.Duration("interval", logInterval))
	}
}

// noCookie reports the outcome of a request none of whose n cookies of the
// session cookie's name verified; forged ones go to the audit log at most
// once per logInterval, with their count.
func (o *observing) noCookie(ctx context.Context, r *http.Request, n int) {
	if n == 0 {
		o.request(ctx, outcomeNone)
		return
	}
	o.request(ctx, outcomeInvalid)
	if o.audit == nil {
		return
	}
	if ok, suppressed := o.forged.Allow(); ok {
		count := suppressed + 1 // this cookie included
		o.audit.LogAttrs(ctx, slog.LevelWarn, "forged_cookies", slog.Int64("count", count),
			slog.Duration("interval", logInterval), slog.String("client", o.addr(r)), slog.String("user_agent", r.UserAgent()))
	}
}

// record writes one audit record at INFO. r, the request at hand, may be
// nil.
func (o *observing) record(ctx context.Context, r *http.Request, msg, user, handle string, extra ...slog.Attr) {
	if o.audit == nil || !o.audit.Enabled(ctx, slog.LevelInfo) {
		return
	}
	attrs := make([]slog.Attr, 0, 4+len(extra))
	attrs = append(attrs, slog.String("user", user))
	if handle != "" {
		attrs = append(attrs, slog.String("session", handle))
	}
	if r != nil {
		attrs = append(attrs, slog.String("client", o.addr(r)), slog.String("user_agent", r.UserAgent()))
	}
	attrs = append(attrs, extra...)
	o.audit.LogAttrs(ctx, slog.LevelInfo, msg, attrs...)
}

// saved reports a save that was applied: a creation, a renewal or an
// update, binding a user at login when w.Login.
func (s *Session) saved(ctx context.Context, w *Write) {
	o := &s.m.ob
	created, renewed := w.Create, w.From != ""
	if created {
		o.event(ctx, eventCreated)
	}
	if renewed {
		o.event(ctx, eventRenewed)
	}
	switch {
	case w.Login && w.User != "":
		o.event(ctx, eventLogin)
		o.record(ctx, s.req, "login", w.User, Handle(w.Key), slog.Bool("renewed", renewed))
	case renewed:
		o.record(ctx, s.req, "renew", s.user, Handle(w.Key))
	}
}

// destroyed reports a session destroyed by Session.Destroy; user is the
// user it was bound to ("" for an anonymous one, which has no audit record).
func (s *Session) destroyed(ctx context.Context, key, user string) {
	s.m.ob.event(ctx, eventDestroyed)
	if user != "" {
		s.m.ob.record(ctx, s.req, "logout", user, Handle(key))
	}
}

// revoked reports sessions ended by Manager.Revoke (handle set) or
// Manager.RevokeAll (n of them). The request at hand, when ctx is a
// request's inside Manager.Handler, gives the client address and agent of
// whoever revoked.
func (m *Manager) revoked(ctx context.Context, user, handle string, n int) {
	for range n {
		m.ob.event(ctx, eventRevoked)
	}
	r := requestOf(ctx)
	if handle != "" {
		m.ob.record(ctx, r, "revoke", user, handle)
	} else {
		m.ob.record(ctx, r, "revoke_all", user, "", slog.Int("count", n))
	}
}

// remoteHost is the default Config.ClientAddr: the host of r.RemoteAddr.
func remoteHost(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// evicted reports a session ended to keep user within
// Config.MaxSessionsPerUser.
func (m *Manager) evicted(ctx context.Context, user, handle string) {
	m.ob.event(ctx, eventEvicted)
	m.ob.record(ctx, requestOf(ctx), "evict", user, handle)
}

// requestOf returns the request whose context ctx is, inside
// Manager.Handler, or nil.
func requestOf(ctx context.Context) *http.Request {
	if s, ok := ctx.Value(ctxKey{}).(*Session); ok {
		return s.req
	}
	return nil
}

// MultiObserver returns an Observer that passes each report to every one
// of obs in order, for example metrics and traces together. Nil funcs are
// skipped; a func that none of obs sets stays nil, so that the Manager
// skips the work it would only do for it (timing store calls).
func MultiObserver(obs ...Observer) Observer {
	var m Observer
	var req []func(context.Context, string)
	var calls []func(context.Context, string, string, time.Duration)
	var evs []func(context.Context, string)
	var down []func()
	for _, o := range obs {
		if o.Request != nil {
			req = append(req, o.Request)
		}
		if o.StoreCall != nil {
			calls = append(calls, o.StoreCall)
		}
		if o.Event != nil {
			evs = append(evs, o.Event)
		}
		if o.Unavailable != nil {
			down = append(down, o.Unavailable)
		}
	}
	if len(req) > 0 {
		m.Request = func(ctx context.Context, outcome string) {
			for _, f := range req {
				f(ctx, outcome)
			}
		}
	}
	if len(calls) > 0 {
		m.StoreCall = func(ctx context.Context, op, result string, d time.Duration) {
			for _, f := range calls {
				f(ctx, op, result, d)
			}
		}
	}
	if len(evs) > 0 {
		m.Event = func(ctx context.Context, e string) {
			for _, f := range evs {
				f(ctx, e)
			}
		}
	}
	if len(down) > 0 {
		m.Unavailable = func() {
			for _, f := range down {
				f()
			}
		}
	}
	return m
}
