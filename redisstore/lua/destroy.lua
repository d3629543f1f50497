-- destroy.lua: ends the session at a key, leaving a marker there that
-- refuses a renewal's put still on its way to the key. A key that a
-- renewal moved is followed: here, from marker to marker, when every key
-- is on this server (standalone and Sentinel: a renewal there is one
-- script, so the chain cannot move while this one runs); in Cluster the
-- caller follows the key this script answers.
--
-- KEYS[1]  the session hash
-- KEYS[2]  its marker
-- ARGV[1]  how long the marker lives, ms
-- ARGV[2]  user: only a session bound to this user ("" = any)
-- ARGV[3]  the key prefix, to follow moved keys here ("" = answer them)
-- ARGV[4]  a key not to follow to ("" = none)
--
-- Reply, always {code, text}: 1 destroyed a session of user text; 2 the
-- session moved to the key text; 0 nothing to destroy (text: the user of
-- a live session bound to another user, else "").
local key, mk = KEYS[1], KEYS[2]
for _ = 1, 100 do
  local m = meta(redis.call('HGET', key, ''))
  if m then
    full(m)
    if ARGV[2] ~= '' and m.u ~= ARGV[2] then return {0, m.u} end
    redis.call('DEL', key)
    redis.call('SET', mk, 'r', 'PX', ARGV[1])
    return {1, m.u}
  end
  local v = redis.call('GET', mk)
  if not v or string.sub(v, 1, 2) ~= 'm:' then
    if ARGV[2] == '' then redis.call('DEL', key) end -- a hash of an unknown layout version
    -- At maxmemory Redis refuses this first write: the marker only
    -- matters to a renewal racing the call, which must not fail for it.
    if not v then redis.pcall('SET', mk, 'r', 'PX', ARGV[1]) end
    return {0, ''}
  end
  if ARGV[3] == '' or string.sub(v, 3) == ARGV[4] then return {2, string.sub(v, 3)} end
  key = ARGV[3] .. '{' .. string.sub(v, 3) .. '}'
  mk = key .. '~'
end
return redis.error_reply('destroy: more than 100 renewals to follow')
