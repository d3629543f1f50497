-- destroy.lua: deletes a session, or, given a user, only if it is bound
-- to that user (DestroyUser: an index entry may be stale).
--
-- KEYS[1]  the session hash
-- ARGV[1]  user (optional)
--
-- Reply, always {code, user}: code 1 deleted a live session, 2 deleted one
-- past a deadline, 0 deleted nothing; user is the session's user.
local key = KEYS[1]
local m = redis.call('HMGET', key, '_u', '_a', '_i')
if not m[2] then return {0, ''} end
if ARGV[1] and m[1] ~= ARGV[1] then return {0, m[1] or ''} end
local now = now_ms()
local code = 2
if now < tonumber(m[2]) and now < tonumber(m[3]) then code = 1 end
redis.call('DEL', key)
return {code, m[1] or ''}
