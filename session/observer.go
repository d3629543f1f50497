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
// must be fast, safe for concurrent use and must not block. Their arguments
// are the constants of [Outcome], [Op], [Result] and [Event], which
// [Outcomes], [Ops], [Results] and [Events] list, so that an implementation
// can map each to a pre-built label without allocating.
//
// The ctx of Request, StoreCall and Event is the context of the call that
// led to them: the request's inside [Manager.Handler] (so it carries the
// request's trace span, if any), the caller's for [Admin.Revoke] and the
// other calls made outside a request, and a background context for the
// batched liveness checks behind [Session.Done]. An Observer reads values
// from it and never keeps it.
//
// Request is called once per request whose session was loaded, with what
// its cookie led to. A request whose load failed is not reported by
// Request: its store call reports [ResultUnavailable] and its 503 reports
// Unavailable.
//
// StoreCall is called after every store call with its op, its result and
// its duration; the call began d before StoreCall is called.
//
// Event is called once per event.
//
// Unavailable is called for every 503 that the middleware or
// [Manager.Unavailable] answers.
type Observer struct {
	Request     func(ctx context.Context, outcome Outcome)
	StoreCall   func(ctx context.Context, op Op, result Result, d time.Duration)
	Event       func(ctx context.Context, e Event)
	Unavailable func()
}

// Outcome is what a request's session cookie led to, for [Observer].Request.
type Outcome string

// The outcomes.
const (
	OutcomeNone    Outcome = "none"    // no session cookie
	OutcomeInvalid Outcome = "invalid" // a cookie that failed verification (forged, tampered, signed by a retired key, garbage); no store call was made
	OutcomeLive    Outcome = "live"    // a verified cookie whose session the store returned
	OutcomeMissing Outcome = "missing" // a verified cookie whose session is gone (expired, destroyed or renewed away)
)

// Op is the store call that [Observer].StoreCall reports: a method of
// [Store], [Counter], [UserIndex] or [Checker], with Save reported by the
// kind of its write.
type Op string

// The ops.
const (
	OpLoad           Op = "Load"
	OpCreate         Op = "Create" // Store.Save of a new session
	OpUpdate         Op = "Update" // Store.Save of a live session
	OpRenew          Op = "Renew"  // Store.Save that moves a session to a new key
	OpDestroy        Op = "Destroy"
	OpIncr           Op = "Incr"
	OpCompareAndSwap Op = "CompareAndSwap"
	OpUserSessions   Op = "UserSessions"
	OpDestroyUser    Op = "DestroyUser"
	OpLive           Op = "Live" // the batched checks behind [Session.Done]
)

// Result is how a store call ended, for [Observer].StoreCall.
type Result string

// The results.
const (
	ResultOK          Result = "ok"          // the store answered; also when it refused a change with ErrTooLarge or ErrNotInteger
	ResultNotFound    Result = "not_found"   // Load, an update or renewal by Save, Incr or CompareAndSwap found no live session
	ResultUnavailable Result = "unavailable" // the call failed or passed StoreTimeout
)

// Event is something that happened to a session, for [Observer].Event.
type Event string

// The events.
const (
	EventCreated   Event = "created"   // a new session was stored
	EventRenewed   Event = "renewed"   // a session got a new token ([Session.Renew])
	EventLogin     Event = "login"     // a save bound a session to a user ([Session.Login])
	EventDestroyed Event = "destroyed" // a session was destroyed by [Session.Destroy]
	EventRevoked   Event = "revoked"   // a session was ended by [Admin.Revoke], [Admin.RevokeAll] or [Admin.RevokeOthers] (once per session)
	EventEvicted   Event = "evicted"   // a session was ended to keep a user within Config.MaxSessionsPerUser
	EventTooLarge  Event = "too_large" // a write was refused with ErrTooLarge
	// EventUnreadable: a load found a session, or values of it, that could
	// not be decrypted, and read them as missing: stored in clear while
	// encryption is on, or changed, copied or moved in the store.
	EventUnreadable Event = "unreadable"
)

// Outcomes returns every [Outcome], in a new slice.
func Outcomes() []Outcome {
	return []Outcome{OutcomeNone, OutcomeInvalid, OutcomeLive, OutcomeMissing}
}

// Ops returns every [Op], in a new slice.
func Ops() []Op {
	return []Op{OpLoad, OpCreate, OpUpdate, OpRenew, OpDestroy, OpIncr, OpCompareAndSwap, OpUserSessions, OpDestroyUser, OpLive}
}

// Results returns every [Result], in a new slice.
func Results() []Result {
	return []Result{ResultOK, ResultNotFound, ResultUnavailable}
}

// Events returns every [Event], in a new slice.
func Events() []Event {
	return []Event{EventCreated, EventRenewed, EventLogin, EventDestroyed, EventRevoked, EventEvicted, EventTooLarge, EventUnreadable}
}

// logInterval is the least time between two records of the same throttled
// kind (forged cookies, store failures, late changes), so that an attacker
// or an outage cannot flood the logs. Each record carries the count since
// the last one. Each kind has a limiter of its own: one kind never
// silences another.
const logInterval = 10 * time.Second

// observing is a Manager's metrics hook, logs and log throttles.
type observing struct {
	Observer
	logger     *slog.Logger
	audit      *slog.Logger // nil: no audit records
	addr       func(*http.Request) string
	forged     *logthrottle.Limiter
	failing    *logthrottle.Limiter
	late       *logthrottle.Limiter
	unreadable *logthrottle.Limiter
}

func (o *observing) init(cfg Config) {
	o.Observer = cfg.Observer
	o.logger = cfg.Logger
	o.audit = cfg.AuditLog
	o.addr = cfg.ClientAddr
	if o.addr == nil {
		o.addr = remoteHost
	}
	o.forged, o.failing, o.late = logthrottle.NewLimiter(logInterval), logthrottle.NewLimiter(logInterval), logthrottle.NewLimiter(logInterval)
	o.unreadable = logthrottle.NewLimiter(logInterval)
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
func (o *observing) storeCall(ctx context.Context, op Op, start time.Time, err error) error {
	result := ResultOK
	switch {
	case err == nil:
	case err == errNotFound:
		result, err = ResultNotFound, nil
	case errors.Is(err, ErrTooLarge) || errors.Is(err, ErrNotInteger):
		// The store answered, refusing the change.
	default:
		result = ResultUnavailable
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

func (o *observing) request(ctx context.Context, outcome Outcome) {
	if o.Request != nil {
		o.Request(ctx, outcome)
	}
}

func (o *observing) event(ctx context.Context, e Event) {
	if o.Event != nil {
		o.Event(ctx, e)
	}
}

func (o *observing) unavailable() {
	if o.Unavailable != nil {
		o.Unavailable()
	}
}

// storeFailed logs a failed store call, at most once per logInterval, with
// the count of failures since the last record.
func (o *observing) storeFailed(ctx context.Context, op Op, err error) {
	if ok, suppressed := o.failing.Allow(); ok {
		n := suppressed + 1 // this failure included
		o.logger.LogAttrs(ctx, errorLevel, "session store call failed", stringAttr("op", string(op)), errAttr(err),
			slog.Int64("count", n), slog.Duration("interval", logInterval))
	}
}

// Why a session or value could not be decrypted, for Manager.unreadable.
const (
	unreadableClear = "a session stored in clear is read as missing while encryption is on (sessions from before it was turned on end once)"
	unreadableWrap  = "a session whose wrapped value key does not open with its cookie is read as missing: it was changed or copied in the store"
	unreadableValue = "session values that do not open with their session's key are read as missing: they were changed or moved in the store"
)

// unreadable reports a load that found a session, or n of its values,
// impossible to decrypt, for the reason why: one event, and a warning on
// Config.Logger at most once per logInterval, with the count of such
// loads since the last one.
func (m *Manager) unreadable(ctx context.Context, why string, n int) {
	m.ob.event(ctx, EventUnreadable)
	if ok, suppressed := m.ob.unreadable.Allow(); ok {
		m.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "session: "+why, slog.Int64("count", suppressed+1),
			slog.Int("values", n), slog.Duration("interval", logInterval))
	}
}

// noCookie reports the outcome of a request none of whose n cookies of the
// session cookie's name verified. Such cookies are logged at WARN at most
// once per logInterval with their count, and go to the audit log with the
// client of the latest.
func (o *observing) noCookie(ctx context.Context, r *http.Request, n int) {
	if n == 0 {
		o.request(ctx, OutcomeNone)
		return
	}
	o.request(ctx, OutcomeInvalid)
	ok, suppressed := o.forged.Allow()
	if !ok {
		return
	}
	count := suppressed + 1 // this cookie included
	o.logger.LogAttrs(ctx, slog.LevelWarn, "session cookies failed the signature check: forged, tampered, signed by a retired key, "+
		"or by an instance with other signing keys (compare the key fingerprints that each instance logs at start)",
		slog.Int64("count", count), slog.Duration("interval", logInterval))
	if o.audit != nil {
		o.audit.LogAttrs(ctx, slog.LevelWarn, "forged_cookies", slog.Int64("count", count),
			slog.Duration("interval", logInterval), slog.String("client", o.addr(r)), slog.String("user_agent", r.UserAgent()))
	}
}

// lateChange logs a change that came after the response headers were
// written (ErrHeadersWritten), at most once per logInterval with the count.
func (o *observing) lateChange(ctx context.Context, r *http.Request) {
	if ok, suppressed := o.late.Allow(); ok {
		o.logger.LogAttrs(ctx, slog.LevelWarn, "session changed after the response headers were written: the change is not saved; "+
			"change the session, or call Session.Commit, before writing the response",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int64("count", suppressed+1), slog.Duration("interval", logInterval))
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
		o.event(ctx, EventCreated)
	}
	if renewed {
		o.event(ctx, EventRenewed)
	}
	switch {
	case w.Login && w.User != "":
		o.event(ctx, EventLogin)
		o.record(ctx, s.req, "login", w.User, Handle(w.Key), slog.Bool("renewed", renewed))
	case renewed:
		o.record(ctx, s.req, "renew", s.user, Handle(w.Key))
	}
}

// destroyed reports a session destroyed by Session.Destroy; user is the
// user it was bound to ("" for an anonymous one, which has no audit record).
func (s *Session) destroyed(ctx context.Context, key, user string) {
	s.m.ob.event(ctx, EventDestroyed)
	if user != "" {
		s.m.ob.record(ctx, s.req, "logout", user, Handle(key))
	}
}

// revoked reports sessions ended by Admin.Revoke (handle set) or
// Admin.RevokeAll and RevokeOthers (n of them, all but the session under
// kept). The request at hand, when ctx is a request's inside
// Manager.Handler, gives the client address and agent of whoever revoked.
func (a *Admin) revoked(ctx context.Context, user, handle string, n int, kept string) {
	for range n {
		a.ob.event(ctx, EventRevoked)
	}
	r := requestOf(ctx)
	switch {
	case handle != "":
		a.ob.record(ctx, r, "revoke", user, handle)
	case kept != "":
		a.ob.record(ctx, r, "revoke_others", user, Handle(kept), slog.Int("count", n))
	default:
		a.ob.record(ctx, r, "revoke_all", user, "", slog.Int("count", n))
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
	m.ob.event(ctx, EventEvicted)
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
	var req []func(context.Context, Outcome)
	var calls []func(context.Context, Op, Result, time.Duration)
	var evs []func(context.Context, Event)
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
		m.Request = func(ctx context.Context, outcome Outcome) {
			for _, f := range req {
				f(ctx, outcome)
			}
		}
	}
	if len(calls) > 0 {
		m.StoreCall = func(ctx context.Context, op Op, result Result, d time.Duration) {
			for _, f := range calls {
				f(ctx, op, result, d)
			}
		}
	}
	if len(evs) > 0 {
		m.Event = func(ctx context.Context, e Event) {
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
