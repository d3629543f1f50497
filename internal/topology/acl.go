package topology

// The Redis users of the topology (issue 9: an authenticated Redis).
//
// The default user is off: a client that does not authenticate gets
// NOAUTH for everything, PING included. AdminUser has every right; the
// harness, the replicas (masteruser) and the Sentinels (auth-user,
// sentinel-user) use it. AppUser is what the instances connect as: it may
// touch only the store's keys (redisstore.DefaultPrefix) and run only the
// commands that redisstore and its client, rueidis, send.
const (
	AdminUser = "admin"
	AppUser   = "stickless"
)

// AppACL is the ACL rule of AppUser on the data servers (after "user
// stickless on >PASSWORD"). Kept in step with redisstore by hand: the
// commands below are, in order,
//   - what rueidis sends on each new connection: HELLO (with AUTH), PING,
//     CLIENT SETNAME/TRACKING/CACHING, SELECT,
//     and on Cluster CLUSTER SLOTS/SHARDS, READONLY, ASKING; on Sentinel,
//     ROLE on the master; MULTI/EXEC/DISCARD/PTTL around client-side
//     cached reads;
//   - what redisstore sends outside scripts: EVAL, EVALSHA, EVAL_RO,
//     EVALSHA_RO, SCRIPT LOAD, HGETALL, ZRANGE;
//   - what its Lua scripts call (ACL rules apply inside scripts too):
//     TIME, HGETALL, HGET, HMGET, HSET, HDEL, HINCRBY, DEL, EXISTS,
//     PEXPIREAT, PEXPIRE, PTTL, ZADD, ZCARD, ZSCORE, ZREM, ZRANGE
//     (grep "redis.p\?call('" redisstore to list them).
//
// Not listed: CLIENT SETINFO, which rueidis sends too but whose errors it
// ignores, and which Redis 7.0 does not know (an ACL rule naming it stops
// 7.0 at start-up).
//
// `resetchannels` leaves it no Pub/Sub channel (client-side caching uses
// RESP3 push messages, not a channel). A command the store starts to need
// fails with NOPERM on every call, which the e2e and soak runs of
// `make cluster` show at once.
const AppACL = "resetkeys ~stickless:* resetchannels -@all " +
	"+hello +auth +ping +select +role +readonly +asking +multi +exec +discard " +
	"+client|setname +client|tracking +client|caching " +
	"+cluster|slots +cluster|shards " +
	"+eval +evalsha +eval_ro +evalsha_ro +script|load " +
	"+time +hgetall +hget +hmget +hset +hdel +hincrby +del +exists +pexpireat +pexpire +pttl " +
	"+zadd +zcard +zscore +zrem +zrange"

// SentinelAppACL is AppUser's rule on the Sentinels: what rueidis asks them
// to find the master and follow a failover (SENTINEL GET-MASTER-ADDR-BY-NAME,
// SENTINELS, REPLICAS, and SUBSCRIBE to +switch-master and friends).
const SentinelAppACL = "resetkeys resetchannels &* -@all " +
	"+hello +auth +ping +client|setname +client|tracking " +
	"+sentinel|get-master-addr-by-name +sentinel|sentinels +sentinel|replicas +sentinel|slaves " +
	"+subscribe +unsubscribe +psubscribe +punsubscribe"
