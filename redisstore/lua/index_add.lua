-- index_add.lua: adds a session to its user's index.
--
-- KEYS[1]  the user's index (a sorted set)
-- ARGV[1]  the session's key (the member)
-- ARGV[2]  ms the index must live at least (the session's absolute timeout)
--
-- Reply: an integer, the index's size. The member is scored by the time
-- now (Redis clock, ms), so that prune.lua can tell a young entry.
local k = KEYS[1]
redis.call('ZADD', k, fmt(now_ms()), ARGV[1])
local want = tonumber(ARGV[2])
if redis.call('PTTL', k) < want then redis.call('PEXPIRE', k, fmt(want)) end
return redis.call('ZCARD', k)
