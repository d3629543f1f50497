package session

import (
	"cmp"
	"context"
	"net/http"
	"slices"
)

// Manager loads and saves sessions for HTTP handlers. Create one with [New]
// at start-up and wrap the handlers that use sessions with
// [Manager.Handler]. A Manager is safe for concurrent use.
//
// A Manager's [Admin] (embedded) lists and ends users' sessions:
// [Admin.Sessions], [Admin.Revoke], [Admin.RevokeAll],
// [Admin.RevokeOthers].
type Manager struct {
	*Admin      // the store, the configuration, the observer (admin.go)
	codec       codec
	lim         Limits   // of a session of the browser's
	rememberLim Limits   // of a remembered session (RememberMe)
	encrypt     bool     // new sessions' values are encrypted (seal.go)
	keys        keyCache // the value keys of the sessions used last (seal.go)
	watch       watcher  // sessions that long requests wait on (watch.go)
}

// New returns a Manager that keeps sessions in store. The zero Config gives
// the safe defaults except for Keys, which must be set. New panics, with a
// message that starts with "session:", when store is nil or cfg cannot work
// ([Config.Validate] returns that error instead). It logs the fingerprint
// of each signing key ([KeyFingerprint]) to Config.Logger at INFO, so that
// an operator can see whether instances share their keys.
func New(store Store, cfg Config) *Manager {
	if store == nil {
		panic("session: New: nil Store")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		panic(err.Error())
	}
	m := &Manager{
		Admin: newAdmin(store, cfg),
		lim: Limits{Idle: cfg.IdleTimeout, Absolute: cfg.AbsoluteTimeout,
			MaxSize: cfg.MaxSize, MaxFields: cfg.MaxFields},
		rememberLim: Limits{Idle: cfg.RememberIdleTimeout, Absolute: cfg.RememberAbsoluteTimeout,
			MaxSize: cfg.MaxSize, MaxFields: cfg.MaxFields},
		encrypt: !cfg.DisableEncryption,
	}
	m.codec.name, m.codec.keys = cfg.CookieName, cfg.Keys
	m.watch.m = m
	m.Admin.ended = m.watch.end
	fingerprints := make([]string, len(cfg.Keys))
	for i, k := range cfg.Keys {
		fingerprints[i] = KeyFingerprint(k)
	}
	cfg.Logger.Info("session: signing keys", "fingerprints", fingerprints, "signing", fingerprints[0])
	return m
}

// limits returns the limits of a remembered session, or of a session of
// the browser's.
func (m *Manager) limits(remember bool) Limits {
	if remember {
		return m.rememberLim
	}
	return m.lim
}

// Config returns a copy of the configuration in force, defaults filled
// in; changing it changes nothing in the Manager.
func (m *Manager) Config() Config {
	c := m.cfg
	c.Keys = make([][]byte, len(m.cfg.Keys))
	for i, k := range m.cfg.Keys {
		c.Keys[i] = slices.Clone(k)
	}
	return c
}

type ctxKey struct{}

// inRequest is what the middleware allocates for a request, in one piece:
// its Session, the response writer that commits it, and the context that
// carries it.
type inRequest struct {
	s   Session
	rw  responseWriter
	ctx sessionContext
}

// sessionContext is a context with the request's Session under ctxKey{}:
// context.WithValue's job, without an allocation of its own. Everything
// else, Done and the cancellation context.WithCancel finds through Value
// included, is its parent's.
type sessionContext struct {
	context.Context
	s *Session
}

func (c *sessionContext) Value(key any) any {
	if key == (ctxKey{}) {
		return c.s
	}
	return c.Context.Value(key)
}

// Handler returns middleware that gives every request a [Session], found
// with [FromContext]. The session is loaded lazily: a request that never
// touches it costs no store call. Changes are saved before the response
// headers are written (the body is not buffered); a store that cannot answer
// turns the response into a 503 with Retry-After (Config.ErrorFunc).
//
// A handler that panics, http.ErrAbortHandler included, leaves nothing
// behind: the changes it had not saved yet are dropped (the headers of a
// panicking handler never go out, and a half-done request must not write
// half its changes), and the watch of [Session.Done] ends.
func (m *Manager) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in := &inRequest{}
		s, rw := &in.s, &in.rw
		in.ctx = sessionContext{Context: r.Context(), s: s}
		r = r.WithContext(&in.ctx)
		s.m, s.req, s.ctx = m, r, r.Context()
		rw.ResponseWriter, rw.s = w, s
		returned := false
		defer func() { s.end(!returned) }()
		next.ServeHTTP(rw, r)
		rw.finish()
		returned = true
	})
}

// FromContext returns the session of the request whose context is ctx.
// It panics, naming the mistake, when ctx is not the context of a request
// inside [Manager.Handler]: that is a wiring error of the program, found on
// its first request.
func FromContext(ctx context.Context) *Session {
	s, ok := ctx.Value(ctxKey{}).(*Session)
	if !ok {
		panic("session: FromContext: no session in this context; wrap the handler with Manager.Handler and pass r.Context()")
	}
	return s
}

// evict ends the sessions of user past Config.MaxSessionsPerUser, oldest
// login first, never the session under keep (the one just logged in).
func (m *Manager) evict(ctx context.Context, user, keep string) error {
	max := m.cfg.MaxSessionsPerUser
	if _, ok := m.store.(UserIndex); !ok || max < 0 || user == "" {
		return nil
	}
	list, err := m.userSessions(ctx, user, m.call)
	if err != nil || len(list) <= max {
		return err
	}
	slices.SortFunc(list, func(a, b UserSession) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.Key, b.Key))
	})
	excess := len(list) - max
	for _, us := range list {
		if excess == 0 {
			break
		}
		if us.Key == keep {
			continue
		}
		if err := m.call(ctx, OpDestroy, func(ctx context.Context) error {
			return m.store.Destroy(ctx, us.Key)
		}); err != nil {
			return err
		}
		m.watch.end(us.Key)
		m.evicted(ctx, user, Handle(us.Key))
		excess--
	}
	return nil
}
