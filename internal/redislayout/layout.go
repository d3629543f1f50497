// Package redislayout is the one description of how redisstore lays out
// sessions in Redis: the key names, and the session hash with its metadata
// packed into one field. redisstore and cmd/sessionctl both read it; the
// Lua scripts of redisstore (redisstore/lua/prelude.lua) read and write
// the same metadata, and a test checks that both sides agree.
//
// Keys, under the store's prefix P:
//
//	P{K}          a session: a hash (K is the store key, the base64url
//	              SHA-256 of the session's token); its expiry (PEXPIREAT) is
//	              the idle deadline, never after the absolute one
//	P{K}~         the session's marker, a string that lives a minute after
//	              the session left K: "r" (revoked: a renewal that would put
//	              a session at K refuses) or "m:"+K2 (renewed: moved to K2,
//	              which a revocation of K follows)
//	P user:{U}    user U's index: a sorted set of the keys of U's sessions,
//	              scored by the Unix ms at which each joined
//
// The session hash holds one field per value, under the value's own name,
// and the metadata in the field named "" (no value has an empty name):
//
//	1,SIZE,COUNT,SEEN,CREATED,ABSOLUTE,IDLE,REMEMBER,ULEN,WLEN,USER WRAP AGENT
//
// a layout version (1), then decimal numbers: the size and number of the
// values (as session.Limits counts them), the last slide of the idle
// deadline, the login time, the absolute and the idle deadline (Unix ms,
// Redis clock), 1 for a remembered cookie else 0, and the byte lengths of
// the user and of the wrapped value key; then, with no separators, the
// user, the wrapped value key and the user agent (to the end). What most
// writes change comes first, so that a script can rewrite it without
// decoding the rest. A reader that meets another version treats the
// session as missing.
package redislayout

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Version is the layout version this package reads and writes.
const Version = 1

// MetaField is the hash field that holds a session's metadata.
const MetaField = ""

// Marker values (see the package doc).
const (
	MarkerRevoked = "r"
	MarkerMoved   = "m:"
)

// SessionKey is the Redis key of the session stored under key. The braces
// make the key its own Cluster hash tag, shared with its marker.
func SessionKey(prefix, key string) string { return prefix + "{" + key + "}" }

// MarkerKey is the Redis key of the marker of the session key.
func MarkerKey(prefix, key string) string { return prefix + "{" + key + "}~" }

// UserKey is the Redis key of user's index.
func UserKey(prefix, user string) string { return prefix + "user:{" + user + "}" }

// SessionPattern is the SCAN MATCH pattern of every session key.
func SessionPattern(prefix string) string { return globEscape(prefix) + "{*}" }

// UserPattern is the SCAN MATCH pattern of every user index key.
func UserPattern(prefix string) string { return globEscape(prefix) + "user:{*}" }

// IsSessionKey reports whether k, matched by SessionPattern, is a session
// key (and not, with an empty prefix, some other key with braces).
func IsSessionKey(prefix, k string) bool {
	return strings.HasPrefix(k, prefix+"{") && !strings.HasPrefix(k, prefix+"user:{") && strings.HasSuffix(k, "}")
}

// UserOf returns the user of the index key k.
func UserOf(prefix, k string) (string, bool) {
	rest, ok := strings.CutPrefix(k, prefix+"user:{")
	if !ok || !strings.HasSuffix(rest, "}") {
		return "", false
	}
	return rest[:len(rest)-1], true
}

// Meta is the metadata of one session.
type Meta struct {
	Size      int   // bytes of value names plus values
	Count     int   // number of values
	Seen      int64 // last slide of the idle deadline, Unix ms
	Created   int64 // login time, Unix ms
	Absolute  int64 // absolute deadline, Unix ms
	Idle      int64 // idle deadline, Unix ms: the key's expiry, never after Absolute
	Remember  bool
	User      string
	Wrap      string // the session's value key, wrapped under its token ("" = values in clear)
	UserAgent string
}

// ErrVersion is returned (wrapped) by ParseMeta for metadata of a layout
// version this package does not know.
var ErrVersion = errors.New("redislayout: unknown layout version")

// ParseMeta decodes the metadata field of a session hash.
func ParseMeta(s string) (Meta, error) {
	var m Meta
	var n [10]int64
	rest := s
	for i := range n {
		f, r, ok := strings.Cut(rest, ",")
		if !ok {
			return m, errors.New("redislayout: truncated metadata")
		}
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil || v < 0 {
			if i == 0 {
				return m, fmt.Errorf("%w %q", ErrVersion, f)
			}
			return m, fmt.Errorf("redislayout: malformed metadata field %d", i)
		}
		n[i], rest = v, r
		if i == 0 && v != Version {
			return m, fmt.Errorf("%w %d", ErrVersion, v)
		}
	}
	ul, wl := n[8], n[9]
	if ul+wl > int64(len(rest)) || n[7] > 1 {
		return m, errors.New("redislayout: malformed metadata")
	}
	m = Meta{
		Size: int(n[1]), Count: int(n[2]), Seen: n[3],
		Created: n[4], Absolute: n[5], Idle: n[6], Remember: n[7] == 1,
		User: rest[:ul], Wrap: rest[ul : ul+wl], UserAgent: rest[ul+wl:],
	}
	return m, nil
}

// String encodes m as the metadata field.
func (m Meta) String() string {
	r := 0
	if m.Remember {
		r = 1
	}
	return fmt.Sprintf("%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%s%s%s", Version, m.Size, m.Count, m.Seen,
		m.Created, m.Absolute, m.Idle, r, len(m.User), len(m.Wrap), m.User, m.Wrap, m.UserAgent)
}

// globEscape escapes the characters that SCAN MATCH treats as patterns.
func globEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[]\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}
