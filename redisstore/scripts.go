package redisstore

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"strings"

	"github.com/redis/rueidis"
)

// The layout of one session, a Redis hash at Prefix+"{"+key+"}":
//
//	_c   created, Unix milliseconds (Redis clock)
//	_a   absolute deadline, Unix ms
//	_i   idle deadline, Unix ms, never after _a
//	_s   last slide of the idle deadline, Unix ms
//	_u   user ("" = anonymous)
//	_ua  user agent
//	v:k  the value of session key k, as the Manager encoded it (JSON)
//
// The key's own expiry (PEXPIREAT) is always _i, so Redis drops an idle
// session by itself and no TTL outlives the absolute deadline. Every script
// reads the time with TIME, so all deadlines follow one clock: the Redis
// server's (Redis 5+ replicates scripts by their effects, so TIME is safe).
const (
	fieldCreated   = "_c"
	fieldAbsolute  = "_a"
	fieldIdle      = "_i"
	fieldSeen      = "_s"
	fieldUser      = "_u"
	fieldUserAgent = "_ua"
	valuePrefix    = "v:"

	metaFields = 6 // the fields above, in every session hash
)

// luaPrelude holds the helpers every script shares.
const luaPrelude = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function fmt(n) return string.format('%d', n) end
-- live returns the absolute deadline of the session under key, or nil
-- when it is missing or expired (an expired one is deleted).
local function live(key, now)
  local m = redis.call('HMGET', key, '_a', '_i')
  local a, i = tonumber(m[1]), tonumber(m[2])
  if not a or not i then return nil end
  if now >= a or now >= i then
    redis.call('DEL', key)
    return nil
  end
  return a
end
-- slide moves the idle deadline to now+idle, never past a, and the key's
-- expiry with it.
local function slide(key, now, a, idle)
  local i = math.min(now + idle, a)
  redis.call('HSET', key, '_i', fmt(i), '_s', fmt(now))
  redis.call('PEXPIREAT', key, fmt(i))
  return i
end
-- hset sets the name/value pairs args[first..last] in chunks, so that no
-- call unpacks more than the Lua stack holds.
local function hset(key, args, first, last)
  local j = first
  while j < last do
    local e = math.min(last, j + 399)
    redis.call('HSET', key, unpack(args, j, e))
    j = e + 1
  end
end
local function hdel(key, args, first, last)
  local j = first
  while j <= last do
    local e = math.min(last, j + 399)
    redis.call('HDEL', key, unpack(args, j, e))
    j = e + 1
  end
end
`

// luaLoad: KEYS[1] session; ARGV idle ms, throttle ms. Returns nil or
// {created, absolute, idle deadline, last slide, user, user agent, then
// the "v:" name/value pairs}, the deadlines as integers (after the slide),
// so that the client parses no numbers and reads no metadata names.
const luaLoad = luaPrelude + `
local key = KEYS[1]
local h = redis.call('HGETALL', key)
if #h == 0 then return nil end
local now = now_ms()
local out = {0, 0, 0, 0, '', ''}
local c, a, i, s
for j = 1, #h, 2 do
  local f = h[j]
  if string.byte(f, 1) ~= 95 then -- not '_': a value
    out[#out+1] = f; out[#out+1] = h[j+1]
  elseif f == '_a' then a = tonumber(h[j+1])
  elseif f == '_i' then i = tonumber(h[j+1])
  elseif f == '_s' then s = tonumber(h[j+1])
  elseif f == '_c' then c = tonumber(h[j+1])
  elseif f == '_u' then out[5] = h[j+1]
  elseif f == '_ua' then out[6] = h[j+1] end
end
if not a or not i then return nil end
if now >= a or now >= i then
  redis.call('DEL', key)
  return nil
end
if not s or now - s >= tonumber(ARGV[2]) then
  i = slide(key, now, a, tonumber(ARGV[1]))
  s = now
end
out[1] = c or 0; out[2] = a; out[3] = i; out[4] = s
return out
`

// luaPeek: KEYS[1] session. Read-only (EVALSHA_RO, the command that the
// client-side cache keeps): the hash in the reply shape of luaLoad, or nil
// when there is none; no clock, no deadline check, no slide, so that the
// reply stays true until the key changes (which invalidates it).
const luaPeek = `
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then return nil end
local out = {0, 0, 0, 0, '', ''}
for j = 1, #h, 2 do
  local f = h[j]
  if string.byte(f, 1) ~= 95 then -- not '_': a value
    out[#out+1] = f; out[#out+1] = h[j+1]
  elseif f == '_c' then out[1] = tonumber(h[j+1])
  elseif f == '_a' then out[2] = tonumber(h[j+1])
  elseif f == '_i' then out[3] = tonumber(h[j+1])
  elseif f == '_s' then out[4] = tonumber(h[j+1])
  elseif f == '_u' then out[5] = h[j+1]
  elseif f == '_ua' then out[6] = h[j+1] end
end
if out[2] == 0 or out[3] == 0 then return nil end
return out
`

// luaCreate: KEYS[1] session; ARGV idle ms, absolute ms, user, user agent,
// then name/value pairs. Replaces whatever was there; returns the creation
// time.
const luaCreate = luaPrelude + `
local key = KEYS[1]
local now = now_ms()
local a = now + tonumber(ARGV[2])
local i = math.min(now + tonumber(ARGV[1]), a)
redis.call('DEL', key)
redis.call('HSET', key, '_c', fmt(now), '_a', fmt(a), '_i', fmt(i), '_s', fmt(now), '_u', ARGV[3], '_ua', ARGV[4])
if #ARGV > 4 then hset(key, ARGV, 5, #ARGV) end
redis.call('PEXPIREAT', key, fmt(i))
return now
`

// luaUpdate: KEYS[1] session; ARGV idle ms, set-user flag ("1"), user,
// number of pairs n, then n name/value pairs, then the names to delete.
// Writes only to a live session; returns {old user, created} or nil.
const luaUpdate = luaPrelude + `
local key = KEYS[1]
local now = now_ms()
local m = redis.call('HMGET', key, '_a', '_i', '_u', '_c')
local a, i = tonumber(m[1]), tonumber(m[2])
if not a or not i then return nil end
if now >= a or now >= i then
  redis.call('DEL', key)
  return nil
end
local first = 5
local d = first + 2 * tonumber(ARGV[4])
if d <= #ARGV then hdel(key, ARGV, d, #ARGV) end
if d > first then hset(key, ARGV, first, d - 1) end
if ARGV[2] == '1' then redis.call('HSET', key, '_u', ARGV[3]) end
slide(key, now, a, tonumber(ARGV[1]))
return {m[3] or '', m[4] or '0'}
`

// luaIncr: KEYS[1] session; ARGV idle ms, field, increment. Returns nil,
// {1, value} or {0, error}.
const luaIncr = luaPrelude + `
local key = KEYS[1]
local now = now_ms()
local a = live(key, now)
if not a then return nil end
local v = redis.pcall('HINCRBY', key, ARGV[2], ARGV[3])
if type(v) == 'table' and v.err then return {0, v.err} end
slide(key, now, a, tonumber(ARGV[1]))
return {1, v}
`

// luaCAS: KEYS[1] session; ARGV idle ms, field, has-old flag ("1"), old,
// new. Returns nil, 1 (swapped) or 0.
const luaCAS = luaPrelude + `
local key = KEYS[1]
local now = now_ms()
local a = live(key, now)
if not a then return nil end
local cur = redis.call('HGET', key, ARGV[2])
local ok
if ARGV[3] == '1' then ok = (cur == ARGV[4]) else ok = (cur == false) end
if ok then redis.call('HSET', key, ARGV[2], ARGV[5]) end
slide(key, now, a, tonumber(ARGV[1]))
if ok then return 1 end
return 0
`

// luaTake: KEYS[1] session. Returns the whole hash of a live session and
// deletes it (the first half of a renewal), or nil.
const luaTake = luaPrelude + `
local key = KEYS[1]
local now = now_ms()
if not live(key, now) then return nil end
local h = redis.call('HGETALL', key)
redis.call('DEL', key)
return h
`

// luaDestroy: KEYS[1] session; ARGV[1] user or absent. Deletes the session
// (only if it belongs to ARGV[1] when given) and returns {user, live}, or
// nil when there was none.
const luaDestroy = luaPrelude + `
local key = KEYS[1]
local m = redis.call('HMGET', key, '_u', '_a', '_i')
if not m[2] then return nil end
if ARGV[1] and m[1] ~= ARGV[1] then return nil end
local now = now_ms()
local alive = 0
if now < tonumber(m[2]) and now < tonumber(m[3]) then alive = 1 end
redis.call('DEL', key)
return {m[1] or '', alive}
`

// luaMeta: KEYS[1] session. Returns {created, absolute, idle, seen, user,
// user agent} of a live session, or nil. It writes nothing.
const luaMeta = luaPrelude + `
local m = redis.call('HMGET', KEYS[1], '_c', '_a', '_i', '_s', '_u', '_ua')
local a, i = tonumber(m[2]), tonumber(m[3])
if not a or not i then return nil end
local now = now_ms()
if now >= a or now >= i then return nil end
return m
`

// luaIndexAdd: KEYS[1] user index; ARGV member, absolute ms. Adds the
// member scored by the time now, keeps the index alive at least as long as
// the member can live, and returns the index size.
const luaIndexAdd = luaPrelude + `
local k = KEYS[1]
local now = now_ms()
redis.call('ZADD', k, fmt(now), ARGV[1])
local want = tonumber(ARGV[2])
if redis.call('PTTL', k) < want then redis.call('PEXPIRE', k, fmt(want)) end
return redis.call('ZCARD', k)
`

// luaPrune: KEYS[1] user index; ARGV grace ms, then members found dead.
// Removes each member added longer than grace ago: a younger one may
// belong to a session whose creation is still on its way (Cluster puts
// the index and the session on different nodes). Returns how many it
// removed.
const luaPrune = luaPrelude + `
local k = KEYS[1]
local limit = now_ms() - tonumber(ARGV[1])
local n = 0
for j = 2, #ARGV do
  local s = redis.call('ZSCORE', k, ARGV[j])
  if s and tonumber(s) < limit then
    n = n + redis.call('ZREM', k, ARGV[j])
  end
end
return n
`

// script is a Lua script called by its SHA-1 (EVALSHA), sent whole (EVAL)
// only when the server does not know it yet (NOSCRIPT), as after a Redis
// restart or on a new Cluster node.
//
// A retryable script is one whose second run, after a first one that may
// or may not have happened, leaves the same state and answers the same:
// rueidis sends it again, within the call's context, when the connection
// broke under it (as on the first call after a Redis restart) or Redis is
// still loading its data.
type script struct {
	src   string
	sha   string
	retry bool
}

func newScript(src string, retry bool) *script {
	sum := sha1.Sum([]byte(src))
	return &script{src: src, sha: hex.EncodeToString(sum[:]), retry: retry}
}

// cmd builds the EVALSHA (or, with full, the EVAL) call of s.
func (s *script) cmd(c redis, full bool, keys []string, args []string) rueidis.Completed {
	var cmd rueidis.Completed
	if full {
		cmd = c.B().Eval().Script(s.src).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
	} else {
		cmd = c.B().Evalsha().Sha1(s.sha).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
	}
	if s.retry {
		cmd = cmd.ToRetryable()
	}
	return cmd
}

// run calls s once: one round trip, two after a NOSCRIPT.
func (s *script) run(ctx context.Context, c redis, keys []string, args ...string) rueidis.RedisResult {
	r := c.Do(ctx, s.cmd(c, false, keys, args))
	if noScript(r.Error()) {
		r = c.Do(ctx, s.cmd(c, true, keys, args))
	}
	return r
}

// cached builds the cacheable EVALSHA_RO call of s, a read-only script of
// one key.
func (s *script) cached(c redis, key string) rueidis.Cacheable {
	return c.B().EvalshaRo().Sha1(s.sha).Numkeys(1).Key(key).Cache()
}

func noScript(err error) bool {
	re, ok := rueidis.IsRedisErr(err)
	return ok && (re.IsNoScript() || strings.HasPrefix(re.Error(), "NOSCRIPT"))
}

// call is one command of a pipeline: a script call, or a plain command
// (s == nil) built by build.
type call struct {
	s     *script
	keys  []string
	args  []string
	build func(b rueidis.Builder) rueidis.Completed
}

// pipeline sends the calls together (in Cluster, one batch per node) and
// returns their results in order; script calls that met NOSCRIPT are sent
// again with EVAL.
func pipeline(ctx context.Context, c redis, calls ...call) []rueidis.RedisResult {
	if len(calls) == 0 {
		return nil
	}
	cmds := make(rueidis.Commands, len(calls))
	for i, x := range calls {
		if x.s != nil {
			cmds[i] = x.s.cmd(c, false, x.keys, x.args)
		} else {
			cmds[i] = x.build(c.B())
		}
	}
	res := c.DoMulti(ctx, cmds...)
	var again []int
	for i, r := range res {
		if calls[i].s != nil && noScript(r.Error()) {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		cmds = cmds[:0]
		for _, i := range again {
			cmds = append(cmds, calls[i].s.cmd(c, true, calls[i].keys, calls[i].args))
		}
		for j, r := range c.DoMulti(ctx, cmds...) {
			res[again[j]] = r
		}
	}
	return res
}

var (
	// Load slides again, Create replaces again, Update writes the same
	// delta again, Destroy finds nothing the second time (the user index
	// entry is then left for pruning). Incr would count twice, CAS and
	// Take would answer wrong: they are not retried.
	scriptLoad     = newScript(luaLoad, true)
	scriptCreate   = newScript(luaCreate, true)
	scriptUpdate   = newScript(luaUpdate, true)
	scriptIncr     = newScript(luaIncr, false)
	scriptCAS      = newScript(luaCAS, false)
	scriptTake     = newScript(luaTake, false)
	scriptDestroy  = newScript(luaDestroy, true)
	scriptMeta     = newScript(luaMeta, true)
	scriptIndexAdd = newScript(luaIndexAdd, true)
	scriptPrune    = newScript(luaPrune, true)
	scriptPeek     = newScript(luaPeek, true)

	allScripts = []*script{
		scriptLoad, scriptCreate, scriptUpdate, scriptIncr, scriptCAS,
		scriptTake, scriptDestroy, scriptMeta, scriptIndexAdd, scriptPrune,
		scriptPeek,
	}
)
