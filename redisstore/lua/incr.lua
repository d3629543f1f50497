-- incr.lua: adds to one integer value of a live session, in place.
--
-- KEYS[1]  the session hash
-- ARGV[1]  idle timeout, ms
-- ARGV[2]  the field
-- ARGV[3]  the increment
-- ARGV[4]  max size (0 = no limit)
-- ARGV[5]  max fields (0 = no limit)
-- ARGV[6]  the caller's estimate of the Redis clock, ms
-- ARGV[7]  touch throttle, ms
--
-- Reply, always {code, value, now}: code 1 done, value the new integer in
-- decimal, as stored; 0 no live session; -1 too many fields, -2 too
-- large, -3 not an integer (or overflow), value Redis's message: nothing
-- written. Any other refusal of the write (OOM, NOREPLICAS) is the
-- script's error. now is the Redis time when the call slid, else 0.
local key, field = KEYS[1], ARGV[2]
local h = redis.call('HMGET', key, '', field)
local m = meta(h[1])
if not m then return {0, '', 0} end
local v = redis.pcall('HINCRBY', key, field, ARGV[3])
if type(v) == 'table' and v.err then
  if string.find(v.err, 'not an integer', 1, true) or string.find(v.err, 'overflow', 1, true) then
    return {-3, v.err, 0}
  end
  return v
end
-- A Lua number is exact below 2^53; past it, read the value as stored.
if math.abs(v) < 2^53 then v = fmt(v) else v = redis.call('HGET', key, field) end
local size, count = m.z, m.n
resize(m, field, h[2], v)
local ok = within(m, tonumber(ARGV[4]), tonumber(ARGV[5]))
if ok ~= 1 then
  if h[2] then redis.call('HSET', key, field, h[2]) else redis.call('HDEL', key, field) end
  return {ok, '', 0}
end
local now = 0
if due(m, tonumber(ARGV[6]), tonumber(ARGV[7])) then
  now = now_ms()
  expire(key, slide(m, now, tonumber(ARGV[1])))
end
if now > 0 or m.z ~= size or m.n ~= count then redis.call('HSET', key, '', pack(m)) end
return {1, v, now}
