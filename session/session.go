package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Session is the session of one request, found with [FromContext]. It is
// loaded from the store on first use, at most once per request.
//
// Two kinds of calls change it:
//   - deferred: [Session.Put], [Session.PutMany], [Session.Delete],
//     [Session.Login], [Session.Renew] and [Session.Destroy] change the
//     request's copy, and the middleware saves them as one delta when the
//     response headers are written (or at [Session.Commit]), because the
//     cookie that a new token needs must go out with those headers. After
//     the headers they return [ErrHeadersWritten].
//   - immediate: [Session.Incr] and [Session.CompareAndSwap] run in the
//     store at once, because their answer depends on what other requests
//     did meanwhile; they work at any time.
//
// The getters and deferred calls use the request's context; the calls that
// reach the store at a moment of the caller's choosing take a context.
// When the store cannot answer, the getters return zero values,
// [Session.Err] reports the error, and the middleware replaces the response
// with a 503: a store failure never passes for an anonymous user. A
// Session is safe for concurrent use by the goroutines of its request.
type Session struct {
	m   *Manager
	req *http.Request
	ctx context.Context

	mu     sync.Mutex
	loaded bool
	err    error // load or commit failure
	sent   bool  // the response headers are out: no more deferred changes
	over   bool  // the request ended: nothing more to watch

	// The session as this request sees it: stored tells whether the store
	// holds it under key (as of the load or this request's own writes).
	token    secretToken // zero until the session has one
	hasToken bool
	key      string // token.Key() when hasToken
	resign   bool   // cookie verified by an old key: sign it again
	stored   bool
	values   map[string]string
	user     string
	loginAt  time.Time
	remember bool   // a persistent cookie (RememberMe)
	ended    string // the user of the session that Destroy ends, for the audit log

	// The values' encryption (seal.go): vk is the key of the values, nil
	// when they are stored in clear; sealed holds, with vk, the values as
	// stored, as of the load and this request's writes, for the
	// compare-and-swap of Incr and CompareAndSwap.
	vk     *valueKey
	sealed map[string]string

	watched   string // the key that Done watches, released when the request ends
	watchDone <-chan struct{}

	p      pending  // what the commit writes
	cookie cookieOp // what to do with the cookie at commit
}

type cookieOp uint8

const (
	cookieKeep cookieOp = iota
	cookieSet
	cookieClear
)

// maxCookieTries bounds how many well-formed cookies of the session's name
// a request may make the Manager verify (one HMAC per key each): a request
// that carries thousands of them costs no more than this. Malformed ones
// (a wrong length, not base64) cost no HMAC and do not count, so that junk
// planted ahead of the real cookie cannot push it out of reach.
const maxCookieTries = 4

// Load loads the session now if it is not loaded yet, and returns the error
// if the store could not answer (wrapping ErrStoreUnavailable). Calling it is
// optional: every getter loads on demand.
func (s *Session) Load(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loadLocked(ctx)
}

func (s *Session) loadLocked(ctx context.Context) error {
	if s.loaded {
		return s.err
	}
	s.loaded = true
	// The first cookie of our name whose signature holds counts, so that a
	// cookie planted ahead of the real one (possible without the __Host-
	// prefix) cannot log the user out. No cookie, or none that verifies
	// (forged, tampered, garbage): a new session, and no store call.
	var t secretToken
	var keyIndex int
	var remember bool
	ok := false
	tries, n := 0, 0
	for v := range cookieValues(s.req.Header, s.m.cfg.CookieName) {
		if n++; ok || tries == maxCookieTries {
			continue // counted for noCookie only
		}
		var sig signature
		var wellFormed bool
		if t, sig, remember, wellFormed = s.m.codec.parse(v); !wellFormed {
			continue
		}
		if keyIndex, ok = s.m.codec.verify(&t, &sig, remember); !ok {
			tries++
		}
	}
	if !ok {
		s.m.ob.noCookie(ctx, s.req, n)
		return nil
	}
	key := t.Key()
	var rec Record
	var found bool
	err := s.m.call(ctx, OpLoad, func(ctx context.Context) (err error) {
		rec, found, err = s.m.store.Load(ctx, key, s.m.limits(remember))
		return notFound(found, err)
	})
	if err != nil {
		s.err = err
		return err
	}
	if !found {
		s.m.ob.request(ctx, OutcomeMissing)
		// Expired, destroyed or renewed away: a new session, with a new
		// token when needed. The dead cookie is left alone: clearing it
		// could delete the browser's new cookie when this answer arrives
		// after that of a concurrent login.
		return nil
	}
	if !s.openLocked(ctx, &t, key, &rec) {
		// Unreadable with this cookie (logged): as good as missing.
		s.m.ob.request(ctx, OutcomeMissing)
		return nil
	}
	s.m.ob.request(ctx, OutcomeLive)
	s.token, s.hasToken, s.key, s.stored = t, true, key, true
	// A cookie signed by an older key, or whose flag disagrees with the
	// store, is signed again.
	s.resign = keyIndex != 0 || remember != rec.Remember
	s.user, s.loginAt, s.remember = rec.User, rec.Created, rec.Remember
	return nil
}

// mutableLocked loads the session for a change, and refuses the change once
// the response headers are out: it could not be saved with its cookie.
func (s *Session) mutableLocked() error {
	if s.sent {
		s.m.ob.lateChange(s.ctx, s.req)
		return ErrHeadersWritten
	}
	return s.loadLocked(s.ctx)
}

// get loads the session and returns the encoded value of key, or the
// load error.
func (s *Session) get(key string) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.loadLocked(s.ctx); err != nil {
		return "", false, err
	}
	v, ok := s.values[key]
	return v, ok, nil
}

// Err returns the error of the last load or save that failed, or nil. It
// wraps ErrStoreUnavailable.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Get decodes the JSON value of key into dst and reports whether key was
// present. It returns the load error (wrapping ErrStoreUnavailable) when
// the store could not answer, and the json error when the value does not
// fit dst.
func (s *Session) Get(key string, dst any) (bool, error) {
	v, ok, err := s.get(key)
	if !ok || err != nil {
		return false, err
	}
	return true, json.Unmarshal([]byte(v), dst)
}

// String returns the string value of key; ok is false when key is missing
// or not a string.
func (s *Session) String(key string) (string, bool) {
	b, found, _ := s.get(key)
	if !found {
		return "", false
	}
	// Most strings need no decoding: no escape, nothing to check.
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' &&
		!strings.ContainsAny(b[1:len(b)-1], "\\\"") && utf8.ValidString(b) && !hasControl(b) {
		return b[1 : len(b)-1], true
	}
	var v string // on the heap (json.Unmarshal's dst): only here
	ok := decode(s, key, &v)
	return v, ok
}

// hasControl reports whether s holds a byte below 0x20, which JSON escapes.
func hasControl(s string) bool {
	for i := range len(s) {
		if s[i] < 0x20 {
			return true
		}
	}
	return false
}

// Int64 returns the integer value of key; ok is false when key is missing
// or not an integer.
func (s *Session) Int64(key string) (v int64, ok bool) {
	ok = decode(s, key, &v)
	return v, ok
}

// Bool returns the boolean value of key; ok is false when key is missing or
// not a boolean.
func (s *Session) Bool(key string) (v bool, ok bool) {
	ok = decode(s, key, &v)
	return v, ok
}

// Time returns the time value of key (stored by Put as RFC 3339 text); ok
// is false when key is missing or not a time.
func (s *Session) Time(key string) (v time.Time, ok bool) {
	ok = decode(s, key, &v)
	return v, ok
}

func decode[T any](s *Session, key string, dst *T) bool {
	b, ok, _ := s.get(key)
	if !ok {
		return false
	}
	if err := json.Unmarshal([]byte(b), dst); err != nil {
		var zero T
		*dst = zero
		return false
	}
	return true
}

// Values returns every key of the session with its JSON value.
func (s *Session) Values() map[string]json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]json.RawMessage, len(s.values))
	if s.loadLocked(s.ctx) != nil {
		return out
	}
	for k, v := range s.values {
		out[k] = json.RawMessage(v)
	}
	return out
}

// Keys returns the keys of the session, sorted.
func (s *Session) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loadLocked(s.ctx) != nil {
		return nil
	}
	return slices.Sorted(maps.Keys(s.values))
}

// User returns the user the session is bound to, or "" for an anonymous
// session.
func (s *Session) User() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loadLocked(s.ctx) != nil {
		return ""
	}
	return s.user
}

// Put sets key to the JSON encoding of v (strings, integers, booleans,
// times and any JSON-encodable value). The change is deferred: it is saved
// with the response headers.
//
// Put is last-writer-wins for its key, as in every session library: two
// requests that read a value and Put it back changed lose one of the
// changes. Keys that requests change concurrently, such as counters, need
// [Session.Incr] or [Session.CompareAndSwap], which run in the store.
// Requests that change different keys never undo each other.
//
// It returns ErrBadKey for an empty key, ErrTooLarge when the session would
// pass Config.MaxSize or Config.MaxFields (the session is left as it was), a
// json error when v cannot be encoded, ErrHeadersWritten, or the load
// error. The store checks the limits again when it writes, so that
// concurrent requests cannot pass them together.
func (s *Session) Put(key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.PutMany(map[string][]byte{key: b})
}

// PutMany sets several keys at once, each to an already JSON-encoded value;
// it changes nothing unless every key fits. Errors are those of
// [Session.Put], and one that names the key whose value is not valid JSON.
func (s *Session) PutMany(kv map[string][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.mutableLocked(); err != nil {
		return err
	}
	u := s.usageLocked(s.values)
	for k, v := range kv {
		if k == "" {
			return ErrBadKey
		}
		if !json.Valid(v) {
			return fmt.Errorf("session: the value of %q is not valid JSON", k)
		}
		old, had := s.values[k]
		u = u.Change(k, old, had, string(v), true)
		if s.seals() && !had {
			u.Size += sealOverhead
		}
	}
	if !u.Within(s.m.lim) {
		s.m.ob.event(s.ctx, EventTooLarge)
		return ErrTooLarge
	}
	for k, v := range kv {
		s.setValueLocked(k, string(v))
		s.p.put(k, string(v), s.stored)
	}
	return nil
}

// Delete removes key from the session; a missing key is no error. The
// change is deferred, like Put's.
func (s *Session) Delete(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.mutableLocked(); err != nil {
		return err
	}
	_, had := s.values[key]
	if !had {
		_, had = s.sealed[key] // stored but unreadable
	}
	delete(s.values, key)
	s.p.remove(key, had, s.stored)
	return nil
}

// Login binds the session to user after the application has authenticated
// the user, and gives it a new token (against session fixation, OWASP ASVS
// 3.2.1): the old token dies. The login time becomes now, and the absolute
// timeout counts from it. When the session was bound to another user, that
// user's values are dropped, those Put earlier in this request included; an
// anonymous session keeps its values (a cart, a preference). The change is
// deferred; once it is saved, the user's sessions past
// Config.MaxSessionsPerUser end, oldest first. It returns ErrBadKey for an
// empty user.
func (s *Session) Login(user string) error {
	if user == "" {
		return ErrBadKey
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.mutableLocked(); err != nil {
		return err
	}
	clear := s.user != "" && s.user != user
	s.p.bind(user, clear, s.stored, s.key)
	if clear {
		s.values = nil
	}
	s.user = user
	s.loginAt = time.Time{} // set by the store at commit
	s.renewTokenLocked()
	return nil
}

// RememberMe chooses whether the session is remembered ("remember me"):
// with on, its cookie gets a Max-Age that ends at the session's absolute
// deadline, so that a browser restart keeps the user logged in, and the
// session lives by Config.RememberIdleTimeout and RememberAbsoluteTimeout
// instead of IdleTimeout and AbsoluteTimeout; without (the default) it is
// a browser-session cookie. The choice is stored with the session when it
// gets a new token: call it with [Session.Login]. The change is deferred.
func (s *Session) RememberMe(on bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.mutableLocked(); err != nil {
		return err
	}
	s.remember = on
	return nil
}

// Renew gives the session a new token and keeps its data, its user and its
// login time; the old token dies. Call it at every change of privilege
// (OWASP ASVS 3.2.1); [Session.Login] renews by itself. The change is
// deferred.
func (s *Session) Renew() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.mutableLocked(); err != nil {
		return err
	}
	s.p.renew(s.stored, s.key)
	s.renewTokenLocked()
	return nil
}

// renewTokenLocked gives the session a new token; a stored session moves
// to it at commit.
func (s *Session) renewTokenLocked() {
	s.stored = false
	s.newTokenLocked()
}

// Destroy ends the session in the store (logout) and clears the cookie.
// Later deferred changes in the same request start a new, empty session
// with a new token; [Session.Incr] and [Session.CompareAndSwap] return
// ErrGone. The change is deferred.
func (s *Session) Destroy() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.mutableLocked(); err != nil {
		return err
	}
	s.p.destroy(s.stored, s.key)
	if s.user != "" {
		s.ended = s.user
	}
	s.forgetLocked()
	s.resign = false
	s.cookie = cookieClear
	return nil
}

// forgetLocked drops the request's copy of a session that ended.
func (s *Session) forgetLocked() {
	s.stored, s.hasToken, s.token, s.key = false, false, secretToken{}, ""
	s.values, s.user, s.loginAt, s.remember = nil, "", time.Time{}, false
	s.vk, s.sealed = nil, nil
}

func (s *Session) newTokenLocked() {
	s.token = newToken()
	s.hasToken = true
	s.key = s.token.Key()
}

// Handle returns the public handle of the session (see [Handle]), or ""
// when it is not stored yet.
func (s *Session) Handle() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loadLocked(s.ctx) != nil || !s.hasToken {
		return ""
	}
	return Handle(s.key)
}

// Sessions lists the live sessions of the session's user, newest first,
// with the current one marked. An anonymous session has none.
func (s *Session) Sessions(ctx context.Context) ([]Info, error) {
	user, handle := s.User(), s.Handle()
	if err := s.Err(); err != nil {
		return nil, err
	}
	if user == "" {
		return nil, nil
	}
	list, err := s.m.Sessions(ctx, user)
	for i := range list {
		list[i].Current = list[i].Handle == handle
	}
	return list, err
}

// Incr adds n to the integer under key at once, in the store, and returns
// the new value: two requests that increment together both count. Pending
// changes are saved first; a session that is not stored yet is created
// with the value n. With encryption (the default, see Config) it is a
// compare-and-swap on the stored ciphertext: one store call while no other
// request changes key, and a Load and a compare-and-swap more for each
// change that another request makes between this one's read and its swap.
// Errors: ErrBadKey, ErrNotInteger (also when the sum overflows),
// ErrTooLarge, ErrGone (the session ended, in this request or elsewhere),
// or one wrapping ErrStoreUnavailable.
func (s *Session) Incr(ctx context.Context, key string, n int64) (int64, error) {
	if key == "" {
		return 0, ErrBadKey
	}
	var v int64
	err := s.immediate(ctx,
		func() map[string]string { v = n; return map[string]string{key: strconv.FormatInt(n, 10)} },
		func(c Counter) (found bool, err error) {
			if s.vk != nil {
				_, found, err = s.swapLocked(ctx, c, key, func(cur string, has bool) (string, bool, error) {
					var old int64
					if has {
						if old, err = strconv.ParseInt(cur, 10, 64); err != nil {
							return "", false, ErrNotInteger
						}
					}
					if (n > 0 && old > math.MaxInt64-n) || (n < 0 && old < math.MinInt64-n) {
						return "", false, ErrNotInteger
					}
					v = old + n
					return strconv.FormatInt(v, 10), true, nil
				})
				return found, err
			}
			err = s.m.call(ctx, OpIncr, func(ctx context.Context) (err error) {
				v, found, err = c.Incr(ctx, s.key, key, n, s.m.limits(s.remember))
				return notFound(found, err)
			})
			return found, err
		},
		func() { s.setValueLocked(key, strconv.FormatInt(v, 10)) })
	return v, err
}

// CompareAndSwap sets key to the JSON encoding of new only if it holds the
// JSON encoding of old now, in the store (old == nil: only if key is
// absent), and reports whether it did. Pending changes are saved first.
// With encryption it compares the values in clear and swaps the stored
// ciphertext, as [Session.Incr] does; an answer of false may then cost a
// Load, to check the request's copy against the store. Errors: ErrBadKey,
// ErrGone, ErrTooLarge, a json error, or one wrapping ErrStoreUnavailable.
func (s *Session) CompareAndSwap(ctx context.Context, key string, old, new any) (bool, error) {
	if key == "" {
		return false, ErrBadKey
	}
	var ob []byte
	if old != nil {
		var err error
		if ob, err = json.Marshal(old); err != nil {
			return false, err
		}
	}
	nb, err := json.Marshal(new)
	if err != nil {
		return false, err
	}
	var swapped bool
	err = s.immediate(ctx,
		func() map[string]string {
			if old != nil {
				return nil // the field is absent from a session not stored yet
			}
			swapped = true
			return map[string]string{key: string(nb)}
		},
		func(c Counter) (found bool, err error) {
			if s.vk != nil {
				swapped, found, err = s.swapLocked(ctx, c, key, func(cur string, has bool) (string, bool, error) {
					return string(nb), has == (old != nil) && (!has || cur == string(ob)), nil
				})
				return found, err
			}
			err = s.m.call(ctx, OpCompareAndSwap, func(ctx context.Context) (err error) {
				swapped, found, err = c.CompareAndSwap(ctx, s.key, key, ob, nb, s.m.limits(s.remember))
				return notFound(found, err)
			})
			return found, err
		},
		func() {
			if swapped {
				s.setValueLocked(key, string(nb))
			}
		})
	return swapped, err
}

// immediate runs an operation of the store's Counter on the stored
// session, after saving the pending changes, and then apply if it
// succeeded. A session that is not stored yet is created instead with the
// values that create returns (nothing when it returns nil).
func (s *Session) immediate(ctx context.Context, create func() map[string]string,
	run func(c Counter) (found bool, err error), apply func()) error {
	c, ok := s.m.store.(Counter)
	if !ok {
		return errNoCounter
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.loadLocked(ctx); err != nil {
		return err
	}
	if s.p.op == opDestroy {
		return ErrGone
	}
	if s.p.op != opNone {
		if err := s.commitLocked(ctx); err != nil {
			return err
		}
		if s.p.op == opDestroy {
			return ErrGone // the pending changes found the session dead
		}
	}
	if !s.stored {
		set := create()
		if set == nil {
			return nil
		}
		for k, v := range set {
			s.p.put(k, v, false)
		}
		if err := s.commitLocked(ctx); err != nil {
			return err
		}
		apply()
		return nil
	}
	found, err := run(c)
	switch {
	case err != nil:
		return err
	case !found:
		s.goneLocked()
		return ErrGone
	}
	apply()
	return nil
}

func (s *Session) setValueLocked(key, v string) {
	if s.values == nil {
		s.values = map[string]string{}
	}
	s.values[key] = v
}

// usageLocked is what values use of the limits once stored.
func (s *Session) usageLocked(values map[string]string) Usage {
	var u Usage
	for k, v := range values {
		u = u.Change(k, "", false, v, true)
	}
	if s.seals() {
		u.Size += sealOverhead * u.Fields
	}
	return u
}

// Commit saves the session's pending changes now. The middleware calls it
// before the response headers are written; call it yourself to learn of a
// failure while you can still answer otherwise. Errors: ErrTooLarge when
// concurrent requests filled the session meanwhile (nothing of this
// request's changes is saved), or one wrapping ErrStoreUnavailable.
func (s *Session) Commit(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loaded {
		return nil
	}
	return s.commitLocked(ctx)
}

func (s *Session) commitLocked(ctx context.Context) error {
	if s.err != nil {
		return s.err
	}
	ua := s.req.UserAgent()
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
	}
replan:
	for {
		if s.p.op == opCreate && !s.hasToken {
			s.newTokenLocked() // a new session's token is drawn when it is first stored
		}
		calls := plan(s.p, s.key, s.user, ua, s.remember, s.m.limits(s.remember))
		for _, c := range calls {
			if c.save == nil {
				key := c.destroy
				if err := s.m.call(ctx, OpDestroy, func(ctx context.Context) error {
					return s.m.store.Destroy(ctx, key)
				}); err != nil {
					s.err = err
					return err
				}
				s.m.watch.end(key)
				s.destroyed(ctx, key, s.ended)
				s.p.dead = s.p.dead[1:]
				continue
			}
			w := s.sealLocked(*c.save)
			var applied bool
			err := s.m.call(ctx, w.Kind(), func(ctx context.Context) (err error) {
				applied, err = s.m.store.Save(ctx, w)
				if w.Create {
					return err // a creation always applies
				}
				return notFound(applied, err)
			})
			if err != nil {
				if !errors.Is(err, ErrTooLarge) {
					s.err = err // the store failed; ErrTooLarge refuses only this change
				}
				return err
			}
			if applied {
				s.saved(ctx, &w)
				s.sealedLocked(&w)
				if w.From != "" {
					s.m.watch.end(w.From)
				}
				if w.Login || w.Create {
					s.loginAt = time.Now() // the store's clock may differ a little
				}
			}
			switch {
			case applied && (w.Create || w.From != ""):
				s.stored, s.cookie = true, cookieSet
			case !applied && w.From != "":
				s.p = s.p.lostRenewal()
				s.values = nil
				for k, v := range s.p.set {
					s.setValueLocked(k, v)
				}
				s.user = s.p.user
				continue replan
			case !applied:
				// Destroyed or renewed away by another request: never
				// resurrect it.
				s.goneLocked()
				return nil
			}
			login := w.Login
			s.p = pending{}
			if login {
				return s.m.evict(ctx, s.user, s.key)
			}
			return nil
		}
		// Nothing was saved: only destroys, or a new session with nothing
		// to hold. A session that ended stays ended for the request.
		s.p = pending{op: s.p.op}
		if s.p.op != opDestroy {
			s.p.op = opNone
		}
		return nil
	}
}

// end ends the request's use of the session, when Handler returns or its
// handler panics (abandoned): an abandoned request's pending changes are
// dropped, and the watch of Done ends either way. Goroutines of the
// request that outlive it can change nothing more.
func (s *Session) end(abandoned bool) {
	s.mu.Lock()
	s.over, s.sent = true, true
	if abandoned {
		s.p = pending{}
	}
	watched := s.watched
	s.watched = ""
	s.mu.Unlock()
	if watched != "" {
		s.m.watch.release(watched)
	}
}

// maxUserAgent bounds the user agent recorded with a session.
const maxUserAgent = 256

// goneLocked forgets a session that the store no longer holds (destroyed,
// renewed away or expired while this request ran). The request goes on
// as one whose session ended: [Session.Incr] returns ErrGone, and a later
// Put starts a new, empty, anonymous session with a new token, so that
// nothing of the dead one comes back: not its data, not its user, and
// above all not its token. Its cookie is not cleared: the session may have
// been renewed by a concurrent login whose new cookie a removal arriving
// later would delete; the dead token is harmless.
func (s *Session) goneLocked() {
	s.forgetLocked()
	s.resign = false
	s.p = pending{op: opDestroy}
	if s.cookie == cookieClear {
		s.cookie = cookieKeep
	}
}

// writeCookie adds the Set-Cookie header the session needs, if any: the
// token of a session stored anew (creation, renewal, re-signing under the
// first key), or the removal of the cookie of a session that ended.
func (s *Session) writeCookie(h http.Header) {
	c := &http.Cookie{
		Name:     s.m.cfg.CookieName,
		Path:     "/",
		Domain:   s.m.cfg.Domain,
		Secure:   !s.m.cfg.InsecureCookie,
		HttpOnly: true,
		SameSite: s.m.cfg.SameSite,
	}
	switch {
	case s.stored && (s.cookie == cookieSet || s.resign):
		c.Value = s.m.codec.encode(s.token, s.remember)
		if s.remember && !s.loginAt.IsZero() {
			// A persistent cookie lives no longer than the session can.
			c.MaxAge = max(1, int(time.Until(s.loginAt.Add(s.m.limits(true).Absolute))/time.Second))
		}
	case !s.stored && s.cookie == cookieClear:
		c.MaxAge = -1
	default:
		return
	}
	h.Add("Set-Cookie", c.String())
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	s.cookie, s.resign = cookieKeep, false
}
