-- update.lua: one atomic change of a live session (with no change, the
-- slide of a read).
--
-- KEYS[1]  the session hash
-- ARGV[1]  idle timeout, ms
-- ARGV[2]  absolute timeout, ms (a login)
-- ARGV[3]  max size (0 = no limit)
-- ARGV[4]  max fields (0 = no limit)
-- ARGV[5]  "1": drop every value first
-- ARGV[6]  "1": bind the user ARGV[7]
-- ARGV[7]  user ("" = anonymous)
-- ARGV[8]  "1": login: the login time becomes now, the absolute deadline
--          now + ARGV[2]
-- ARGV[9]  the caller's estimate of the Redis clock, ms ("" = slide)
-- ARGV[10] touch throttle, ms
-- ARGV[11] n, the number of values to set
-- ARGV[12..11+2n]  n name/value pairs
-- ARGV[12+2n..]    names to delete
--
-- Reply, always {code, previous user, last slide, now, idle deadline}:
-- code 1 written; 0 no live session; -1 too many fields, -2 too large
-- (nothing written). now is the Redis time when the write slid, else 0.
local key = KEYS[1]
local n = tonumber(ARGV[11])
local m, cur = touched(key, ARGV, 12, n)
if not m then return {0, '', 0, 0, 0} end
local prev = m.u
local clear = ARGV[5] == '1'
local ok = delta(m, clear, ARGV, 12, n, cur, tonumber(ARGV[3]), tonumber(ARGV[4]))
if ok ~= 1 then return {ok, prev, 0, 0, 0} end
if ARGV[6] == '1' then m.u = ARGV[7] end
local now, i = 0, nil
if ARGV[8] == '1' or ARGV[9] == '' or due(m, tonumber(ARGV[9]), tonumber(ARGV[10])) then
  now = now_ms()
  if ARGV[8] == '1' then m.c, m.a = now, now + tonumber(ARGV[2]) end
  i = slide(m, now, tonumber(ARGV[1]))
end
write(key, m, clear, ARGV, 12, n)
if i then expire(key, i) end
return {1, prev, m.s, now, m.i}
