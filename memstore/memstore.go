// Package memstore is the embedded session store: it keeps sessions in the
// memory of one process, with no set-up. It suits a single instance, tests
// and development; sessions are lost when the process ends, and instances
// behind a load balancer do not share them (use the Redis store for that).
//
// A [Store] implements [session.Store] and its optional interfaces
// [session.Counter], [session.UserIndex] and [session.Checker]. Each call holds the store's
// lock from its read to its last write, so it is atomic, and the limits of
// [session.Limits] (MaxSize, MaxFields) are checked under that lock before
// anything is written: a write that would pass them writes nothing and
// returns an error wrapping session.ErrTooLarge. The package sessiontest
// checks the Store against the contract.
//
// # The bound on sessions
//
// A Store holds at most Options.MaxSessions sessions (default 100,000),
// expired ones that the janitor has not deleted yet included. At the bound
// a creation first deletes the expired sessions (at most once a second),
// and is then refused with [ErrFull], which the session Manager answers
// with a 503; the sessions held keep working, and they can still be
// changed, renewed and destroyed. The last tenth of the bound is kept for
// sessions created bound to a user (a login): anonymous creations are
// refused from nine tenths on, so that a flood of anonymous sessions
// cannot lock users out. Memory is therefore bounded by
// about MaxSessions × session.Config.MaxSize (100,000 × 64 KiB = 6.4 GB
// at worst, a few hundred bytes a session for typical ones): set
// MaxSessions to what the process may hold.
//
// Why refuse rather than evict: evicting would end a live session, without
// a trace, because of someone else's traffic. A flood of new sessions
// would evict the sessions of real users first, since theirs have been
// idle longest and so expire soonest, while the flood's own are the
// newest. A refusal is visible (a 503 and a log line), touches no one who
// is already in, and clears itself as the flood's sessions reach their
// idle timeout. Stop a flood before it reaches the store: create sessions
// only for users who need one (a login, say), and rate-limit the routes
// that create them.
package memstore

import (
	"context"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/stickless/stickless/session"
)

const (
	// DefaultCleanupInterval is how often the janitor deletes expired
	// sessions when Options.CleanupInterval is zero.
	DefaultCleanupInterval = time.Minute

	// DefaultMaxSessions is the bound on live sessions when
	// Options.MaxSessions is zero.
	DefaultMaxSessions = 100_000
)

// sweepGap is the least time between two sweeps of expired sessions made
// because the store is full, so that a flood of refused creations does not
// scan every session each time.
const sweepGap = time.Second

// Options configures a Store. The zero value is a valid configuration.
type Options struct {
	// CleanupInterval is how often a background goroutine deletes expired
	// sessions. Expired sessions are never returned in between; the janitor
	// only frees their memory. default: 1 minute (DefaultCleanupInterval).
	CleanupInterval time.Duration

	// MaxSessions bounds the number of sessions the store holds: a
	// creation that would pass it fails with ErrFull, and so does an
	// anonymous creation past nine tenths of it (see the package
	// documentation for why it refuses rather than evicts). Negative means
	// no bound. default: 100,000 (DefaultMaxSessions).
	MaxSessions int

	// Now tells the time; tests set it to a fake clock. default: time.Now.
	Now func() time.Time
}

// Store is the in-memory session store. Create one with [New] and stop its
// janitor with [Store.Close]. All methods are safe for concurrent use.
//
// Load slides the idle deadline on every call: the store never skips a
// slide (its touch throttle is zero).
type Store struct {
	opts Options

	mu        sync.Mutex
	entries   map[string]*entry              // by key
	users     map[string]map[string]struct{} // user -> keys bound to it
	moved     map[string]moved               // renewed keys -> where they went, for a while
	closed    bool
	lastSweep time.Time // of expired sessions, by a creation at the bound

	stop chan struct{} // closed by Close to stop the janitor
	done chan struct{} // closed by the janitor when it has returned
}

// moved is where a renewal moved a session: Destroy of the old key follows
// it until the deadline, so that a logout or revocation racing a renewal
// ends the session under its new key too.
type moved struct {
	to    string
	until time.Time
}

// movedFor is how long a renewed key is followed.
const movedFor = time.Minute

// entry is one stored session.
type entry struct {
	values    map[string]string
	use       session.Usage
	user      string
	userAgent string
	remember  bool      // a persistent cookie (session.Write.Remember)
	wrap      string    // the wrapped value key (session.Write.Wrap)
	created   time.Time // the login time
	lastSeen  time.Time
	idle      time.Time // idle deadline
	absolute  time.Time // absolute deadline
}

// expires is when e dies unless used again.
func (e *entry) expires() time.Time {
	if e.absolute.Before(e.idle) {
		return e.absolute
	}
	return e.idle
}

// liveAt reports whether e is still alive at now.
func (e *entry) liveAt(now time.Time) bool { return now.Before(e.expires()) }

// touch slides e's idle deadline to now+idle, never past its absolute one.
func (e *entry) touch(now time.Time, idle time.Duration) {
	e.lastSeen = now
	e.idle = now.Add(idle)
	if e.idle.After(e.absolute) {
		e.idle = e.absolute
	}
}

// login restarts e's login time and absolute deadline at now.
func (e *entry) login(now time.Time, absolute time.Duration) {
	e.created = now
	e.absolute = now.Add(absolute)
}

// set stores v under field, keeping e.use.
func (e *entry) set(field, v string) {
	old, had := e.values[field]
	e.use = e.use.Change(field, old, had, v, true)
	e.values[field] = v
}

// del deletes field, keeping e.use.
func (e *entry) del(field string) {
	if old, ok := e.values[field]; ok {
		e.use = e.use.Change(field, old, true, "", false)
		delete(e.values, field)
	}
}

// apply writes w's values into e: Clear, then Del, then Set.
func (e *entry) apply(w *session.Write) {
	if w.Clear {
		clear(e.values)
		e.use = session.Usage{}
	}
	for _, k := range w.Del {
		e.del(k)
	}
	for k, v := range w.Set {
		e.set(k, v)
	}
}

// after returns what e would use after e.apply(w), without changing e. A
// nil e is an empty session.
func (e *entry) after(w *session.Write) session.Usage {
	var u session.Usage
	var have map[string]string
	if e != nil && !w.Clear {
		have, u = e.values, e.use
	}
	var deleted map[string]bool // fields of Del already counted
	for _, k := range w.Del {
		if _, set := w.Set[k]; set || deleted[k] {
			continue // counted with Set below, or already
		}
		if old, ok := have[k]; ok {
			if deleted == nil {
				deleted = make(map[string]bool, len(w.Del))
			}
			deleted[k] = true
			u = u.Change(k, old, true, "", false)
		}
	}
	for k, v := range w.Set {
		old, had := have[k]
		if deleted[k] {
			had = false
		}
		u = u.Change(k, old, had, v, true)
	}
	return u
}

// New returns a Store configured by opts and starts its janitor goroutine,
// which runs until [Store.Close]. A negative CleanupInterval panics.
func New(opts Options) *Store {
	if opts.CleanupInterval < 0 {
		panic("memstore: New: negative CleanupInterval")
	}
	if opts.CleanupInterval == 0 {
		opts.CleanupInterval = DefaultCleanupInterval
	}
	if opts.MaxSessions == 0 {
		opts.MaxSessions = DefaultMaxSessions
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Store{
		opts:    opts,
		entries: make(map[string]*entry),
		users:   make(map[string]map[string]struct{}),
		moved:   make(map[string]moved),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go s.janitor()
	return s
}

// Close stops the janitor, waits for it to return and drops every session.
// Afterwards every method returns ErrClosed. Close is idempotent and always
// returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	s.closed = true
	s.entries, s.users, s.moved = nil, nil, nil
	close(s.stop)
	s.mu.Unlock()
	<-s.done
	return nil
}

// janitor deletes expired sessions every CleanupInterval until Close.
func (s *Store) janitor() {
	defer close(s.done)
	t := time.NewTicker(s.opts.CleanupInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.deleteExpired()
		}
	}
}

// deleteExpired deletes every session that has expired.
func (s *Store) deleteExpired() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.deleteExpiredLocked(s.opts.Now())
	}
}

func (s *Store) deleteExpiredLocked(now time.Time) {
	for key, e := range s.entries {
		if !e.liveAt(now) {
			s.removeLocked(key)
		}
	}
	for key, m := range s.moved {
		if !now.Before(m.until) {
			delete(s.moved, key)
		}
	}
}

// roomLocked reports whether the store may hold one more session, bound
// to user or anonymous. At the bound it deletes the expired sessions first,
// at most once per sweepGap.
func (s *Store) roomLocked(now time.Time, user string) bool {
	max := s.opts.MaxSessions
	if user == "" {
		max -= max / 10 // the last tenth is for logins
	}
	if max < 0 || len(s.entries) < max {
		return true
	}
	if now.Sub(s.lastSweep) >= sweepGap || now.Before(s.lastSweep) {
		s.lastSweep = now
		s.deleteExpiredLocked(now)
	}
	return len(s.entries) < max
}

// begin locks the store for one call, or returns why it cannot answer. On
// success the caller must unlock s.mu.
func (s *Store) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return contextError(err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	return nil
}

// liveLocked returns the live entry under key, deleting it if it expired.
func (s *Store) liveLocked(key string, now time.Time) *entry {
	e := s.entries[key]
	if e == nil {
		return nil
	}
	if !e.liveAt(now) {
		s.removeLocked(key)
		return nil
	}
	return e
}

// userLiveLocked returns the live entry under key if it is bound to user.
// Otherwise it prunes key from user's index (and deletes an expired
// entry) and returns nil. The index is kept in step, so only expired
// sessions are pruned; the other checks are defensive.
func (s *Store) userLiveLocked(user, key string, now time.Time) *entry {
	e := s.liveLocked(key, now)
	if e == nil || e.user != user {
		s.unindexLocked(key, user)
		return nil
	}
	return e
}

// putLocked stores e under key, replacing (and unindexing) any entry there,
// and adds it to its user's index.
func (s *Store) putLocked(key string, e *entry) {
	s.removeLocked(key)
	s.entries[key] = e
	s.indexLocked(key, e.user)
}

// removeLocked deletes the entry under key and its index entry, and reports
// whether there was one.
func (s *Store) removeLocked(key string) bool {
	e := s.entries[key]
	if e == nil {
		return false
	}
	delete(s.entries, key)
	s.unindexLocked(key, e.user)
	return true
}

func (s *Store) indexLocked(key, user string) {
	if user == "" {
		return
	}
	keys := s.users[user]
	if keys == nil {
		keys = make(map[string]struct{})
		s.users[user] = keys
	}
	keys[key] = struct{}{}
}

func (s *Store) unindexLocked(key, user string) {
	if user == "" {
		return
	}
	keys := s.users[user]
	delete(keys, key)
	if len(keys) == 0 {
		delete(s.users, user)
	}
}

// Load implements [session.Store]. The Record's Values are a copy the
// caller may keep and change.
func (s *Store) Load(ctx context.Context, key string, lim session.Limits) (session.Record, bool, error) {
	if err := s.begin(ctx); err != nil {
		return session.Record{}, false, err
	}
	defer s.mu.Unlock()
	now := s.opts.Now()
	e := s.liveLocked(key, now)
	if e == nil {
		return session.Record{}, false, nil
	}
	e.touch(now, lim.Idle)
	rec := e.record()
	rec.Values = maps.Clone(e.values)
	return rec, true, nil
}

// Save implements [session.Store]: the write is the one [session.Write.Kind]
// names. A creation fails with ErrFull when the store holds
// Options.MaxSessions live sessions. A creation or renewal records
// w.UserAgent and w.Remember; an update ignores them.
func (s *Store) Save(ctx context.Context, w session.Write) (bool, error) {
	if err := s.begin(ctx); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	now := s.opts.Now()
	kind := w.Kind()
	if kind == session.OpCreate {
		err := s.createLocked(&w, now)
		return err == nil, err
	}
	key := w.Key
	if kind == session.OpRenew {
		key = w.From
	}
	e := s.liveLocked(key, now)
	if e == nil {
		return false, nil
	}
	if u := e.after(&w); !u.Within(w.Limits) {
		return false, tooLarge(u, w.Limits)
	}
	e.apply(&w)
	if w.Login {
		e.login(now, w.Limits.Absolute)
	}
	e.touch(now, w.Limits.Idle)
	if kind == session.OpRenew {
		// A renewal: the entry moves, and the index with it.
		s.removeLocked(w.From)
		s.moved[w.From] = moved{to: w.Key, until: now.Add(movedFor)}
		e.userAgent, e.remember, e.wrap = w.UserAgent, w.Remember, w.Wrap
		if w.BindUser {
			e.user = w.User
		}
		s.putLocked(w.Key, e)
		return true, nil
	}
	if w.BindUser && e.user != w.User {
		s.unindexLocked(w.Key, e.user)
		e.user = w.User
		s.indexLocked(w.Key, e.user)
	}
	return true, nil
}

// createLocked stores a new session under w.Key.
func (s *Store) createLocked(w *session.Write, now time.Time) error {
	if u := (*entry)(nil).after(w); !u.Within(w.Limits) {
		return tooLarge(u, w.Limits)
	}
	if s.entries[w.Key] == nil && !s.roomLocked(now, w.User) {
		return ErrFull
	}
	e := &entry{
		values:    make(map[string]string, len(w.Set)),
		user:      w.User,
		userAgent: w.UserAgent,
		remember:  w.Remember,
		wrap:      w.Wrap,
	}
	e.apply(w)
	e.login(now, w.Limits.Absolute)
	e.touch(now, w.Limits.Idle)
	s.putLocked(w.Key, e)
	return nil
}

// Destroy implements [session.Store]. A key that a renewal moved less
// than a minute ago is followed to its new key.
func (s *Store) Destroy(ctx context.Context, key string) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	now := s.opts.Now()
	for range len(s.moved) + 1 { // keys are never reused: no cycle
		if s.removeLocked(key) {
			return nil
		}
		m, ok := s.moved[key]
		if !ok || !now.Before(m.until) {
			return nil
		}
		key = m.to
	}
	return nil
}

// Incr implements [session.Counter]. The field must hold a JSON integer
// that fits in an int64 (like "42" or "-7"); the new value is stored as its
// decimal text. A result that would overflow an int64 is an error wrapping
// session.ErrNotInteger, and the field is left as it was.
func (s *Store) Incr(ctx context.Context, key, field string, n int64, lim session.Limits) (int64, bool, error) {
	if err := s.begin(ctx); err != nil {
		return 0, false, err
	}
	defer s.mu.Unlock()
	now := s.opts.Now()
	e := s.liveLocked(key, now)
	if e == nil {
		return 0, false, nil
	}
	var v int64
	if b, ok := e.values[field]; ok {
		var err error
		if v, err = parseInt(b); err != nil {
			return 0, true, err
		}
	}
	sum := v + n
	if (n > 0 && sum < v) || (n < 0 && sum > v) {
		return 0, true, errOverflow
	}
	nb := strconv.FormatInt(sum, 10)
	if err := e.fitsSet(field, nb, lim); err != nil {
		return 0, true, err
	}
	e.set(field, nb)
	e.touch(now, lim.Idle)
	return sum, true, nil
}

// CompareAndSwap implements [session.Counter]. It compares bytes exactly:
// old == nil matches only an absent field, and a non-nil empty old matches
// only a present empty value. A comparison that fails still slides the
// idle deadline.
func (s *Store) CompareAndSwap(ctx context.Context, key, field string, old, new []byte, lim session.Limits) (bool, bool, error) {
	if err := s.begin(ctx); err != nil {
		return false, false, err
	}
	defer s.mu.Unlock()
	now := s.opts.Now()
	e := s.liveLocked(key, now)
	if e == nil {
		return false, false, nil
	}
	cur, ok := e.values[field]
	if (old == nil && ok) || (old != nil && (!ok || cur != string(old))) {
		e.touch(now, lim.Idle)
		return false, true, nil
	}
	if err := e.fitsSet(field, string(new), lim); err != nil {
		return false, true, err
	}
	e.set(field, string(new))
	e.touch(now, lim.Idle)
	return true, true, nil
}

// fitsSet returns an error wrapping session.ErrTooLarge if setting field
// to v would make e pass lim.
func (e *entry) fitsSet(field, v string, lim session.Limits) error {
	old, had := e.values[field]
	if u := e.use.Change(field, old, had, v, true); !u.Within(lim) {
		return tooLarge(u, lim)
	}
	return nil
}

// UserSessions implements [session.UserIndex]. The records carry no
// Values.
func (s *Store) UserSessions(ctx context.Context, user string) ([]session.UserSession, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	now := s.opts.Now()
	var out []session.UserSession
	for k := range s.users[user] {
		e := s.userLiveLocked(user, k, now)
		if e == nil {
			continue
		}
		out = append(out, session.UserSession{Key: k, Record: e.record()})
	}
	return out, nil
}

// DestroyUser implements [session.UserIndex]. The count includes live
// sessions only.
func (s *Store) DestroyUser(ctx context.Context, user, keep string) (int, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	now := s.opts.Now()
	n := 0
	for k := range s.users[user] {
		if k != keep && s.userLiveLocked(user, k, now) != nil {
			s.removeLocked(k)
			n++
		}
	}
	return n, nil
}

// Live implements [session.Checker]: it reports which keys hold a live
// session, without sliding their idle deadlines.
func (s *Store) Live(ctx context.Context, keys []string) ([]bool, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	now := s.opts.Now()
	live := make([]bool, len(keys))
	for i, k := range keys {
		live[i] = s.liveLocked(k, now) != nil
	}
	return live, nil
}

// record returns e's metadata, without values.
func (e *entry) record() session.Record {
	return session.Record{
		User:      e.user,
		UserAgent: e.userAgent,
		Remember:  e.remember,
		Wrap:      e.wrap,
		Created:   e.created,
		LastSeen:  e.lastSeen,
		Expires:   e.expires(),
	}
}

// Compile-time checks that Store satisfies the contract and its optional
// interfaces.
var (
	_ session.Store     = (*Store)(nil)
	_ session.Counter   = (*Store)(nil)
	_ session.UserIndex = (*Store)(nil)
	_ session.Checker   = (*Store)(nil)
)
