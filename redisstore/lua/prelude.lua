-- prelude.lua: the helpers that the store puts before every script (not a
-- script of its own). The layout is internal/redislayout's: a session is a
-- hash with one field per value and its metadata in the field '' (which
-- meta and pack read and write), P{K}~ is its marker ('r' revoked, 'm:'..K2
-- moved by a renewal), and a user's index is a sorted set.
--
-- Liveness is the key's existence: its expiry is the idle deadline, never
-- after the absolute one, and Redis hides a key past its expiry from a
-- script. The scripts read the clock (TIME) only to slide, log in or
-- create; the caller's estimate of the Redis clock decides whether a slide
-- is due.

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function fmt(n) return string.format('%d', n) end

-- meta decodes the metadata field s (false when absent): nil for a missing
-- session or a layout version this script does not know. It decodes the
-- size, count and last slide (what most writes need) at once, and keeps
-- the rest encoded until full(m).
local function meta(s)
  if not s then return nil end
  local z, n, seen, p = string.match(s, '^1,(%d+),(%d+),(%d+),()')
  if not z then return nil end
  return {z = tonumber(z), n = tonumber(n), s = tonumber(seen), tail = string.sub(s, p)}
end

-- full decodes the rest of m, once: login time, absolute and idle
-- deadlines, remember flag, user (m.u), wrapped key (m.w), user agent.
local function full(m)
  if m.tail then
    local c, a, i, r, ul, wl, p = string.match(m.tail, '^(%d+),(%d+),(%d+),([01]),(%d+),(%d+),()')
    ul, wl = tonumber(ul), tonumber(wl)
    m.c, m.a, m.i, m.r = tonumber(c), tonumber(a), tonumber(i), r
    m.u = string.sub(m.tail, p, p + ul - 1)
    m.w = string.sub(m.tail, p + ul, p + ul + wl - 1)
    m.ua = string.sub(m.tail, p + ul + wl)
    m.tail = nil
  end
  return m
end

local function pack(m)
  local head = string.format('1,%d,%d,%d,', m.z, m.n, m.s)
  if m.tail then return head .. m.tail end
  return head .. string.format('%d,%d,%d,%s,%d,%d,', m.c, m.a, m.i, m.r, #m.u, #m.w) .. m.u .. m.w .. m.ua
end

-- resize accounts in m for one value going from old to new (false when
-- absent): the size of a value is the bytes of its name plus its own, as
-- session.Limits counts them.
local function resize(m, name, old, new)
  if old then m.z = m.z - #name - #old; m.n = m.n - 1 end
  if new then m.z = m.z + #name + #new; m.n = m.n + 1 end
end

-- within is the one limit rule of the scripts: 1 when m fits (0 = no
-- limit), -1 too many values, -2 too large.
local function within(m, max_size, max_fields)
  if max_fields > 0 and m.n > max_fields then return -1 end
  if max_size > 0 and m.z > max_size then return -2 end
  return 1
end

-- call runs a command on key with the list args[first..last], in chunks
-- that the Lua stack holds, and returns the replies joined (for HMGET).
local function call(cmd, key, args, first, last)
  if last - first < 400 then return redis.call(cmd, key, unpack(args, first, last)) end
  local out = {}
  local j = first
  while j <= last do
    local e = math.min(last, j + 399)
    local r = redis.call(cmd, key, unpack(args, j, e))
    if type(r) == 'table' then
      for _, v in ipairs(r) do out[#out + 1] = v end
    end
    j = e + 1
  end
  return out
end

-- touched reads, in one HMGET, the metadata of the session at key and the
-- values of the names that a change touches: n name/value pairs at
-- args[first..], then names to delete to the end. It returns the
-- metadata (nil: no live session) and cur, each touched name's value
-- (false when absent).
local function touched(key, args, first, n)
  local names = {''}
  for j = first, first + 2 * n - 1, 2 do names[#names + 1] = args[j] end
  for j = first + 2 * n, #args do names[#names + 1] = args[j] end
  local h = call('HMGET', key, names, 1, #names)
  local cur = {}
  for j = 2, #names do cur[names[j]] = h[j] end
  return meta(h[1]), cur
end

-- delta applies to m's accounting a change laid out as for touched, given
-- cur (which it updates): with clear every value is dropped first, then
-- the deletions, then the pairs. It returns within's code.
local function delta(m, clear, args, first, n, cur, max_size, max_fields)
  local d = first + 2 * n
  if clear then
    m.z, m.n = 0, 0
    for k in pairs(cur) do cur[k] = false end
  end
  for j = d, #args do
    resize(m, args[j], cur[args[j]], false)
    cur[args[j]] = false
  end
  for j = first, d - 1, 2 do
    resize(m, args[j], cur[args[j]], args[j + 1])
    cur[args[j]] = args[j + 1]
  end
  return within(m, max_size, max_fields)
end

-- write stores a change laid out as for touched in the hash at key, with
-- the metadata m: one HSET first (Redis refuses it at maxmemory before
-- anything is written), then the deletions; with clear, every value the
-- change does not set goes too.
local function write(key, m, clear, args, first, n)
  local d = first + 2 * n
  local set = {'', pack(m)}
  for j = first, d - 1 do set[#set + 1] = args[j] end
  call('HSET', key, set, 1, #set)
  if not clear and d > #args then return end
  local keep, del = {}, {}
  for j = first, d - 1, 2 do keep[args[j]] = true end
  if clear then
    for _, f in ipairs(redis.call('HKEYS', key)) do
      if f ~= '' and not keep[f] then del[#del + 1] = f end
    end
  else
    for j = d, #args do
      if not keep[args[j]] then del[#del + 1] = args[j] end
    end
  end
  if #del > 0 then call('HDEL', key, del, 1, #del) end
end

-- due reports whether a write slides the idle deadline: when the last
-- slide is at least throttle ms old by est, the caller's estimate of the
-- Redis clock, or when est is plainly wrong (before the last slide).
local function due(m, est, throttle)
  return est - m.s >= throttle or est < m.s - 1000
end

-- slide moves the idle deadline of m to now+idle, never past the
-- absolute deadline, and returns it: the caller writes m, then sets the
-- key's expiry to it (after the write: the first write of a script must
-- be one that Redis refuses at maxmemory).
local function slide(m, now, idle)
  full(m)
  m.s = now
  m.i = math.min(now + idle, m.a)
  return m.i
end

local function expire(key, at) redis.call('PEXPIREAT', key, fmt(at)) end

-- index_add adds member to the user index k, scored score, and makes the
-- index live at least keep ms.
local function index_add(k, member, score, keep)
  redis.call('ZADD', k, score, member)
  if redis.call('PTTL', k) < keep then redis.call('PEXPIRE', k, fmt(keep)) end
end
