package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"sync"
)

// A cookie value is base64url(token) "." base64url(HMAC-SHA-256(key, name, token)):
// 43 + 1 + 43 characters. The cookie name is part of the MAC, so a value cut
// from one cookie does not verify under another name.
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
	// with label: the name and a zero byte, the start of every message.
	once  sync.Once
	macs  []sync.Pool
	label []byte
}

// Signature is an HMAC of a token; like [secretToken] it prints redacted.
type signature [sha256.Size]byte

func (signature) String() string             { return redacted }
func (signature) GoString() string           { return redacted }
func (signature) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }
func (signature) LogValue() slog.Value       { return slog.StringValue(redacted) }

// sign returns the HMAC of t under keys[i].
func (c *codec) sign(i int, t *secretToken) signature {
	c.once.Do(func() { c.macs, c.label = make([]sync.Pool, len(c.keys)), append([]byte(c.name), 0) })
	m, _ := c.macs[i].Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, c.keys[i])
	} else {
		m.Reset()
	}
	m.Write(c.label)
	m.Write(t[:])
	var s signature
	m.Sum(s[:0])
	c.macs[i].Put(m)
	return s
}

// encode returns the cookie value for t, signed with the first key.
func (c *codec) encode(t secretToken) string {
	sig := c.sign(0, &t)
	b := make([]byte, cookieLen)
	base64.RawURLEncoding.Encode(b, t[:])
	b[tokenLen] = '.'
	base64.RawURLEncoding.Encode(b[tokenLen+1:], sig[:])
	return string(b)
}

// decode verifies v and returns its token and the index of the key that
// verified it. ok is false for anything that is not a value this codec made
// with one of its keys; decode never panics and does no I/O.
func (c *codec) decode(v string) (t secretToken, keyIndex int, ok bool) {
	t, sig, ok := c.parse(v)
	if !ok {
		return secretToken{}, 0, false
	}
	if keyIndex, ok = c.verify(&t, &sig); !ok {
		return secretToken{}, 0, false
	}
	return t, keyIndex, true
}

// parse splits a well-formed value (the length, the dot and strict
// base64url of the right sizes) into its token and signature, without an
// HMAC: a value that fails here costs next to nothing.
func (c *codec) parse(v string) (t secretToken, sig signature, ok bool) {
	if len(v) != cookieLen || v[tokenLen] != '.' {
		return t, sig, false
	}
	if n, err := base64.RawURLEncoding.Strict().Decode(t[:], []byte(v[:tokenLen])); err != nil || n != tokenSize {
		return t, sig, false
	}
	if n, err := base64.RawURLEncoding.Strict().Decode(sig[:], []byte(v[tokenLen+1:])); err != nil || n != sha256.Size {
		return t, sig, false
	}
	return t, sig, true
}

// verify returns the index of the key whose HMAC of t is sig: one HMAC
// per key tried.
func (c *codec) verify(t *secretToken, sig *signature) (keyIndex int, ok bool) {
	for i := range c.keys {
		want := c.sign(i, t)
		if hmac.Equal(want[:], sig[:]) {
			return i, true
		}
	}
	return 0, false
}
