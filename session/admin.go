package session

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Admin lists and ends the sessions of users without a request and
// without signing keys: for an operator's command line, an admin page or
// a job, with a store alone ([NewAdmin]), or through the Admin that every
// [Manager] embeds. The requests that wait on an ended session
// ([Session.Done]) end within about a second on every instance; at once
// in the Manager's own process for [Admin.Revoke].
//
// Every call honours its ctx: its cancellation, and its deadline, or
// Config.StoreTimeout when ctx has none. Errors wrap ErrStoreUnavailable
// when the store could not answer, and errors.ErrUnsupported when it keeps
// no user index ([UserIndex]). The revocations are reported to
// Config.AuditLog and Config.Observer. An Admin is safe for concurrent use.
type Admin struct {
	store Store
	cfg   Config
	ob    observing // metrics hook, audit log, log throttles (observer.go)
	// deadlines are the contexts of the calls made in requests.
	deadlines *deadlines
	// ended is told the keys of the sessions that the Admin ended: the
	// Manager's watcher, or nil.
	ended func(keys ...string)
}

// NewAdmin returns an Admin over store. Of cfg it uses StoreTimeout,
// Logger, AuditLog, ClientAddr and Observer, with their defaults, and
// ignores the rest: Keys may be empty. It panics when store is nil or
// StoreTimeout is negative.
func NewAdmin(store Store, cfg Config) *Admin {
	if store == nil {
		panic("session: NewAdmin: nil Store")
	}
	if cfg.StoreTimeout < 0 {
		panic("session: Config.StoreTimeout is negative")
	}
	if cfg.StoreTimeout == 0 {
		cfg.StoreTimeout = DefaultStoreTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return newAdmin(store, cfg)
}

func newAdmin(store Store, cfg Config) *Admin {
	a := &Admin{store: store, cfg: cfg, deadlines: newDeadlines(cfg.StoreTimeout)}
	a.ob.init(cfg)
	return a
}

// Info describes one session of a user, for a "your sessions" page.
type Info struct {
	Handle    string    `json:"handle"`     // public name of the session; see [Handle]
	Current   bool      `json:"current"`    // the session of the request that listed it ([Session.Sessions])
	User      string    `json:"user"`       // the user it is bound to
	UserAgent string    `json:"user_agent"` // the User-Agent of the login request
	Created   time.Time `json:"created"`    // login time
	LastSeen  time.Time `json:"last_seen"`  // last request (within the store's touch throttle)
	Expires   time.Time `json:"expires"`    // when it dies unless used
}

// Sessions lists the live sessions of user, newest first.
func (a *Admin) Sessions(ctx context.Context, user string) ([]Info, error) {
	list, err := a.userSessions(ctx, user, a.callOut)
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
func (a *Admin) Revoke(ctx context.Context, user, handle string) (bool, error) {
	if user == "" || handle == "" {
		return false, nil
	}
	key, err := a.keyOf(ctx, user, handle)
	if err != nil || key == "" {
		return false, err
	}
	err = a.callOut(ctx, OpDestroy, func(ctx context.Context) error {
		return a.store.Destroy(ctx, key)
	})
	if err == nil {
		a.end(key)
		a.revoked(ctx, user, handle, 1, "")
	}
	return true, err
}

// RevokeAll destroys every session of user ("log out everywhere"), the
// current one of a request included, and returns how many there were.
func (a *Admin) RevokeAll(ctx context.Context, user string) (int, error) {
	return a.destroyUser(ctx, user, "")
}

// RevokeOthers destroys every session of user except the one named by
// keep ("log out my other sessions", OWASP ASVS 3.3.3), and returns how
// many there were. In a handler, keep is the current session's
// [Session.Handle]. A keep that names none of the user's sessions keeps
// none.
func (a *Admin) RevokeOthers(ctx context.Context, user, keep string) (int, error) {
	if user == "" {
		return 0, nil
	}
	key, err := a.keyOf(ctx, user, keep)
	if err != nil {
		return 0, err
	}
	return a.destroyUser(ctx, user, key)
}

// Healthy reports whether the store answers, by loading a key that cannot
// exist. It is meant for health checks.
func (a *Admin) Healthy(ctx context.Context) error {
	return a.callOut(ctx, OpLoad, func(ctx context.Context) error {
		_, _, err := a.store.Load(ctx, "health-check", Limits{Idle: time.Minute, Absolute: time.Minute})
		return err
	})
}

// destroyUser destroys the sessions of user but the one under keep.
func (a *Admin) destroyUser(ctx context.Context, user, keep string) (int, error) {
	if user == "" {
		return 0, nil // anonymous sessions belong to no one
	}
	ix, ok := a.store.(UserIndex)
	if !ok {
		return 0, errNoUserIndex
	}
	var n int
	err := a.callOut(ctx, OpDestroyUser, func(ctx context.Context) (err error) {
		n, err = ix.DestroyUser(ctx, user, keep)
		return err
	})
	if err == nil {
		a.revoked(ctx, user, "", n, keep)
	}
	return n, err
}

// keyOf returns the store key of user's session named by handle, or "".
func (a *Admin) keyOf(ctx context.Context, user, handle string) (string, error) {
	if handle == "" {
		return "", nil
	}
	list, err := a.userSessions(ctx, user, a.callOut)
	if err != nil {
		return "", err
	}
	for _, us := range list {
		if us.User == user && Handle(us.Key) == handle {
			return us.Key, nil
		}
	}
	return "", nil
}

// end tells the Manager, if any, of sessions that the Admin ended.
func (a *Admin) end(keys ...string) {
	if a.ended != nil {
		a.ended(keys...)
	}
}

// userSessions lists the live sessions of user through the store's index,
// with call or callOut.
func (a *Admin) userSessions(ctx context.Context, user string, call func(context.Context, Op, func(context.Context) error) error) ([]UserSession, error) {
	ix, ok := a.store.(UserIndex)
	if !ok {
		return nil, errNoUserIndex
	}
	var list []UserSession
	err := call(ctx, OpUserSessions, func(ctx context.Context) (err error) {
		list, err = ix.UserSessions(ctx, user)
		return err
	})
	return list, err
}

// call runs f, a store call of a request, bounded by StoreTimeout alone
// (see deadlines): a client that leaves does not abort a save half-way.
func (a *Admin) call(ctx context.Context, op Op, f func(ctx context.Context) error) error {
	return a.done(ctx, op, a.ob.start(), f(a.deadlines.of(ctx)))
}

// callOut runs f, a store call made outside a request, bounded by ctx,
// and by StoreTimeout when ctx has no deadline.
func (a *Admin) callOut(ctx context.Context, op Op, f func(ctx context.Context) error) error {
	cctx := ctx
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(ctx, a.cfg.StoreTimeout)
		defer cancel()
	}
	return a.done(ctx, op, a.ob.start(), f(cctx))
}

// done gives the store's errors their meaning, once for every store:
// ErrTooLarge and ErrNotInteger refuse one call and come back as they
// are; every other failure is logged and wrapped in ErrStoreUnavailable.
func (a *Admin) done(ctx context.Context, op Op, start time.Time, err error) error {
	err = a.ob.storeCall(ctx, op, start, err)
	switch {
	case err == nil || errors.Is(err, ErrNotInteger):
		return err
	case errors.Is(err, ErrTooLarge):
		a.ob.event(ctx, EventTooLarge)
		return err
	}
	a.ob.storeFailed(ctx, op, err)
	return unavailable(err)
}
