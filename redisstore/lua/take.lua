-- take.lua: the first half of a renewal: checks that the session, with
-- the renewal's change applied, fits the limits, and only then returns it
-- whole and deletes it (from then on its key is dead for reads and
-- writes). A session that would not fit is left as it was.
--
-- KEYS[1]  the session hash
-- ARGV[1]  max size (0 = no limit)
-- ARGV[2]  max fields (0 = no limit)
-- ARGV[3]  "1": the change drops every value first
-- ARGV[4]  n, the number of values the change sets
-- ARGV[5..4+2n]  n name/value pairs ("v:"..name, value)
-- ARGV[5+2n..]   names the change deletes ("v:"..name)
--
-- Reply, always {code, name, value, ...}: code 1 taken, followed by the
-- whole hash as HGETALL returns it; 0 no live session; -1 too many
-- fields, -2 too large (nothing taken). Only code 1 has pairs.
local key = KEYS[1]
if not live(key, now_ms()) then return {0} end
local ok = fits(key, ARGV[3] == '1', ARGV, 5, tonumber(ARGV[4]), tonumber(ARGV[1]), tonumber(ARGV[2]))
if ok ~= 1 then return {ok} end
local h = redis.call('HGETALL', key)
redis.call('DEL', key)
table.insert(h, 1, 1)
return h
