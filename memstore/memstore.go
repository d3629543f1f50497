// Package memstore is the embedded session store: it keeps sessions in the
// memory of one process, with no set-up. It suits a single instance, tests
// and development; sessions are lost when the process ends, and instances
// behind a load balancer do not share them (use the Redis store for that).
//
// A Store implements [session.Store]: every method is safe for concurrent
// use, and the package sessiontest checks it against the contract.
package memstore

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/stickless/stickless/session"
)

// DefaultCleanupInterval is how often the janitor deletes expired sessions
// when Options.CleanupInterval is zero.
const DefaultCleanupInterval = time.Minute

// Options configures a Store. The zero value is a valid configuration.
type Options struct {
	// CleanupInterval is how often a background goroutine deletes expired
	// sessions. Expired sessions are never returned in between; the janitor
	// only frees their memory. default: 1 minute (DefaultCleanupInterval).
	CleanupInterval time.Duration

	// MaxSessionsPerUser caps the live sessions bound to one user: when a
	// Create, Renew or Update binds a session that makes a user pass the
	// cap, the user's other sessions are destroyed oldest first (by their
	// creation or renewal time) until the user is within it. default: 0,
	// unlimited.
	MaxSessionsPerUser int

	// Now tells the time; tests set it to a fake clock. default: time.Now.
	Now func() time.Time
}

// Store is the in-memory [session.Store]. Create one with [New] and stop its
// janitor with [Store.Close]. All methods are safe for concurrent use.
//
// Load slides the idle deadline on every call: the store never skips a
// slide (its touch throttle is zero).
type Store struct {
	opts Options

	mu      sync.Mutex
	entries map[string]*entry              // by key
	users   map[string]map[string]struct{} // user -> keys bound to it
	closed  bool

	stop chan struct{} // closed by Close to stop the janitor
	done chan struct{} // closed by the janitor when it has returned
}

// entry is one stored session.
type entry struct {
	values    map[string][]byte
	user      string
	userAgent string
	created   time.Time
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

// New returns a Store configured by opts and starts its janitor goroutine,
// which runs until [Store.Close]. A negative CleanupInterval or
// MaxSessionsPerUser panics.
func New(opts Options) *Store {
	if opts.CleanupInterval < 0 {
		panic("memstore: New: negative CleanupInterval")
	}
	if opts.MaxSessionsPerUser < 0 {
		panic("memstore: New: negative MaxSessionsPerUser")
	}
	if opts.CleanupInterval == 0 {
		opts.CleanupInterval = DefaultCleanupInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Store{
		opts:    opts,
		entries: make(map[string]*entry),
		users:   make(map[string]map[string]struct{}),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go s.janitor()
	return s
}

// Close stops the janitor, waits for it to return and drops every session.
// Afterwards every method returns an error wrapping ErrClosed (and so
// session.ErrStoreUnavailable). Close is idempotent and always returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	s.closed = true
	s.entries, s.users = nil, nil
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
	if s.closed {
		return
	}
	now := s.opts.Now()
	for key, e := range s.entries {
		if !e.liveAt(now) {
			s.removeLocked(key)
		}
	}
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

// bindLocked binds the entry under key to user, keeping the index in step,
// and enforces MaxSessionsPerUser.
func (s *Store) bindLocked(key string, e *entry, user string, now time.Time) {
	if e.user != user {
		s.unindexLocked(key, e.user)
		e.user = user
		s.indexLocked(key, user)
	}
	s.capLocked(user, key, now)
}

// capLocked destroys the oldest sessions of user other than keep while the
// user has more live sessions than MaxSessionsPerUser.
func (s *Store) capLocked(user, keep string, now time.Time) {
	max := s.opts.MaxSessionsPerUser
	if max == 0 || user == "" {
		return
	}
	type aged struct {
		key     string
		created time.Time
	}
	var others []aged
	for k := range s.users[user] {
		if k == keep {
			continue
		}
		if e := s.userLiveLocked(user, k, now); e != nil {
			others = append(others, aged{k, e.created})
		}
	}
	excess := len(others) + 1 - max
	if excess <= 0 {
		return
	}
	slices.SortFunc(others, func(a, b aged) int {
		if c := a.created.Compare(b.created); c != 0 {
			return c
		}
		if a.key < b.key {
			return -1
		}
		return 1
	})
	for _, o := range others[:excess] {
		s.removeLocked(o.key)
	}
}

// Load implements [session.Store.Load]. The Record's Values are a copy the
// caller may keep and change.
func (s *Store) Load(ctx context.Context, key string, lt session.Lifetime) (session.Record, bool, error) {
	if err := s.begin(ctx); err != nil {
		return session.Record{}, false, err
	}
	defer s.mu.Unlock()
	now := s.opts.Now()
	e := s.liveLocked(key, now)
	if e == nil {
		return session.Record{}, false, nil
	}
	e.touch(now, lt.Idle)
	rec := e.record()
	rec.Values = cloneValues(e.values)
	return rec, true, nil
}

// Create implements [session.Store.Create].
func (s *Store) Create(ctx context.Context, key string, ch session.Change, lt session.Lifetime) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	now := s.opts.Now()
	e := &entry{
		values:    make(map[string][]byte, len(ch.Set)),
		userAgent: ch.UserAgent,
		created:   now,
		absolute:  now.Add(lt.Absolute),
	}
	e.touch(now, lt.Idle)
	for k, v := range ch.Set {
		e.values[k] = clone(v)
	}
	s.putLocked(key, e)
	if ch.User != "" {
		s.bindLocked(key, e, ch.User, now)
	}
	return nil
}

// Update implements [session.Store.Update]. ch.Del is applied before
// ch.Set; ch.UserAgent is ignored.
func (s *Store) Update(ctx context.Context, key string, ch session.Change, lt session.Lifetime) (bool, error) {
	if err := s.begin(ctx); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	now := s.opts.Now()
	e := s.liveLocked(key, now)
	if e == nil {
		return false, nil
	}
	apply(e, ch)
	e.touch(now, lt.Idle)
	if ch.SetUser {
		s.bindLocked(key, e, ch.User, now)
	}
	return true, nil
}

// Renew implements [session.Store.Renew]. The session keeps its user unless
// ch.User is set or ch.SetUser is true (then ch.User, "" unbinds it), and
// its user agent unless ch.UserAgent is set.
func (s *Store) Renew(ctx context.Context, oldKey, newKey string, ch session.Change, lt session.Lifetime) (bool, error) {
	if err := s.begin(ctx); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	now := s.opts.Now()
	e := s.liveLocked(oldKey, now)
	if e == nil {
		return false, nil
	}
	s.removeLocked(oldKey)
	apply(e, ch)
	if ch.UserAgent != "" {
		e.userAgent = ch.UserAgent
	}
	e.created = now
	e.absolute = now.Add(lt.Absolute)
	e.touch(now, lt.Idle)
	s.putLocked(newKey, e)
	if ch.SetUser || ch.User != "" {
		s.bindLocked(newKey, e, ch.User, now)
	}
	return true, nil
}

// Destroy implements [session.Store.Destroy].
func (s *Store) Destroy(ctx context.Context, key string) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.removeLocked(key)
	return nil
}

// Incr implements [session.Store.Incr]. The field must hold a JSON integer
// that fits in an int64 (like "42" or "-7"); the new value is stored as its
// decimal text. A result that would overflow an int64 is an error wrapping
// session.ErrNotInteger, and the field is left as it was.
func (s *Store) Incr(ctx context.Context, key, field string, n int64, lt session.Lifetime) (int64, bool, error) {
	if err := s.begin(ctx); err != nil {
		return 0, false, err
	}
	defer s.mu.Unlock()
	now := s.opts.Now()
	e := s.liveLocked(key, now)
	if e == nil {
		return 0, false, nil
	}
	e.touch(now, lt.Idle)
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
	e.values[field] = formatInt(sum)
	return sum, true, nil
}

// CompareAndSwap implements [session.Store.CompareAndSwap]. It compares
// bytes exactly: old == nil matches only an absent field, and a non-nil
// empty old matches only a present empty value.
func (s *Store) CompareAndSwap(ctx context.Context, key, field string, old, new []byte, lt session.Lifetime) (bool, bool, error) {
	if err := s.begin(ctx); err != nil {
		return false, false, err
	}
	defer s.mu.Unlock()
	now := s.opts.Now()
	e := s.liveLocked(key, now)
	if e == nil {
		return false, false, nil
	}
	e.touch(now, lt.Idle)
	cur, ok := e.values[field]
	if old == nil {
		if ok {
			return false, true, nil
		}
	} else if !ok || string(cur) != string(old) {
		return false, true, nil
	}
	e.values[field] = clone(new)
	return true, true, nil
}

// UserSessions implements [session.Store.UserSessions]. The records carry
// no Values.
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

// DestroyUser implements [session.Store.DestroyUser]. The count includes
// live sessions only.
func (s *Store) DestroyUser(ctx context.Context, user string) (int, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	now := s.opts.Now()
	n := 0
	for k := range s.users[user] {
		if s.userLiveLocked(user, k, now) != nil {
			s.removeLocked(k)
			n++
		}
	}
	return n, nil
}

// record returns e's metadata, without values.
func (e *entry) record() session.Record {
	return session.Record{
		User:      e.user,
		UserAgent: e.userAgent,
		Created:   e.created,
		LastSeen:  e.lastSeen,
		Expires:   e.expires(),
	}
}

// apply writes ch's deletions and sets into e.
func apply(e *entry, ch session.Change) {
	for _, k := range ch.Del {
		delete(e.values, k)
	}
	for k, v := range ch.Set {
		e.values[k] = clone(v)
	}
}

// clone copies b, keeping a non-nil empty slice non-nil.
func clone(b []byte) []byte { return append([]byte{}, b...) }

func cloneValues(m map[string][]byte) map[string][]byte {
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = clone(v)
	}
	return out
}

// Compile-time check that Store satisfies the contract.
var _ session.Store = (*Store)(nil)
