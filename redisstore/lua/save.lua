-- save.lua: one atomic write of one session: a creation, an update (an
-- update with no change is the slide of a read), or the second half of a
-- renewal (put: a creation that keeps the taken session's login time and
-- absolute deadline).
--
-- KEYS[1]  the session hash
-- ARGV[1]  mode: "c" create, "u" update, "p" put
-- ARGV[2]  idle timeout, ms
-- ARGV[3]  absolute timeout, ms
-- ARGV[4]  max size (bytes of names and values; 0 = no limit)
-- ARGV[5]  max fields (0 = no limit)
-- ARGV[6]  "1": drop every value first
-- ARGV[7]  "1": bind the user ARGV[8] (create and put always do)
-- ARGV[8]  user ("" = anonymous)
-- ARGV[9]  user agent (create and put; ignored by update)
-- ARGV[10] "1": login: _c = now, _a = now + absolute timeout
-- ARGV[11] put: login time to keep (ms)
-- ARGV[12] put: absolute deadline to keep (ms)
-- ARGV[13] n, the number of values to set
-- ARGV[14..13+2n]  n name/value pairs ("v:"..name, value)
-- ARGV[14+2n..]    names to delete ("v:"..name)
--
-- Reply, always {code, previous user, idle deadline, now}:
--   code 1 written; 0 not written: an update or put of a session that is
--   not live; -1 too many fields, -2 too large: nothing written.
--   The previous user is the update's ("" otherwise); the idle deadline
--   and now (Redis clock, ms) are after the write (0 when not written).
local key, mode = KEYS[1], ARGV[1]
local idle, absolute = tonumber(ARGV[2]), tonumber(ARGV[3])
local max_size, max_fields = tonumber(ARGV[4]), tonumber(ARGV[5])
local clear, bind, login = ARGV[6] == '1', ARGV[7] == '1', ARGV[10] == '1'
local n = tonumber(ARGV[13])
local first = 14
local d = first + 2 * n
local now = now_ms()

if mode == 'u' then
  local m = redis.call('HMGET', key, '_a', '_i', '_u')
  local a, i = tonumber(m[1]), tonumber(m[2])
  if not a or not i then return {0, '', 0, now} end
  if now >= a or now >= i then
    redis.call('DEL', key)
    return {0, '', 0, now}
  end
  local ok = fits(key, clear, ARGV, first, n, max_size, max_fields)
  if ok ~= 1 then return {ok, m[3] or '', i, now} end
  if clear then clear_values(key) end
  if d <= #ARGV then hdel(key, ARGV, d, #ARGV) end
  if n > 0 then hset(key, ARGV, first, d - 1) end
  if bind then redis.call('HSET', key, '_u', ARGV[8]) end
  if login then
    a = now + absolute
    redis.call('HSET', key, '_c', fmt(now), '_a', fmt(a))
  end
  return {1, m[3] or '', slide(key, now, a, idle), now}
end

-- create or put: the key is new (a hash of a fresh random token), so what
-- was there, if anything, is replaced.
local c, a = now, now + absolute
if mode == 'p' and not login then
  c, a = tonumber(ARGV[11]), tonumber(ARGV[12])
  if now >= a then return {0, '', 0, now} end
end
local ok = fits(key, true, ARGV, first, n, max_size, max_fields)
if ok ~= 1 then return {ok, '', 0, now} end
redis.call('DEL', key)
local i = math.min(now + idle, a)
redis.call('HSET', key, '_c', fmt(c), '_a', fmt(a), '_i', fmt(i), '_s', fmt(now), '_u', ARGV[8], '_ua', ARGV[9])
if n > 0 then hset(key, ARGV, first, d - 1) end
redis.call('PEXPIREAT', key, fmt(i))
return {1, '', i, now}
