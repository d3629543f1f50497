-- update.lua: one atomic change of a live session (with no change, the
-- slide of a read).
--
-- KEYS[1]  the session hash
-- ARGV[1]  idle timeout, ms
-- ARGV[2]  max size (0 = no limit)
-- ARGV[3]  max fields (0 = no limit)
-- ARGV[4]  the caller's estimate of the Redis clock, ms ("" = slide)
-- ARGV[5]  touch throttle, ms
-- ARGV[6]  "" for a change of values only; otherwise FLAGS,ABSOLUTE,USER
--          where FLAGS holds c (drop every value first), b (bind USER, ""
--          = anonymous) and l (login: the login time becomes now, the
--          absolute deadline now + ABSOLUTE ms)
-- ARGV[7]  n, the number of values to set
-- ARGV[8..7+2n]  n name/value pairs
-- ARGV[8+2n..]   names to delete
--
-- Reply, always {code, previous user, last slide, now, idle deadline}:
-- code 1 written; 0 no live session; -1 too many fields, -2 too large
-- (nothing written). The previous user is given with b only; now and the
-- idle deadline when the write slid, else 0.
local key = KEYS[1]
local n = tonumber(ARGV[7])
-- The common write, one value set and nothing else: the same steps as
-- below, without the tables that a change of many values needs.
if n == 1 and #ARGV == 9 and ARGV[6] == '' and ARGV[4] ~= '' then
  local name, v = ARGV[8], ARGV[9]
  local h = redis.call('HMGET', key, '', name)
  local m = meta(h[1])
  if not m then return {0, '', 0, 0, 0} end
  resize(m, name, h[2], v)
  local ok = within(m, tonumber(ARGV[2]), tonumber(ARGV[3]))
  if ok ~= 1 then return {ok, '', 0, 0, 0} end
  local now, i = 0, nil
  if due(m, tonumber(ARGV[4]), tonumber(ARGV[5])) then
    now = now_ms()
    i = slide(m, now, tonumber(ARGV[1]))
  end
  redis.call('HSET', key, '', pack(m), name, v)
  if i then expire(key, i) end
  return {1, '', m.s, now, i or 0}
end
local m, cur = touched(key, ARGV, 8, n)
if not m then return {0, '', 0, 0, 0} end
local clear, bind, login, absolute, user = false, false, false, 0, ''
if ARGV[6] ~= '' then
  local f, a, u = string.match(ARGV[6], '^(%a*),(%d+),(.*)$')
  clear, bind, login = string.find(f, 'c', 1, true), string.find(f, 'b', 1, true), string.find(f, 'l', 1, true)
  absolute, user = tonumber(a), u
end
local prev = ''
if bind then prev = full(m).u end
local ok = delta(m, clear, ARGV, 8, n, cur, tonumber(ARGV[2]), tonumber(ARGV[3]))
if ok ~= 1 then return {ok, prev, 0, 0, 0} end
if bind then m.u = user end
local now, i = 0, nil
if login or ARGV[4] == '' or due(m, tonumber(ARGV[4]), tonumber(ARGV[5])) then
  now = now_ms()
  if login then
    full(m)
    m.c, m.a = now, now + absolute
  end
  i = slide(m, now, tonumber(ARGV[1]))
end
write(key, m, clear, ARGV, 8, n)
if i then expire(key, i) end
return {1, prev, m.s, now, i or 0}
