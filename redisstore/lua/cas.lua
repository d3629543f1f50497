-- cas.lua: sets one value of a live session only if it holds exactly the
-- old value now.
--
-- KEYS[1]  the session hash
-- ARGV[1]  idle timeout, ms (slides whether or not the swap happens)
-- ARGV[2]  the field ("v:"..name)
-- ARGV[3]  "1": compare with ARGV[4]; otherwise swap only if absent
-- ARGV[4]  old value
-- ARGV[5]  new value
-- ARGV[6]  max size (0 = no limit)
-- ARGV[7]  max fields (0 = no limit)
--
-- Reply, an integer: 1 swapped, 2 not swapped (the value differs), 0 no
-- live session, -1 too many fields, -2 too large (nothing written).
local key, field = KEYS[1], ARGV[2]
local now = now_ms()
local a = live(key, now)
if not a then return 0 end
local cur = redis.call('HGET', key, field)
local ok
if ARGV[3] == '1' then ok = (cur == ARGV[4]) else ok = (cur == false) end
local code = 2
if ok then
  code = fits(key, false, {field, ARGV[5]}, 1, 1, tonumber(ARGV[6]), tonumber(ARGV[7]))
  if code == 1 then redis.call('HSET', key, field, ARGV[5]) end
end
slide(key, now, a, tonumber(ARGV[1]))
return code
