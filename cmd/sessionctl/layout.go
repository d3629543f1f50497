package main

import (
	"strconv"
	"strings"

	"github.com/redis/rueidis"
)

// The Redis key layout of redisstore, as stats and prune read it. This is
// the one file of sessionctl that knows it: a change of the layout in
// redisstore (store.go sessionKey/userKey, scripts.go field names, users.go
// index scores) changes this file and nothing else. list, revoke and
// revoke-all go through the public session and redisstore API instead.
//
//	Prefix+"{"+key+"}"        a session: a hash; key is the 43-character
//	                          base64url SHA-256 of the token
//	    _c _a _i _s           created, absolute deadline, idle deadline,
//	                          last slide: Unix milliseconds (Redis clock)
//	    _u _ua                user ("" = anonymous), user agent
//	    v:NAME                the value of session key NAME (JSON)
//	Prefix+"user:{"+user+"}"  a user's index: a sorted set of session keys,
//	                          scored by the Unix ms at which each was added
const (
	fieldAbsolute = "_a"
	fieldIdle     = "_i"
	fieldUser     = "_u"
	valuePrefix   = "v:"
	userInfix     = "user:{"

	// indexGrace is how long an index entry whose session cannot be found
	// is kept: in Cluster the entry of a session being created may land
	// before the session (redisstore's pruneGrace).
	indexGraceMS = 60_000
)

// layout is the key space of one store prefix.
type layout struct{ prefix string }

// sessionPattern is the SCAN MATCH pattern of every session key.
func (l layout) sessionPattern() string { return globEscape(l.prefix) + "{*}" }

// userPattern is the SCAN MATCH pattern of every user index key.
func (l layout) userPattern() string { return globEscape(l.prefix) + "user:{*}" }

func (l layout) sessionKey(key string) string { return l.prefix + "{" + key + "}" }

// isSessionKey reports whether k, matched by sessionPattern, is a session
// (and not, with an empty prefix, some other key that has braces).
func (l layout) isSessionKey(k string) bool {
	return strings.HasPrefix(k, l.prefix+"{") && !strings.HasPrefix(k, l.prefix+userInfix) && strings.HasSuffix(k, "}")
}

// userOf returns the user of index key k.
func (l layout) userOf(k string) (string, bool) {
	rest, ok := strings.CutPrefix(k, l.prefix+userInfix)
	if !ok || !strings.HasSuffix(rest, "}") {
		return "", false
	}
	return rest[:len(rest)-1], true
}

// sessionStat is what stats needs of one session hash.
type sessionStat struct {
	live bool
	user string
	size int   // bytes of value names and values, as Config.MaxSize counts
	ends int64 // Unix ms at which it dies unless used: min(_a, _i)
}

// parseSession reads an HGETALL reply at Redis time now (Unix ms).
func parseSession(h map[string]rueidis.RedisMessage, now int64) sessionStat {
	var st sessionStat
	var a, i int64
	for f, v := range h {
		s, _ := v.ToString()
		switch {
		case strings.HasPrefix(f, valuePrefix):
			st.size += len(f) - len(valuePrefix) + len(s)
		case f == fieldAbsolute:
			a, _ = strconv.ParseInt(s, 10, 64)
		case f == fieldIdle:
			i, _ = strconv.ParseInt(s, 10, 64)
		case f == fieldUser:
			st.user = s
		}
	}
	st.ends = min(a, i)
	st.live = a > 0 && i > 0 && now < st.ends
	return st
}

// metaCmd reads what prune needs to know whether key's session is live and
// whose it is: HMGET _u _a _i.
func (l layout) metaCmd(b rueidis.Builder, key string) rueidis.Completed {
	return b.Hmget().Key(l.sessionKey(key)).Field(fieldUser, fieldAbsolute, fieldIdle).Build()
}

// liveFor reports whether the HMGET reply of metaCmd is a live session of
// user at Redis time now.
func liveFor(r []rueidis.RedisMessage, user string, now int64) bool {
	if len(r) != 3 {
		return false
	}
	u, err := r[0].ToString()
	if err != nil || u != user {
		return false
	}
	a, err1 := r[1].AsInt64()
	i, err2 := r[2].AsInt64()
	return err1 == nil && err2 == nil && now < a && now < i
}

// pruneScript removes from a user index (KEYS[1]) the members ARGV[2..]
// that were added before ARGV[1] (Unix ms, Redis clock): an entry younger
// than the grace may belong to a session whose creation is on its way.
// It returns how many it removed.
var pruneScript = rueidis.NewLuaScript(`
local n = 0
for j = 2, #ARGV do
  local s = redis.call('ZSCORE', KEYS[1], ARGV[j])
  if s and tonumber(s) < tonumber(ARGV[1]) then
    n = n + redis.call('ZREM', KEYS[1], ARGV[j])
  end
end
return n
`)

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
