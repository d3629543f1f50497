-- incr.lua: adds to one integer value of a live session, in place.
--
-- KEYS[1]  the session hash
-- ARGV[1]  idle timeout, ms (the write slides the idle deadline)
-- ARGV[2]  the field ("v:"..name)
-- ARGV[3]  the increment
-- ARGV[4]  max size (0 = no limit)
-- ARGV[5]  max fields (0 = no limit)
--
-- Reply, always {code, value}, value a string: code 1 done, value the new
-- integer in decimal (read back as stored: a Lua number would round past
-- 2^53); 0 no live session; -1 too many fields, -2 too large, -3 not an
-- integer (or overflow), value Redis's message: nothing written. Any
-- other refusal of the write (OOM, NOREPLICAS) is the script's error.
local key, field = KEYS[1], ARGV[2]
local now = now_ms()
local a = live(key, now)
if not a then return {0, ''} end
local old = redis.call('HGET', key, field)
local v = redis.pcall('HINCRBY', key, field, ARGV[3])
if type(v) == 'table' and v.err then
  if string.find(v.err, 'not an integer', 1, true) or string.find(v.err, 'overflow', 1, true) then
    return {-3, v.err}
  end
  return v -- OOM, NOREPLICAS...: Redis refused the write, an error of the store
end
v = redis.call('HGET', key, field)
local max_size, max_fields = tonumber(ARGV[4]), tonumber(ARGV[5])
-- Only a new field or a longer number can pass a limit.
if (max_size > 0 or max_fields > 0) and (not old or #v > #old) then
  local size, count = usage(key)
  local code = 1
  if max_fields > 0 and count > max_fields then code = -1
  elseif max_size > 0 and size > max_size then code = -2 end
  if code ~= 1 then
    if old then redis.call('HSET', key, field, old) else redis.call('HDEL', key, field) end
    return {code, ''}
  end
end
slide(key, now, a, tonumber(ARGV[1]))
return {1, v}
