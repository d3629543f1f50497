-- create.lua: writes a new session: a creation, or the second half of a
-- renewal in Cluster (a put, after take.lua took the old session).
--
-- KEYS[1]  the session hash (a fresh key: a hash of a new random token)
-- KEYS[2]  its marker
-- ARGV[1]  idle timeout, ms
-- ARGV[2]  absolute timeout, ms
-- ARGV[3]  max size (0 = no limit)
-- ARGV[4]  max fields (0 = no limit)
-- ARGV[5]  user ("" = anonymous)
-- ARGV[6]  user agent
-- ARGV[7]  "1": remembered cookie, else "0"
-- ARGV[8]  the wrapped value key ("" = none)
-- ARGV[9]  login time to keep, ms ("" = now)
-- ARGV[10] absolute deadline to keep, ms ("" = now + ARGV[2])
-- ARGV[11] a put: the Redis time of its take, ms ("" = a creation)
-- ARGV[12] a put: how old its take may be, ms
-- ARGV[13] n, the number of values
-- ARGV[14..13+2n]  n name/value pairs
--
-- Reply, always {code, idle deadline, now}: code 1 written; 0 not written
-- (a put that a revocation reached first, whose take is too old, or whose
-- session is past its absolute deadline); -1 too many fields, -2 too
-- large (nothing written).
local key, mk = KEYS[1], KEYS[2]
local now = now_ms()
if ARGV[11] ~= '' then
  -- The marker of a put's key is a revocation that found the key before
  -- the put; it lives longer than a take may be old.
  if now - tonumber(ARGV[11]) > tonumber(ARGV[12]) or redis.call('EXISTS', mk) == 1 then
    return {0, 0, now}
  end
end
local m = {c = now, a = now + tonumber(ARGV[2]), i = now, s = now, r = ARGV[7], z = 0, n = 0,
  u = ARGV[5], w = ARGV[8], ua = ARGV[6]}
if ARGV[9] ~= '' then m.c = tonumber(ARGV[9]) end
if ARGV[10] ~= '' then m.a = tonumber(ARGV[10]) end
if now >= m.a then return {0, 0, now} end
local n = tonumber(ARGV[13])
local ok = delta(m, false, ARGV, 14, n, {}, tonumber(ARGV[3]), tonumber(ARGV[4]))
if ok ~= 1 then return {ok, 0, now} end
local i = slide(m, now, tonumber(ARGV[1]))
write(key, m, false, ARGV, 14, n)
expire(key, i)
return {1, i, now}
