-- prune.lua: removes entries of sessions found dead from a user's index,
-- but only those added more than a grace period ago: in Cluster the index
-- and the session are on different servers, so the entry of a session
-- being created may land before the session.
--
-- KEYS[1]  the user's index
-- ARGV[1]  grace, ms
-- ARGV[2..] members found dead
--
-- Reply: an integer, how many entries it removed.
local k = KEYS[1]
local limit = now_ms() - tonumber(ARGV[1])
local n = 0
for j = 2, #ARGV do
  local s = redis.call('ZSCORE', k, ARGV[j])
  if s and tonumber(s) < limit then
    n = n + redis.call('ZREM', k, ARGV[j])
  end
end
return n
