package session

import (
	"context"
	"time"
)

// Store is where sessions live. A Store holds records under keys that are
// hashes of session tokens: it never sees a token itself.
//
// "Not found" is a value, not an error: a method reports a missing, expired
// or destroyed session with found == false (or applied == false) and a nil
// error. An error means the store could not answer; it should wrap
// [ErrStoreUnavailable], and the [Manager] treats every error as such.
//
// All methods must be safe for concurrent use, honour ctx (a done context is
// an error wrapping [ErrStoreUnavailable]), and apply each call atomically:
// two calls that change different fields of one session both keep their
// change, and no call brings back a session that was destroyed or renewed
// away. The package sessiontest checks a Store against this contract.
type Store interface {
	// Load returns the live session stored under key and slides its idle
	// deadline to now+lt.Idle, never past its absolute deadline. A store may
	// skip the slide when less than a quarter of the idle window has passed
	// since the last one, and must document by how much. An expired session
	// is reported as not found (and may be deleted).
	Load(ctx context.Context, key string, lt Lifetime) (rec Record, found bool, err error)

	// Create stores a new session under key with the fields of ch.Set,
	// ch.User and ch.UserAgent, created now, with an absolute deadline of
	// now+lt.Absolute and an idle deadline of now+lt.Idle. If ch.User is not
	// empty the session joins that user's index. Keys are 256-bit hashes of
	// random tokens, so Create may overwrite without checking.
	Create(ctx context.Context, key string, ch Change, lt Lifetime) error

	// Update applies ch to the live session under key (delete ch.Del, then
	// set ch.Set; bind ch.User when ch.SetUser, where "" unbinds; UserAgent
	// is ignored) and slides its idle deadline. It
	// writes nothing and returns applied == false when the session does not
	// exist, has expired, or was destroyed or renewed.
	Update(ctx context.Context, key string, ch Change, lt Lifetime) (applied bool, err error)

	// Renew moves the live session under oldKey to newKey, applies ch to it,
	// and gives it a new creation time and absolute deadline (now+lt.Absolute):
	// renewal happens at login, and the absolute timeout counts from there.
	// The old key is dead afterwards, for reads and for writes. The session
	// keeps its user unless ch.SetUser, and its user agent unless
	// ch.UserAgent is set. The user index follows the move. It returns
	// applied == false, writing nothing, when oldKey is not live.
	Renew(ctx context.Context, oldKey, newKey string, ch Change, lt Lifetime) (applied bool, err error)

	// Destroy deletes the session under key and removes it from its user's
	// index. Destroying a missing session is not an error.
	Destroy(ctx context.Context, key string) error

	// Incr adds n to the integer field of the live session under key
	// (a missing field counts as 0), slides the idle deadline and returns
	// the new value. It returns found == false when the session is not
	// live, and an error wrapping [ErrNotInteger] when the field holds
	// something else than an integer or the sum overflows int64.
	Incr(ctx context.Context, key, field string, n int64, lt Lifetime) (v int64, found bool, err error)

	// CompareAndSwap sets field to new only if it currently holds exactly
	// old (old == nil: only if the field is absent), and slides the idle
	// deadline. It returns found == false when the session is not live.
	CompareAndSwap(ctx context.Context, key, field string, old, new []byte, lt Lifetime) (swapped, found bool, err error)

	// UserSessions lists the live sessions bound to user, in no particular
	// order. Values may be left out of the records returned. Stale index
	// entries are pruned on the way.
	UserSessions(ctx context.Context, user string) ([]UserSession, error)

	// DestroyUser destroys every session bound to user and returns how many
	// live ones there were.
	DestroyUser(ctx context.Context, user string) (n int, err error)
}

// Lifetime carries the timeouts a store enforces. Both are positive.
type Lifetime struct {
	Idle     time.Duration // the session dies after this long without a request
	Absolute time.Duration // the session dies this long after it was created or renewed
}

// Change is a delta to apply to one session: only the fields it names are
// written, so that two requests changing different fields never undo each
// other.
type Change struct {
	Set       map[string][]byte // fields to set, values as encoded by the Manager (JSON)
	Del       []string          // fields to delete
	SetUser   bool              // bind the session to User (Create and Renew always do when User != "")
	User      string            // the user the session belongs to; "" = anonymous
	UserAgent string            // recorded by Create and Renew, for the user's session list
}

// Record is one stored session as a store returns it.
type Record struct {
	Values    map[string][]byte // the fields; nil when the store left them out
	User      string            // "" = not bound to a user
	UserAgent string
	Created   time.Time // when the session was created or last renewed
	LastSeen  time.Time // last time its idle deadline was slid (within the store's throttle)
	Expires   time.Time // when it dies unless used again: min(idle deadline, absolute deadline)
}

// UserSession is one entry of a user's session list.
type UserSession struct {
	Key string // the store key of the session (a hash of its token)
	Record
}
