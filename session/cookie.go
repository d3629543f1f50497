package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
)

// A cookie value is base64url(token) sep base64url(HMAC-SHA-256(key, name,
// flag, token)): 43 + 1 + 43 characters. The cookie name is part of the
// MAC, so a value cut from one cookie does not verify under another name.
// sep and the flag byte, which the MAC covers, say whether the session is
// remembered ([Session.RememberMe]): "." and 0 for a session of the
// browser's, "~" and 1 for a remembered one, so that the Manager knows
// which timeouts to give the store before it loads the session. Names hold
// no byte below 0x21, so the flag also ends the name.
var (
	tokenLen  = base64.RawURLEncoding.EncodedLen(tokenSize)
	sigLen    = base64.RawURLEncoding.EncodedLen(sha256.Size)
	cookieLen = tokenLen + 1 + sigLen
)

// codec signs and verifies cookie values. keys[0] signs; every key verifies.
// It is safe for concurrent use and must not be copied after first use.
type codec struct {
	name string
	keys [][]byte

	// macs[i] pools keyed HMACs of keys[i]: keying an HMAC costs two hash
	// blocks and allocations, a Reset costs neither. Filled on first use,
	// with labels: the name and the flag byte, the start of every message
	// (0 for a session of the browser's, 1 for a remembered one).
	once   sync.Once
	macs   []sync.Pool
	labels [2][]byte
}

// Signature is an HMAC of a token; like [secretToken] it prints redacted.
type signature [sha256.Size]byte

func (signature) String() string             { return redacted }
func (signature) GoString() string           { return redacted }
func (signature) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }
func (signature) LogValue() slog.Value       { return slog.StringValue(redacted) }

// Separators of the cookie value, by the flag.
const (
	sepSession  = '.'
	sepRemember = '~'
)

// sign returns the HMAC of t, remembered or not, under keys[i].
func (c *codec) sign(i int, t *secretToken, remember bool) signature {
	c.once.Do(func() {
		c.macs = make([]sync.Pool, len(c.keys))
		c.labels = [2][]byte{append([]byte(c.name), 0), append([]byte(c.name), 1)}
	})
	m, _ := c.macs[i].Get().(*mac)
	if m == nil {
		m = &mac{h: hmac.New(sha256.New, c.keys[i])}
	} else {
		m.h.Reset()
	}
	label := c.labels[0]
	if remember {
		label = c.labels[1]
	}
	// Written from the mac's own buffer: t itself, passed to the hash.Hash
	// interface, would escape to the heap, and so would every token the
	// caller keeps on its stack.
	m.in = append(append(m.in[:0], label...), t[:]...)
	m.h.Write(m.in)
	s := signature(m.h.Sum(m.sum[:0]))
	c.macs[i].Put(m)
	return s
}

// mac is a keyed HMAC with room for its input and its sum (a local array
// would escape to the heap through the hash.Hash interface).
type mac struct {
	h   hash.Hash
	in  []byte
	sum [sha256.Size]byte
}

// encode returns the cookie value for t, remembered or not, signed with
// the first key.
func (c *codec) encode(t secretToken, remember bool) string {
	sig := c.sign(0, &t, remember)
	b := make([]byte, cookieLen)
	base64.RawURLEncoding.Encode(b, t[:])
	b[tokenLen] = sepSession
	if remember {
		b[tokenLen] = sepRemember
	}
	base64.RawURLEncoding.Encode(b[tokenLen+1:], sig[:])
	return string(b)
}

// decode verifies v and returns its token, the index of the key that
// verified it and whether the session is remembered. ok is false for
// anything that is not a value this codec made with one of its keys;
// decode never panics and does no I/O.
func (c *codec) decode(v string) (t secretToken, keyIndex int, remember, ok bool) {
	t, sig, remember, ok := c.parse(v)
	if !ok {
		return secretToken{}, 0, false, false
	}
	if keyIndex, ok = c.verify(&t, &sig, remember); !ok {
		return secretToken{}, 0, false, false
	}
	return t, keyIndex, remember, true
}

// parse splits a well-formed value (the length, the separator and strict
// base64url of the right sizes) into its token, signature and flag,
// without an HMAC: a value that fails here costs next to nothing.
func (c *codec) parse(v string) (t secretToken, sig signature, remember, ok bool) {
	if len(v) != cookieLen || (v[tokenLen] != sepSession && v[tokenLen] != sepRemember) {
		return t, sig, false, false
	}
	if n, err := base64.RawURLEncoding.Strict().Decode(t[:], []byte(v[:tokenLen])); err != nil || n != tokenSize {
		return t, sig, false, false
	}
	if n, err := base64.RawURLEncoding.Strict().Decode(sig[:], []byte(v[tokenLen+1:])); err != nil || n != sha256.Size {
		return t, sig, false, false
	}
	return t, sig, v[tokenLen] == sepRemember, true
}

// verify returns the index of the key whose HMAC of t, remembered or not,
// is sig: one HMAC per key tried.
func (c *codec) verify(t *secretToken, sig *signature, remember bool) (keyIndex int, ok bool) {
	for i := range c.keys {
		want := c.sign(i, t, remember)
		if hmac.Equal(want[:], sig[:]) {
			return i, true
		}
	}
	return 0, false
}

// cookieValues yields the value of each cookie named name in the Cookie
// headers h holds, in order, as net/http's Request.CookiesNamed finds
// them but without allocating: a value in double quotes is yielded with
// its quotes (none of ours has any, so it fails to parse).
func cookieValues(h http.Header, name string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for _, line := range h["Cookie"] {
			for line != "" {
				var part string
				part, line, _ = strings.Cut(line, ";")
				k, v, ok := strings.Cut(textproto.TrimString(part), "=")
				if ok && textproto.TrimString(k) == name && !yield(v) {
					return
				}
			}
		}
	}
}
