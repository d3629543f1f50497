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
-- ARGV[13] "1": remember (create and put; ignored by update)
-- ARGV[14] n, the number of values to set
-- ARGV[15..14+2n]  n name/value pairs ("v:"..name, value)
-- ARGV[15+2n..]    names to delete ("v:"..name)
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
local n = tonumber(ARGV[14])
local first = 15
local d = first + 2 * n
local now = now_ms()

if mode == 'u' then
  -- One read: the whole hash when the limits need the values' sizes,
  -- otherwise the three fields this needs.
  local a, i, u, size, count
  local limited = n > 0 and (max_size > 0 or max_fields > 0)
  size, count = 0, 0
  if limited and not clear then
    local h = redis.call('HGETALL', key)
    for j = 1, #h, 2 do
      local f = h[j]
      if is_value(f) then
        size = size + #f + #h[j + 1]
        count = count + 1
      elseif f == '_a' then a = tonumber(h[j + 1])
      elseif f == '_i' then i = tonumber(h[j + 1])
      elseif f == '_u' then u = h[j + 1] end
    end
    size = size - 2 * count -- the "v:" of each name
  else
    local m = redis.call('HMGET', key, '_a', '_i', '_u')
    a, i, u = tonumber(m[1]), tonumber(m[2]), m[3]
  end
  if not a or not i then return {0, '', 0, now} end
  if now >= a or now >= i then
    redis.call('DEL', key)
    return {0, '', 0, now}
  end
  u = u or ''
  if limited then
    -- Adjust the totals by the delta, without a table of every value:
    -- the old size of each name deleted or replaced (HSTRLEN: values are
    -- JSON, never empty, so 0 means absent; each name counted once), then
    -- the new pairs.
    local gone = {}
    if not clear then
      for j = d, #ARGV do
        local l = 0
        if not gone[ARGV[j]] then l = redis.call('HSTRLEN', key, ARGV[j]) end
        if l > 0 then
          size = size - (#ARGV[j] - 2 + l)
          count = count - 1
        end
        gone[ARGV[j]] = true
      end
    end
    for j = first, d - 1, 2 do
      if not clear and not gone[ARGV[j]] then
        local l = redis.call('HSTRLEN', key, ARGV[j])
        if l > 0 then
          size = size - (#ARGV[j] - 2 + l)
          count = count - 1
        end
      end
      size = size + #ARGV[j] - 2 + #ARGV[j + 1]
      count = count + 1
    end
    if max_fields > 0 and count > max_fields then return {-1, u, i, now} end
    if max_size > 0 and size > max_size then return {-2, u, i, now} end
  end
  if clear then clear_values(key) end
  if d <= #ARGV then hdel(key, ARGV, d, #ARGV) end
  -- One HSET: the values, the metadata, and the slide.
  local set = {}
  for j = first, d - 1 do set[#set + 1] = ARGV[j] end
  if bind then
    set[#set + 1] = '_u'
    set[#set + 1] = ARGV[8]
  end
  if login then
    a = now + absolute
    set[#set + 1] = '_c'
    set[#set + 1] = fmt(now)
    set[#set + 1] = '_a'
    set[#set + 1] = fmt(a)
  end
  i = math.min(now + idle, a)
  set[#set + 1] = '_i'
  set[#set + 1] = fmt(i)
  set[#set + 1] = '_s'
  set[#set + 1] = fmt(now)
  hset(key, set, 1, #set)
  redis.call('PEXPIREAT', key, fmt(i))
  return {1, u, i, now}
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
-- Only when there is something to replace: the first write of a creation
-- must be HSET, which Redis refuses at maxmemory before anything is
-- written (a DEL is allowed there, and a script that has written once may
-- go on writing).
if redis.call('EXISTS', key) == 1 then redis.call('DEL', key) end
local i = math.min(now + idle, a)
local set = {'_c', fmt(c), '_a', fmt(a), '_i', fmt(i), '_s', fmt(now), '_u', ARGV[8], '_ua', ARGV[9], '_r', ARGV[13]}
for j = first, d - 1 do set[#set + 1] = ARGV[j] end
hset(key, set, 1, #set)
redis.call('PEXPIREAT', key, fmt(i))
return {1, '', i, now}
