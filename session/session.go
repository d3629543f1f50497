package session

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Session is the session of one request, found with [FromContext]. It is
// loaded from the store on first use and its changes are saved, as a delta,
// when the response headers are written (or when [Session.Commit] is
// called). A Session is safe for concurrent use by the goroutines of its
// request.
//
// The getters load the session with the request's context. When the store
// cannot answer they return zero values, [Session.Err] reports the error,
// and the middleware replaces the response with a 503: a store failure
// never passes for an anonymous user.
type Session struct {
	m   *Manager
	req *http.Request
	ctx context.Context

	mu       sync.Mutex
	loaded   bool
	err      error  // load or commit failure
	token    Token  // zero until the session has one
	hasToken bool   // token is set
	key      string // token.Key() when hasToken
	resign   bool   // cookie verified by an old key: sign it again
	stored   bool   // the store holds this session (as of load or our own writes)
	values   map[string][]byte
	size     int
	user     string
	change   Write     // pending delta
	dirty    bool      // change holds something to write
	renewOf  string    // store key to renew away from at commit
	destroy  []string  // store keys to destroy at commit
	cookie   cookieOp  // what to do with the cookie at commit
	created  time.Time // from the store
	sent     bool      // the response headers are out: no more deferred changes
}

type cookieOp uint8

const (
	cookieKeep cookieOp = iota
	cookieSet
	cookieClear
)

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
	s.values = map[string][]byte{}
	// The first cookie of our name whose signature holds counts, so that a
	// cookie planted ahead of the real one (possible without the __Host-
	// prefix) cannot log the user out. No cookie, or none that verifies
	// (forged, tampered, garbage): a new session, and no store call.
	var t Token
	var keyIndex int
	ok := false
	for _, c := range s.req.CookiesNamed(s.m.cfg.CookieName) {
		if t, keyIndex, ok = s.m.codec.decode(c.Value); ok {
			break
		}
	}
	if !ok {
		return nil
	}
	key := t.Key()
	var rec Record
	var found bool
	err := s.m.call(ctx, "Load", func(ctx context.Context) (err error) {
		rec, found, err = s.m.store.Load(ctx, key, s.m.lim)
		return err
	})
	if err != nil {
		s.err = err
		return err
	}
	if !found {
		// Expired, destroyed or renewed away: a new session, with a new
		// token when needed. The dead cookie is left alone: clearing it
		// could delete the browser's new cookie when this answer arrives
		// after that of a concurrent login.
		return nil
	}
	s.token, s.hasToken, s.key, s.stored = t, true, key, true
	s.resign = keyIndex != 0
	if rec.Values != nil {
		s.values = rec.Values
	}
	s.size = 0
	for k, v := range s.values {
		s.size += len(k) + len(v)
	}
	s.user = rec.User
	s.created = rec.Created
	return nil
}

// mutableLocked loads the session for a change, and refuses the change once
// the response headers are out: it could not be saved with its cookie.
func (s *Session) mutableLocked() error {
	if s.sent {
		return ErrHeadersWritten
	}
	return s.loadLocked(s.ctx)
}

// get loads the session and returns the encoded value of key.
func (s *Session) get(key string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loadLocked(s.ctx) != nil {
		return nil, false
	}
	v, ok := s.values[key]
	return v, ok
}

// Err returns the error of the last load or save that failed, or nil. It
// wraps ErrStoreUnavailable.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Get decodes the JSON value of key into dst and reports whether key was
// present. It returns the json error when the value does not fit dst.
func (s *Session) Get(key string, dst any) (bool, error) {
	v, ok := s.get(key)
	if !ok {
		return false, nil
	}
	return true, json.Unmarshal(v, dst)
}

// String returns the string value of key; ok is false when key is missing
// or not a string.
func (s *Session) String(key string) (v string, ok bool) {
	ok = decode(s, key, &v)
	return v, ok
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
	b, ok := s.get(key)
	if !ok {
		return false
	}
	if err := json.Unmarshal(b, dst); err != nil {
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
// times and any JSON-encodable value). It returns ErrBadKey for an empty key,
// ErrTooLarge when the session would pass Config.MaxSize (the session is
// left as it was), a json error when v cannot be encoded, or the load error.
func (s *Session) Put(key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.PutMany(map[string][]byte{key: b})
}

// PutMany sets several keys at once, each to an already JSON-encoded value;
// it changes nothing unless every key fits. Errors are those of
// [Session.Put].
func (s *Session) PutMany(kv map[string][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.mutableLocked(); err != nil {
		return err
	}
	size := s.size
	for k, v := range kv {
		if k == "" {
			return ErrBadKey
		}
		if !json.Valid(v) {
			return &json.SyntaxError{}
		}
		if old, ok := s.values[k]; ok {
			size -= len(k) + len(old)
		}
		size += len(k) + len(v)
	}
	if size > s.m.cfg.MaxSize {
		return ErrTooLarge
	}
	for k, v := range kv {
		v = slices.Clone(v)
		s.values[k] = v
		if s.change.Set == nil {
			s.change.Set = map[string][]byte{}
		}
		s.change.Set[k] = v
		if i := slices.Index(s.change.Del, k); i >= 0 {
			s.change.Del = slices.Delete(s.change.Del, i, i+1)
		}
	}
	s.size = size
	s.dirty = true
	return nil
}

// Delete removes key from the session; a missing key is no error.
func (s *Session) Delete(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.mutableLocked(); err != nil {
		return err
	}
	if old, ok := s.values[key]; ok {
		s.size -= len(key) + len(old)
		delete(s.values, key)
	}
	delete(s.change.Set, key)
	if s.stored && !slices.Contains(s.change.Del, key) {
		s.change.Del = append(s.change.Del, key)
		s.dirty = true
	}
	return nil
}

// SetUser binds the session to the user id, for [Session.User],
// [Manager.RequireLogin] and the user's session list. Call [Session.Renew]
// with it at login.
func (s *Session) SetUser(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.mutableLocked(); err != nil {
		return err
	}
	s.user = id
	s.change.User, s.change.BindUser = id, true
	s.dirty = true
	return nil
}

// Renew gives the session a new token and keeps its data; the old token
// dies. Call it at login and at every change of privilege, against session
// fixation (OWASP ASVS 3.2.1). The absolute timeout counts from the renewal.
// It takes effect when the session is saved.
func (s *Session) Renew() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.mutableLocked(); err != nil {
		return err
	}
	if s.stored {
		s.renewOf = s.key
		s.stored = false
		s.dirty = true
	}
	s.newTokenLocked()
	return nil
}

// Destroy ends the session in the store (logout) and clears the cookie. Any
// later Put starts a new, empty session with a new token.
func (s *Session) Destroy() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.mutableLocked(); err != nil {
		return err
	}
	if s.renewOf != "" {
		s.destroy = append(s.destroy, s.renewOf)
		s.renewOf = ""
	}
	if s.stored {
		s.destroy = append(s.destroy, s.key)
	}
	s.stored, s.hasToken, s.token, s.key = false, false, Token{}, ""
	s.values, s.size, s.user = map[string][]byte{}, 0, ""
	s.change, s.dirty, s.resign = Write{}, false, false
	s.cookie = cookieClear
	return nil
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
// the new value: two requests that increment together both count. A new
// session is saved first. Errors: ErrNotInteger, ErrGone, or one wrapping
// ErrStoreUnavailable.
func (s *Session) Incr(ctx context.Context, key string, n int64) (int64, error) {
	if key == "" {
		return 0, ErrBadKey
	}
	var v int64
	err := s.immediate(ctx, "Incr", func(ctx context.Context) (found bool, err error) {
		c, ok := s.m.store.(Counter)
		if !ok {
			return true, errNoCounter
		}
		v, found, err = c.Incr(ctx, s.key, key, n, s.m.lim)
		return found, err
	}, func() { s.setValueLocked(key, strconv.AppendInt(nil, v, 10)) })
	return v, err
}

// CompareAndSwap sets key to the JSON encoding of new only if it holds the
// JSON encoding of old now, in the store (old == nil: only if key is
// absent), and reports whether it did. A new session is saved first. Errors:
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
	err = s.immediate(ctx, "CompareAndSwap", func(ctx context.Context) (found bool, err error) {
		if s.size+len(key)+len(nb) > s.m.cfg.MaxSize {
			return true, ErrTooLarge
		}
		c, ok := s.m.store.(Counter)
		if !ok {
			return true, errNoCounter
		}
		swapped, found, err = c.CompareAndSwap(ctx, s.key, key, ob, nb, s.m.lim)
		return found, err
	}, func() {
		if swapped {
			s.setValueLocked(key, nb)
		}
	})
	return swapped, err
}

// immediate runs op on the stored session, saving the pending state first,
// and then apply if op succeeded. Errors that concern the call (ErrTooLarge,
// ErrNotInteger) come back as they are; any other means the store failed.
func (s *Session) immediate(ctx context.Context, name string, op func(ctx context.Context) (bool, error), apply func()) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.loadLocked(ctx); err != nil {
		return err
	}
	if !s.stored || s.dirty || len(s.destroy) > 0 {
		stored := s.stored
		if err := s.commitLocked(ctx); err != nil {
			return err
		}
		if stored && !s.stored {
			return ErrGone // the pending changes found the session dead
		}
	}
	if !s.stored {
		if err := s.createLocked(ctx); err != nil {
			return err
		}
	}
	var found bool
	var opErr error
	err := s.m.call(ctx, name, func(ctx context.Context) error {
		found, opErr = op(ctx)
		if errors.Is(opErr, ErrTooLarge) || errors.Is(opErr, ErrNotInteger) {
			return nil
		}
		return opErr
	})
	switch {
	case err != nil:
		return err
	case opErr != nil:
		return opErr
	case !found:
		s.goneLocked()
		return ErrGone
	}
	apply()
	return nil
}

func (s *Session) setValueLocked(key string, v []byte) {
	if old, ok := s.values[key]; ok {
		s.size -= len(key) + len(old)
	}
	s.values[key] = v
	s.size += len(key) + len(v)
}

// Commit saves the session's pending changes now. The middleware calls it
// before the response headers are written; call it yourself to learn of a
// failure while you can still answer otherwise. Errors wrap
// ErrStoreUnavailable.
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
	for len(s.destroy) > 0 {
		key := s.destroy[0]
		if err := s.m.call(ctx, "Destroy", func(ctx context.Context) error {
			return s.m.store.Destroy(ctx, key)
		}); err != nil {
			s.err = err
			return err
		}
		s.destroy = s.destroy[1:]
	}
	if !s.dirty {
		return nil
	}
	if s.renewOf != "" {
		var applied bool
		ch := s.changeLocked()
		err := s.m.call(ctx, "Renew", func(ctx context.Context) (err error) {
			w := ch
			w.From, w.Key = s.renewOf, s.key
			applied, err = s.m.store.Save(ctx, w)
			return err
		})
		if err != nil {
			s.err = err
			return err
		}
		s.renewOf = ""
		if applied {
			s.stored = true
			s.cookie = cookieSet
			s.clearChangeLocked()
			return nil
		}
		// The old session died meanwhile (a logout elsewhere, or expiry):
		// start the new one from this request's changes only, so that
		// nothing of the dead session comes back, its user included
		// unless this request bound one itself.
		if !s.change.BindUser {
			s.user = ""
		}
		return s.createLocked(ctx)
	}
	if !s.stored {
		return s.createLocked(ctx)
	}
	var applied bool
	ch := s.changeLocked()
	err := s.m.call(ctx, "Update", func(ctx context.Context) (err error) {
		w := ch
		w.Key = s.key
		applied, err = s.m.store.Save(ctx, w)
		return err
	})
	if err != nil {
		s.err = err
		return err
	}
	s.clearChangeLocked()
	if !applied {
		// Destroyed or renewed away by another request: never resurrect it.
		s.goneLocked()
	}
	return nil
}

// goneLocked forgets a session that the store no longer holds (destroyed,
// renewed away or expired while this request ran). The request goes on
// with a new, empty, anonymous session that gets a new token if it is
// saved, so that nothing of the dead one comes back: not its data, not its
// user, and above all not its token. Its cookie is not cleared: the session
// may have been renewed by a concurrent login whose new cookie a removal
// arriving later would delete; the dead token is harmless.
func (s *Session) goneLocked() {
	s.stored, s.hasToken, s.token, s.key, s.resign = false, false, Token{}, "", false
	s.values, s.size, s.user = map[string][]byte{}, 0, ""
	if s.cookie == cookieClear {
		s.cookie = cookieKeep
	}
}

// createLocked stores the session as new, with the pending change.
func (s *Session) createLocked(ctx context.Context) error {
	if !s.hasToken {
		s.newTokenLocked()
	}
	ch := s.changeLocked()
	ch.BindUser = ch.User != ""
	ch.Create, ch.Key = true, s.key
	err := s.m.call(ctx, "Create", func(ctx context.Context) error {
		_, err := s.m.store.Save(ctx, ch)
		return err
	})
	if err != nil {
		s.err = err
		return err
	}
	s.stored = true
	s.cookie = cookieSet
	s.clearChangeLocked()
	return nil
}

func (s *Session) changeLocked() Write {
	ch := s.change
	ch.Limits = s.m.lim
	ch.User = s.user
	ch.UserAgent = s.req.UserAgent()
	if len(ch.UserAgent) > 256 {
		ch.UserAgent = ch.UserAgent[:256]
	}
	return ch
}

func (s *Session) clearChangeLocked() {
	s.change = Write{}
	s.dirty = false
}

// writeCookie adds the Set-Cookie header the session needs, if any: the
// token of a session stored anew (creation, renewal, re-signing under the
// first key), or the removal of the cookie of a session that ended.
func (s *Session) writeCookie(h http.Header) {
	c := &http.Cookie{
		Name:     s.m.cfg.CookieName,
		Path:     "/",
		Secure:   !s.m.cfg.InsecureCookie,
		HttpOnly: true,
		SameSite: s.m.cfg.SameSite,
	}
	switch {
	case s.stored && (s.cookie == cookieSet || s.resign):
		c.Value = s.m.codec.encode(s.token)
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
