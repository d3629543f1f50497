package session

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
)

// tokenSize is the size of a session token in bytes: 256 bits, as OWASP
// ASVS V3 asks for at least 128.
const tokenSize = 32

// secretToken is the secret that a session cookie carries. Whoever holds it holds
// the session, so it never reaches a log: its String, GoString, Format (every
// fmt verb, %x and %d included) and LogValue print "[redacted]". Stores see
// only [secretToken.Key], a hash of it.
type secretToken [tokenSize]byte

const redacted = "[redacted]"

func newToken() secretToken {
	var t secretToken
	// crypto/rand.Read never returns an error and never reads short (Go 1.24+).
	rand.Read(t[:])
	return t
}

// Key returns the store key of the session: the SHA-256 of the token,
// base64url-encoded (43 characters). The token cannot be found from it.
func (t secretToken) Key() string {
	sum := sha256.Sum256(t[:])
	var b [43]byte // base64url of 32 bytes, unpadded
	base64.RawURLEncoding.Encode(b[:], sum[:])
	return string(b[:])
}

// String returns "[redacted]".
func (secretToken) String() string { return redacted }

// GoString returns "[redacted]".
func (secretToken) GoString() string { return redacted }

// Format prints "[redacted]" whatever the verb, so that no fmt verb (%x,
// %d, %#v, ...) prints the token's bytes.
func (secretToken) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// LogValue returns "[redacted]" so that slog never prints a token.
func (secretToken) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText returns "[redacted]", so that a secretToken inside a struct that
// is logged or encoded as JSON does not show its bytes.
func (secretToken) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Handle returns the public handle of the session stored under key: a
// short hash that names the session in a user's session list and in
// revocation requests. It is neither the token nor the store key, so it is
// safe to put in a page.
func Handle(key string) string {
	sum := sha256.Sum256([]byte("stickless handle\x00" + key))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}
