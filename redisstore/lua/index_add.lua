-- index_add.lua: adds a session to its user's index.
--
-- KEYS[1]  the user's index (a sorted set)
-- ARGV[1]  the session's key (the member)
-- ARGV[2]  ms the index must live at least (the session's absolute timeout)
-- ARGV[3]  the score: the caller's estimate of the Redis clock, ms
--
-- Reply: 1.
index_add(KEYS[1], ARGV[1], ARGV[3], tonumber(ARGV[2]))
return 1
