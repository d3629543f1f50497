-- take.lua: the first half of a renewal in Cluster, where the old and the
-- new key are on different servers: checks that the session, with the
-- renewal's change applied, fits the limits, and only then returns it
-- whole and deletes it, leaving a marker that points to the new key (a
-- revocation of the old key follows it). create.lua puts it under the
-- new key.
--
-- KEYS[1]  the session hash
-- KEYS[2]  its marker
-- ARGV[1]  max size (0 = no limit)
-- ARGV[2]  max fields (0 = no limit)
-- ARGV[3]  "1": the change drops every value first
-- ARGV[4]  "1": the change binds a user; else ARGV[5] must be the
--          session's user
-- ARGV[5]  the session's user as the caller believes it
-- ARGV[6]  the new key (as the index holds it)
-- ARGV[7]  how long the marker lives, ms
-- ARGV[8]  n, the number of values the change sets
-- ARGV[9..8+2n]  n name/value pairs
-- ARGV[9+2n..]   names the change deletes
--
-- Reply: {1, now, metadata, name, value, ...} taken (now: Redis time,
-- ms; the values as HGETALL has them); {0} no live session; {-1} too many
-- fields, {-2} too large; {-5, user} the session's user is another
-- (nothing taken).
local key = KEYS[1]
local h = redis.call('HGETALL', key)
local cur, ms = {}, false
for j = 1, #h, 2 do
  if h[j] == '' then ms = h[j + 1] else cur[h[j]] = h[j + 1] end
end
local m = meta(ms)
if not m then return {0} end
full(m)
if ARGV[4] ~= '1' and m.u ~= ARGV[5] then return {-5, m.u} end
local n = tonumber(ARGV[8])
local ok = delta(m, ARGV[3] == '1', ARGV, 9, n, cur, tonumber(ARGV[1]), tonumber(ARGV[2]))
if ok ~= 1 then return {ok} end
redis.call('DEL', key)
redis.call('SET', KEYS[2], 'm:' .. ARGV[6], 'PX', ARGV[7])
local out = {1, now_ms(), ms}
for j = 1, #h, 2 do
  if h[j] ~= '' then
    out[#out + 1] = h[j]
    out[#out + 1] = h[j + 1]
  end
end
return out
