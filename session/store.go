package session

import (
	"context"
	"time"
)

// Store is where sessions live: the three calls that every store makes.
// A Store holds records under keys that are hashes of session tokens; it
// never sees a token itself. What not every store must do is in the
// optional interfaces [Counter], [UserIndex] and [Checker], which the
// [Manager] finds by type assertion, as net/http finds a ResponseWriter's
// extensions.
//
// "Not found" is a value, not an error: a missing, expired or destroyed
// session is found == false (or applied == false) with a nil error. An
// error means the store could not answer, except [ErrTooLarge] and
// [ErrNotInteger], which refuse one call; the Manager wraps every other
// error in [ErrStoreUnavailable], so a store returns its errors as they
// are.
//
// All methods must be safe for concurrent use and honour ctx. Each call is
// atomic: two calls that change different fields of one session both keep
// their change, no call brings back a session that was destroyed or
// renewed away, and a limit of [Limits] holds whatever calls run at once
// on any number of processes. Policy (when to renew, which user to bind,
// how many sessions a user may keep) is the Manager's: a store does what
// each call says. The package sessiontest checks a Store, and each
// optional interface it implements, against this contract.
type Store interface {
	// Load returns the live session stored under key. A session past its
	// idle or absolute deadline is not found. Load slides the idle
	// deadline to now+lim.Idle, never past the absolute deadline; a store
	// may skip the slide when less than a quarter of the idle window has
	// passed since the last one, and documents by how much.
	Load(ctx context.Context, key string, lim Limits) (rec Record, found bool, err error)

	// Save applies w atomically, as the write that [Write.Kind] names:
	//   - OpCreate: a new session under w.Key (keys are 256-bit hashes of
	//     random tokens, so it may overwrite without checking);
	//   - OpRenew: the live session under w.From moves to w.Key with w
	//     applied, and w.From dies, for reads and writes;
	//   - OpUpdate: the live session under w.Key.
	// An update or renewal of a session that is not live writes nothing
	// and returns applied == false. A write whose result would pass
	// w.Limits.MaxSize or MaxFields writes nothing and returns an error
	// wrapping [ErrTooLarge]. Every applied write slides the idle deadline.
	Save(ctx context.Context, w Write) (applied bool, err error)

	// Destroy deletes the session under key, and its entry in its user's
	// index when the store keeps one. Destroying a missing session is not
	// an error.
	Destroy(ctx context.Context, key string) error
}

// Counter is implemented by stores that change one value in place,
// atomically, without a load: [Session.Incr] and [Session.CompareAndSwap]
// need it. Both slide the idle deadline, return found == false when the
// session is not live, and refuse with [ErrTooLarge] a change whose result
// would pass the limits.
type Counter interface {
	// Incr adds n to the integer field of the live session under key (a
	// missing field counts as 0) and returns the new value. It returns an
	// error wrapping [ErrNotInteger] when the field holds something else
	// than an integer or the sum overflows int64.
	Incr(ctx context.Context, key, field string, n int64, lim Limits) (v int64, found bool, err error)

	// CompareAndSwap sets field to new only if it holds exactly old now
	// (old == nil: only if the field is absent).
	CompareAndSwap(ctx context.Context, key, field string, old, new []byte, lim Limits) (swapped, found bool, err error)
}

// UserIndex is implemented by stores that keep, for each user, the
// sessions bound to it: the user's session list, "log out everywhere" and
// Config.MaxSessionsPerUser need it. A store that implements it keeps the
// index in step with Save and Destroy: a session bound to a user is in
// that user's index as soon as the Save that bound it returns (a Save
// that cannot write the index fails), and Destroy removes it.
type UserIndex interface {
	// UserSessions lists the live sessions bound to user, in no particular
	// order, pruning stale index entries on the way. Values may be left
	// out of the records.
	UserSessions(ctx context.Context, user string) ([]UserSession, error)

	// DestroyUser destroys every session bound to user except the one
	// under keep ("" keeps none), and returns how many live ones it
	// destroyed.
	DestroyUser(ctx context.Context, user, keep string) (n int, err error)
}

// Checker is implemented by stores that tell, in one batch and without
// sliding any idle deadline, which of many sessions are live. The Manager
// uses it to end long-lived requests, such as event streams, whose session
// ended elsewhere ([Session.Done]). A store without it is asked with Load,
// one call per watched session, which also slides their idle deadlines.
type Checker interface {
	// Live reports, for each key, whether the session under it is live.
	Live(ctx context.Context, keys []string) ([]bool, error)
}

// Limits are what a store enforces on every call, from the [Config] of the
// Manager. The durations are positive; a size or count of 0 means no
// limit.
type Limits struct {
	Idle      time.Duration // the session dies after this long without a request
	Absolute  time.Duration // the session dies this long after its login time
	MaxSize   int           // bytes of field names plus values
	MaxFields int           // number of fields
}

// Usage is what a session holds against its [Limits]: Size is the bytes
// of its value names plus values, Fields the number of values. It is the
// one measure of the limits, for the Manager and every store.
type Usage struct{ Size, Fields int }

// Change returns u after the value of name went from old to new; had and
// has tell whether there was a value before and after.
func (u Usage) Change(name, old string, had bool, new string, has bool) Usage {
	if had {
		u.Size -= len(name) + len(old)
		u.Fields--
	}
	if has {
		u.Size += len(name) + len(new)
		u.Fields++
	}
	return u
}

// Within reports whether u is within l's MaxSize and MaxFields (0: no
// limit).
func (u Usage) Within(l Limits) bool {
	return (l.MaxSize <= 0 || u.Size <= l.MaxSize) && (l.MaxFields <= 0 || u.Fields <= l.MaxFields)
}

// Write is one atomic change of one session, for [Store.Save]. Only the
// fields it names are written, so that two requests changing different
// fields never undo each other.
type Write struct {
	Key    string // the session written; the new key of a creation or renewal
	From   string // a renewal: the live session that moves to Key and dies
	Create bool   // a new session under Key; ignored when From is set ([Write.Kind])

	Clear bool              // drop every value first (the bound user changed)
	Del   []string          // fields to delete
	Set   map[string]string // fields to set, values as encoded by the Manager (JSON, or binary when encrypted)

	BindUser  bool   // bind the session to User ("" unbinds); a creation always binds User
	User      string // the user the session belongs to; "" = anonymous (a renewal without BindUser: the user as loaded)
	UserAgent string // recorded by a creation or renewal, for the user's session list
	Remember  bool   // recorded by a creation or renewal: the cookie outlives the browser session
	Login     bool   // the login time becomes now, and the absolute deadline now+Absolute

	// Wrap is recorded by a creation, and replaces the stored one in a
	// renewal, inside the same atomic write: the key of the session's
	// values, wrapped by the Manager under the session's token (binary;
	// "" = values in clear). An update leaves the stored one.
	Wrap string

	Limits Limits
}

// Kind names the write, the one rule that every store follows: OpRenew
// when From is set, whatever Create says (the safe reading: a renewal of
// a session that is not live writes nothing); else OpCreate when Create
// is set; else OpUpdate. It is also the op that the Observer reports.
func (w *Write) Kind() Op {
	switch {
	case w.From != "":
		return OpRenew
	case w.Create:
		return OpCreate
	}
	return OpUpdate
}

// Record is one stored session as a store returns it.
type Record struct {
	Values    map[string]string // the fields; nil when the store left them out
	User      string            // "" = not bound to a user
	UserAgent string
	Remember  bool      // the cookie outlives the browser session ([Session.RememberMe])
	Wrap      string    // the wrapped key of the values, as the last creation or renewal wrote it ([Write].Wrap)
	Created   time.Time // the login time: creation, or the last Save with Login
	LastSeen  time.Time // last time its idle deadline was slid (within the store's throttle)
	Expires   time.Time // when it dies unless used again: min(idle deadline, absolute deadline)
}

// UserSession is one entry of a user's session list.
type UserSession struct {
	Key string // the store key of the session (a hash of its token)
	Record
}
