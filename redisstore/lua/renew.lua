-- renew.lua: a renewal in one step, where every key is on one server
-- (standalone and Sentinel): the live session moves to a new key with a
-- change applied, its old key dies for reads and writes and points to the
-- new one (so that a revocation of the old key follows it), and the user
-- index follows.
--
-- KEYS[1]  the old session hash
-- KEYS[2]  its marker
-- KEYS[3]  the new session hash (a fresh key)
-- KEYS[4]  the index of the session's user as the caller believes it
--          (Prefix.."user:{}" for none)
-- KEYS[5]  the index of the user after the renewal (the same, or the
--          user bound)
-- ARGV[1]  idle timeout, ms
-- ARGV[2]  absolute timeout, ms
-- ARGV[3]  max size (0 = no limit)
-- ARGV[4]  max fields (0 = no limit)
-- ARGV[5]  "1": drop every value first
-- ARGV[6]  "1": bind the user ARGV[7]
-- ARGV[7]  user ("" = anonymous)
-- ARGV[8]  user agent
-- ARGV[9]  "1": login (see update.lua)
-- ARGV[10] "1": remembered cookie, else "0"
-- ARGV[11] the wrapped value key under the new token ("" = none)
-- ARGV[12] how long the old key's marker lives, ms
-- ARGV[13] the old key, ARGV[14] the new key (as the index holds them)
-- ARGV[15] the key prefix
-- ARGV[16] n, the number of values to set
-- ARGV[17..16+2n]  n name/value pairs
-- ARGV[17+2n..]    names to delete
--
-- Reply, always {code, previous user, idle deadline, now}: code 1 renewed;
-- 0 no live session; -1 too many fields, -2 too large (nothing written);
-- -5 the session's user is the previous user, whose index KEYS[4] is not:
-- call again with it (nothing written).
local old, new = KEYS[1], KEYS[3]
local n = tonumber(ARGV[16])
local m, cur = touched(old, ARGV, 17, n)
if not m then return {0, '', 0, 0} end
local prev = full(m).u
if prev ~= '' and KEYS[4] ~= ARGV[15] .. 'user:{' .. prev .. '}' then return {-5, prev, 0, 0} end
local clear = ARGV[5] == '1'
local ok = delta(m, clear, ARGV, 17, n, cur, tonumber(ARGV[3]), tonumber(ARGV[4]))
if ok ~= 1 then return {ok, prev, 0, 0} end
local now = now_ms()
if ARGV[6] == '1' then m.u = ARGV[7] end
if ARGV[9] == '1' then m.c, m.a = now, now + tonumber(ARGV[2]) end
if now >= m.a then return {0, '', 0, now} end
m.ua, m.r, m.w = ARGV[8], ARGV[10], ARGV[11]
local i = slide(m, now, tonumber(ARGV[1]))
write(old, m, clear, ARGV, 17, n)
redis.call('RENAME', old, new)
expire(new, i)
redis.call('SET', KEYS[2], 'm:' .. ARGV[14], 'PX', ARGV[12])
if prev ~= '' then redis.call('ZREM', KEYS[4], ARGV[13]) end
if m.u ~= '' then index_add(KEYS[5], ARGV[14], now, m.a - now) end
return {1, prev, i, now}
