package session

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"maps"
	"sync"
)

// Values are encrypted at rest under a key that only the session's cookie
// unlocks (see "Encryption" in the package doc). The layout, all raw bytes:
//
//	value key  32 random bytes, made when the session is created
//	wrap       1 || nonce(12) || AES-256-GCM(wrapping key, value key), the
//	           version byte as associated data; the wrapping key is
//	           HKDF-Expand-SHA-256(token, wrapInfo)
//	value      nonce(12) || AES-256-GCM(value key, JSON), the value's name
//	           as associated data
//
// The token is 32 uniformly random bytes, a full-strength pseudorandom key,
// so HKDF's extract step adds nothing (RFC 5869, section 3.3) and is left
// out. Nonces are random: a value key seals one value per write, far from
// the 2^32 messages under which random 96-bit nonces stay safe. A session
// is bound to its values by its own value key: a value of another session
// fails to open under this one's, and the name as associated data keeps a
// value to its field.
const (
	valueKeySize = 32
	nonceSize    = 12
	tagSize      = 16
	wrapVersion  = 1
	wrapInfo     = "stickless value key wrap v1"
	wrapSize     = 1 + nonceSize + valueKeySize + tagSize

	// sealOverhead is what encryption adds to each stored value, counted by
	// the limits.
	sealOverhead = nonceSize + tagSize
)

// valueKey is the key that encrypts one session's values. It is safe for
// concurrent use: the Manager's cache shares it between the requests of
// its session.
type valueKey struct {
	raw [valueKeySize]byte

	mu   sync.Mutex
	aead cipher.AEAD // made on first use; crypto/cipher does not promise that an AEAD is safe for concurrent use
}

func newValueKey() *valueKey {
	k := &valueKey{}
	rand.Read(k.raw[:])
	return k
}

// gcm returns AES-256-GCM under key, which is 32 bytes.
func gcm(key []byte) cipher.AEAD {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic("session: " + err.Error()) // only for a key that is not 32 bytes
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		panic("session: " + err.Error())
	}
	return g
}

// wrapping returns the AEAD under the key that t derives for wrapping:
// HKDF-Expand-SHA-256(t, wrapInfo, 32), which is one HMAC-SHA-256 of
// wrapInfo || 0x01 keyed by t, computed here on the stack, without the
// allocations of crypto/hkdf (a test checks that both agree).
func wrapping(t *secretToken) cipher.AEAD {
	var inner [sha256.BlockSize + len(wrapInfo) + 1]byte
	var outer [sha256.BlockSize + sha256.Size]byte
	for i := range sha256.BlockSize {
		var k byte
		if i < len(t) {
			k = t[i]
		}
		inner[i], outer[i] = k^0x36, k^0x5c
	}
	copy(inner[sha256.BlockSize:], wrapInfo)
	inner[len(inner)-1] = 1
	sum := sha256.Sum256(inner[:])
	copy(outer[sha256.BlockSize:], sum[:])
	kw := sha256.Sum256(outer[:])
	return gcm(kw[:])
}

// wrapAD is the associated data of a wrap: its version.
var wrapAD = []byte{wrapVersion}

// wrap returns k wrapped under the token t.
func (k *valueKey) wrap(t *secretToken) string {
	var nonce [nonceSize]byte
	rand.Read(nonce[:])
	out := make([]byte, 0, wrapSize)
	out = append(append(out, wrapVersion), nonce[:]...)
	return string(wrapping(t).Seal(out, nonce[:], k.raw[:], wrapAD))
}

// unwrap returns the value key that w wraps under t; ok is false when w
// was not wrapped under t (another session's, changed, or garbage).
func unwrap(t *secretToken, w string) (k *valueKey, ok bool) {
	if len(w) != wrapSize || w[0] != wrapVersion {
		return nil, false
	}
	b := []byte(w)
	k = &valueKey{}
	if _, err := wrapping(t).Open(k.raw[:0], b[1:1+nonceSize], b[1+nonceSize:], wrapAD); err != nil {
		return nil, false
	}
	return k, true
}

// scratch holds the buffers that seal and open copy a name and a value
// into, for the AEAD, which takes bytes.
var scratch = sync.Pool{New: func() any { return new([]byte) }}

// crypt runs f with k's AEAD and a buffer holding a, b and extra bytes
// more, under k's lock.
func (k *valueKey) crypt(a, b string, extra int, f func(g cipher.AEAD, buf []byte) string) string {
	p := scratch.Get().(*[]byte)
	buf := append(append((*p)[:0], a...), b...)
	buf = append(buf, make([]byte, extra)...)
	k.mu.Lock()
	if k.aead == nil {
		k.aead = gcm(k.raw[:])
	}
	out := f(k.aead, buf)
	k.mu.Unlock()
	*p = buf
	scratch.Put(p)
	return out
}

// seal returns the value v of the field name as stored.
func (k *valueKey) seal(name, v string) string {
	return k.crypt(name, v, nonceSize, func(g cipher.AEAD, buf []byte) string {
		ad, p, nonce := buf[:len(name)], buf[len(name):len(name)+len(v)], buf[len(name)+len(v):]
		rand.Read(nonce)
		out := append(make([]byte, 0, nonceSize+len(v)+tagSize), nonce...)
		return string(g.Seal(out, nonce, p, ad))
	})
}

// open returns the value of the field name that sealed holds; ok is false
// when sealed was not sealed by k for name.
func (k *valueKey) open(name, sealed string) (v string, ok bool) {
	if len(sealed) < sealOverhead {
		return "", false
	}
	v = k.crypt(name, sealed, 0, func(g cipher.AEAD, buf []byte) string {
		ad, b := buf[:len(name)], buf[len(name):]
		p, err := g.Open(b[nonceSize:nonceSize], b[:nonceSize], b[nonceSize:], ad)
		if err != nil {
			return ""
		}
		ok = true
		return string(p)
	})
	return v, ok
}

// openAll returns the values in clear of sealed (name to stored value),
// and the number of those that do not open, which it leaves out. The
// values are slices of one string: two allocations, however many values.
func (k *valueKey) openAll(sealed map[string]string) (values map[string]string, bad int) {
	type span struct {
		name     string
		from, to int
	}
	var small [16]span
	spans := small[:0]
	pc, pp := scratch.Get().(*[]byte), scratch.Get().(*[]byte)
	buf, plain := *pc, (*pp)[:0]
	k.mu.Lock()
	if k.aead == nil {
		k.aead = gcm(k.raw[:])
	}
	for name, v := range sealed {
		if len(v) < sealOverhead {
			bad++
			continue
		}
		buf = append(append(buf[:0], name...), v...)
		ad, b := buf[:len(name)], buf[len(name):]
		p, err := k.aead.Open(plain, b[:nonceSize], b[nonceSize:], ad)
		if err != nil {
			bad++
			continue
		}
		spans = append(spans, span{name, len(plain), len(p)})
		plain = p
	}
	k.mu.Unlock()
	all := string(plain)
	*pc, *pp = buf, plain
	scratch.Put(pc)
	scratch.Put(pp)
	values = make(map[string]string, len(spans))
	for _, sp := range spans {
		values[sp.name] = all[sp.from:sp.to]
	}
	return values, bad
}

// keyCacheSize bounds the value keys that a Manager keeps opened, about a
// kilobyte each.
const keyCacheSize = 4096

// keyCache keeps the value keys of the sessions used last, opened, so that
// a session's next request on this instance skips the key derivation and
// the unwrapping. It is a memo of unwrap(token, wrap), by the store key
// (the token's SHA-256) and the wrap: a wrap changed in the store misses
// and is unwrapped anew. It holds the keyCacheSize/2 to keyCacheSize keys
// used last, in two generations. It is safe for concurrent use.
type keyCache struct {
	mu   sync.Mutex
	gens [2]map[string]cachedKey // by store key; gens[0] the newer
}

type cachedKey struct {
	wrap string
	vk   *valueKey
}

// get returns the value key that wrap wraps for the session under key,
// or nil when it is not cached.
func (c *keyCache) get(key, wrap string) *valueKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, g := range c.gens {
		if e, ok := g[key]; ok && e.wrap == wrap {
			if i == 1 {
				c.putLocked(key, e)
			}
			return e.vk
		}
	}
	return nil
}

func (c *keyCache) put(key, wrap string, vk *valueKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(key, cachedKey{wrap, vk})
}

func (c *keyCache) putLocked(key string, e cachedKey) {
	if len(c.gens[0]) >= keyCacheSize/2 || c.gens[0] == nil {
		c.gens[1], c.gens[0] = c.gens[0], make(map[string]cachedKey, keyCacheSize/2)
	}
	c.gens[0][key] = e
}

// openLocked takes the values of rec, loaded under key with the token t, into the
// request's copy, decrypted. It returns false, and logs, when rec cannot
// be read with t: stored in clear while encryption is on, or with a
// wrapped key that t does not open (changed or copied in the store). A
// value that does not open (changed or moved in the store) is left out,
// as missing, and logged.
func (s *Session) openLocked(ctx context.Context, t *secretToken, key string, rec *Record) bool {
	if rec.Wrap == "" {
		if s.m.encrypt {
			s.m.unreadable(ctx, unreadableClear, len(rec.Values))
			return false
		}
		s.values = rec.Values
		return true
	}
	vk := s.m.keys.get(key, rec.Wrap)
	if vk == nil {
		var ok bool
		if vk, ok = unwrap(t, rec.Wrap); !ok {
			s.m.unreadable(ctx, unreadableWrap, len(rec.Values))
			return false
		}
		s.m.keys.put(key, rec.Wrap, vk)
	}
	values, bad := vk.openAll(rec.Values)
	if bad > 0 {
		s.m.unreadable(ctx, unreadableValue, bad)
	}
	s.vk, s.sealed, s.values = vk, rec.Values, values
	return true
}

// seals reports whether the session's values are stored encrypted: those
// of a session loaded with a value key, and those of a new session when
// encryption is on.
func (s *Session) seals() bool { return s.vk != nil || s.m.encrypt }

// sealLocked returns w as the store gets it: a creation makes the
// session's value key when encryption is on; a creation or renewal of an
// encrypted session wraps it under the session's (new) token, and the
// values set are encrypted.
func (s *Session) sealLocked(w Write) Write {
	if w.Create {
		s.vk, s.sealed = nil, nil
		if s.m.encrypt {
			s.vk = newValueKey()
		}
	}
	if s.vk == nil {
		return w
	}
	if w.Create || w.From != "" {
		w.Wrap = s.vk.wrap(&s.token)
	}
	if len(w.Set) > 0 {
		set := make(map[string]string, len(w.Set))
		for k, v := range w.Set {
			set[k] = s.vk.seal(k, v)
		}
		w.Set = set
	}
	return w
}

// sealedLocked notes in the request's copy of the stored values the
// applied write w, as sealLocked made it.
func (s *Session) sealedLocked(w *Write) {
	if s.vk == nil {
		return
	}
	if w.Wrap != "" {
		s.m.keys.put(w.Key, w.Wrap, s.vk)
	}
	if w.Create || w.Clear || s.sealed == nil {
		s.sealed = make(map[string]string, len(w.Set))
	}
	for _, k := range w.Del {
		delete(s.sealed, k)
	}
	maps.Copy(s.sealed, w.Set)
}

// swapLocked changes field of an encrypted session in the store as next
// says, with a compare-and-swap on the stored ciphertext: first against
// the request's copy, then, when the swap fails or next refuses on a copy
// that may be stale, against a fresh Load, until the swap holds or next
// refuses on what the store holds. next gets the value in clear (has is
// false for a value absent, or unreadable, which counts as absent) and
// returns the new value, or put false to change nothing (swapped false).
// found is false when the session is not live.
func (s *Session) swapLocked(ctx context.Context, c Counter, field string,
	next func(cur string, has bool) (v string, put bool, err error)) (swapped, found bool, err error) {
	stored, has := s.sealed[field]
	for fresh := false; ; fresh = true {
		if fresh {
			var rec Record
			if err = s.m.call(ctx, OpLoad, func(ctx context.Context) (err error) {
				rec, found, err = s.m.store.Load(ctx, s.key, s.m.limits(s.remember))
				return notFound(found, err)
			}); err != nil || !found {
				return false, found, err
			}
			stored, has = rec.Values[field]
		}
		cur, ok := "", false
		if has {
			cur, ok = s.vk.open(field, stored)
		}
		v, put, refused := next(cur, ok)
		switch {
		case (refused != nil || !put) && fresh:
			return false, true, refused // the store's value answers
		case refused != nil || !put:
			continue // the request's copy may be stale
		}
		sealed := s.vk.seal(field, v)
		var old []byte
		if has {
			old = []byte(stored)
		}
		if err = s.m.call(ctx, OpCompareAndSwap, func(ctx context.Context) (err error) {
			swapped, found, err = c.CompareAndSwap(ctx, s.key, field, old, []byte(sealed), s.m.limits(s.remember))
			return notFound(found, err)
		}); err != nil || !found {
			return false, found, err
		}
		if swapped {
			if s.sealed == nil {
				s.sealed = map[string]string{}
			}
			s.sealed[field] = sealed
			return true, true, nil
		}
		if err := ctx.Err(); err != nil {
			return false, true, unavailable(err)
		}
	}
}
