-- prelude.lua: helpers that the store prepends to every script that
-- reads the clock or writes a session (not a script on its own).
--
-- Session hash fields: _c login time, _a absolute deadline, _i idle
-- deadline (never after _a, and always the key's PEXPIREAT), _s last
-- slide, _u user, _ua user agent, _r "1" for a remembered (persistent)
-- cookie (times in Unix ms of the Redis clock), and "v:"..name for each
-- value.

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function fmt(n) return string.format('%d', n) end

local function is_value(f)
  return string.byte(f, 1) == 118 and string.byte(f, 2) == 58 -- 'v:'
end

-- live returns the absolute and idle deadlines of the session at key, or
-- nil when there is none or it is past a deadline by the Redis clock (then
-- it is deleted: Redis's own expiry normally did that already).
local function live(key, now)
  local m = redis.call('HMGET', key, '_a', '_i')
  local a, i = tonumber(m[1]), tonumber(m[2])
  if not a or not i then return nil end
  if now >= a or now >= i then
    redis.call('DEL', key)
    return nil
  end
  return a, i
end

-- slide moves the idle deadline to now+idle, never past a, with the key's
-- expiry, and returns it.
local function slide(key, now, a, idle)
  local i = math.min(now + idle, a)
  redis.call('HSET', key, '_i', fmt(i), '_s', fmt(now))
  redis.call('PEXPIREAT', key, fmt(i))
  return i
end

-- hset and hdel apply args[first..last] in chunks, so that no call
-- unpacks more than the Lua stack holds.
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

-- clear_values deletes every value of the session at key.
local function clear_values(key)
  local names = {}
  for _, f in ipairs(redis.call('HKEYS', key)) do
    if is_value(f) then names[#names + 1] = f end
  end
  if #names > 0 then hdel(key, names, 1, #names) end
end

-- sizes returns the size (bytes of the name without "v:", plus the
-- value) of each value in the flat hash h, by field name.
local function sizes(h)
  local cur = {}
  for j = 1, #h, 2 do
    if is_value(h[j]) then cur[h[j]] = #h[j] - 2 + #h[j + 1] end
  end
  return cur
end

-- within checks the limits on the values a session would hold after a
-- delta, given cur, the sizes of its values now (see sizes; the table is
-- changed): delete the names args[first+2n..#args], then set the n
-- name/value pairs at args[first..]. The size is the session package's
-- measure: bytes of each name (without "v:") plus its value. Returns 1,
-- or -1 (too many fields) or -2 (too large).
local function within(cur, args, first, n, max_size, max_fields)
  local d = first + 2 * n
  for j = d, #args do cur[args[j]] = nil end
  for j = first, d - 1, 2 do cur[args[j]] = #args[j] - 2 + #args[j + 1] end
  local size, count = 0, 0
  for _, v in pairs(cur) do
    size = size + v
    count = count + 1
  end
  if max_fields > 0 and count > max_fields then return -1 end
  if max_size > 0 and size > max_size then return -2 end
  return 1
end

-- fits is within for the session at key (all of its values dropped first
-- when clear). Only a delta that sets something can grow a session, so
-- the others skip the count.
local function fits(key, clear, args, first, n, max_size, max_fields)
  if n == 0 or (max_size == 0 and max_fields == 0) then return 1 end
  local cur = {}
  if not clear then cur = sizes(redis.call('HGETALL', key)) end
  return within(cur, args, first, n, max_size, max_fields)
end

-- usage returns the size and number of the values of the session at key.
local function usage(key)
  local h = redis.call('HGETALL', key)
  local size, count = 0, 0
  for j = 1, #h, 2 do
    if is_value(h[j]) then
      size = size + #h[j] - 2 + #h[j + 1]
      count = count + 1
    end
  end
  return size, count
end
