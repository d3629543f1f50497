-- cas.lua: sets one value of a live session only if it holds exactly the
-- old value now.
--
-- KEYS[1]  the session hash
-- ARGV[1]  idle timeout, ms
-- ARGV[2]  the field
-- ARGV[3]  "1": compare with ARGV[4]; otherwise swap only if absent
-- ARGV[4]  old value
-- ARGV[5]  new value
-- ARGV[6]  max size (0 = no limit)
-- ARGV[7]  max fields (0 = no limit)
-- ARGV[8]  the caller's estimate of the Redis clock, ms
-- ARGV[9]  touch throttle, ms
--
-- Reply, always {code, now}: code 1 swapped, 2 not swapped (the value
-- differs), 0 no live session, -1 too many fields, -2 too large (nothing
-- written). now is the Redis time when the call slid, else 0.
local key, field = KEYS[1], ARGV[2]
local h = redis.call('HMGET', key, '', field)
local m = meta(h[1])
if not m then return {0, 0} end
local code = 2
local match
if ARGV[3] == '1' then match = h[2] == ARGV[4] else match = not h[2] end
if match then
  resize(m, field, h[2], ARGV[5])
  code = within(m, tonumber(ARGV[6]), tonumber(ARGV[7]))
end
if code == -1 or code == -2 then return {code, 0} end
local now, i = 0, nil
if due(m, tonumber(ARGV[8]), tonumber(ARGV[9])) then
  now = now_ms()
  i = slide(m, now, tonumber(ARGV[1]))
end
if code == 1 then
  redis.call('HSET', key, field, ARGV[5], '', pack(m))
elseif i then
  redis.call('HSET', key, '', pack(m))
end
if i then expire(key, i) end
return {code, now}
