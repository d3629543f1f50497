package session

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"slices"
	"time"
)

// Manager loads and saves sessions for HTTP handlers. Create one with [New]
// at start-up and wrap the handlers that use sessions with
// [Manager.Handler]. A Manager is safe for concurrent use.
type Manager struct {
	store Store
	cfg   Config
	codec codec
	lim   Limits
	ob    observing // metrics hook, audit log, log throttles (observer.go)
	watch watcher   // sessions that long requests wait on (watch.go)
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
		store: store,
		cfg:   cfg,
		lim: Limits{Idle: cfg.IdleTimeout, Absolute: cfg.AbsoluteTimeout,
			MaxSize: cfg.MaxSize, MaxFields: cfg.MaxFields},
	}
	m.codec.name, m.codec.keys = cfg.CookieName, cfg.Keys
	m.ob.init(cfg)
	m.watch.m = m
	fingerprints := make([]string, len(cfg.Keys))
	for i, k := range cfg.Keys {
		fingerprints[i] = KeyFingerprint(k)
	}
	cfg.Logger.Info("session: signing keys", "fingerprints", fingerprints, "signing", fingerprints[0])
	return m
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

// Handler returns middleware that gives every request a [Session], found
// with [FromContext]. The session is loaded lazily: a request that never
// touches it costs no store call. Changes are saved before the response
// headers are written (the body is not buffered); a store that cannot answer
// turns the response into a 503 with Retry-After.
func (m *Manager) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := &Session{m: m, req: r}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, s))
		s.ctx = r.Context()
		rw := &responseWriter{ResponseWriter: w, s: s}
		next.ServeHTTP(rw, r)
		rw.finish()
		s.mu.Lock()
		watched := s.watched
		s.mu.Unlock()
		if watched != "" {
			m.watch.release(watched)
		}
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

// call runs f with the store timeout. It is where the store's errors get
// their meaning, once for every store: ErrTooLarge and ErrNotInteger
// refuse one call and come back as they are; every other failure is
// logged and wrapped in ErrStoreUnavailable.
func (m *Manager) call(ctx context.Context, op Op, f func(ctx context.Context) error) error {
	// The store call is bounded by StoreTimeout alone, not by the request:
	// it does not register with the request's cancellation (one map insert
	// and delete under a lock per call), and a client that leaves does not
	// abort a save half-way.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.StoreTimeout)
	start := m.ob.start()
	err := f(cctx)
	cancel()
	err = m.ob.storeCall(ctx, op, start, err)
	switch {
	case err == nil || errors.Is(err, ErrNotInteger):
		return err
	case errors.Is(err, ErrTooLarge):
		m.ob.event(ctx, EventTooLarge)
		return err
	}
	m.ob.storeFailed(ctx, m.cfg.Logger, op, err)
	return unavailable(err)
}

// Info describes one session of a user, for a "your sessions" page.
type Info struct {
	Handle    string    `json:"handle"`     // public name of the session; see [Handle]
	Current   bool      `json:"current"`    // the session of the request that listed it
	User      string    `json:"user"`       // the user it is bound to
	UserAgent string    `json:"user_agent"` // the User-Agent of the login request
	Created   time.Time `json:"created"`    // login time
	LastSeen  time.Time `json:"last_seen"`  // last request (within the store's touch throttle)
	Expires   time.Time `json:"expires"`    // when it dies unless used
}

// Sessions lists the live sessions of user, newest first. Errors wrap
// ErrStoreUnavailable.
func (m *Manager) Sessions(ctx context.Context, user string) ([]Info, error) {
	list, err := m.userSessions(ctx, user)
	if err != nil {
		return nil, err
	}
	out := make([]Info, 0, len(list))
	for _, us := range list {
		out = append(out, Info{
			Handle: Handle(us.Key), User: us.User, UserAgent: us.UserAgent,
			Created: us.Created, LastSeen: us.LastSeen, Expires: us.Expires,
		})
	}
	sortInfos(out)
	return out, nil
}

// Revoke destroys the session of user named by handle and reports whether
// there was one. A handle of another user's session is not found.
func (m *Manager) Revoke(ctx context.Context, user, handle string) (bool, error) {
	if user == "" || handle == "" {
		return false, nil
	}
	list, err := m.userSessions(ctx, user)
	if err != nil {
		return false, err
	}
	for _, us := range list {
		if us.User == user && Handle(us.Key) == handle {
			err := m.call(ctx, OpDestroy, func(ctx context.Context) error {
				return m.store.Destroy(ctx, us.Key)
			})
			if err == nil {
				m.watch.end(us.Key)
				m.revoked(ctx, user, handle, 1)
			}
			return true, err
		}
	}
	return false, nil
}

// RevokeAll destroys every session of user ("log out everywhere") and
// returns how many there were.
func (m *Manager) RevokeAll(ctx context.Context, user string) (int, error) {
	if user == "" {
		return 0, nil // anonymous sessions belong to no one
	}
	ix, ok := m.store.(UserIndex)
	if !ok {
		return 0, errNoUserIndex
	}
	var n int
	err := m.call(ctx, OpDestroyUser, func(ctx context.Context) (err error) {
		n, err = ix.DestroyUser(ctx, user, "")
		return err
	})
	if err == nil {
		m.revoked(ctx, user, "", n)
	}
	return n, err
}

// Healthy reports whether the store answers, by loading a key that cannot
// exist. It is meant for health checks.
func (m *Manager) Healthy(ctx context.Context) error {
	return m.call(ctx, OpLoad, func(ctx context.Context) error {
		_, _, err := m.store.Load(ctx, "health-check", m.lim)
		return err
	})
}

// userSessions lists the live sessions of user through the store's index.
func (m *Manager) userSessions(ctx context.Context, user string) ([]UserSession, error) {
	ix, ok := m.store.(UserIndex)
	if !ok {
		return nil, errNoUserIndex
	}
	var list []UserSession
	err := m.call(ctx, OpUserSessions, func(ctx context.Context) (err error) {
		list, err = ix.UserSessions(ctx, user)
		return err
	})
	return list, err
}

// evict ends the sessions of user past Config.MaxSessionsPerUser, oldest
// login first, never the session under keep (the one just logged in).
func (m *Manager) evict(ctx context.Context, user, keep string) error {
	max := m.cfg.MaxSessionsPerUser
	if _, ok := m.store.(UserIndex); !ok || max < 0 || user == "" {
		return nil
	}
	list, err := m.userSessions(ctx, user)
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
