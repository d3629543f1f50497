// Package redisstore is the Redis [session.Store]: every instance of an
// application behind a round-robin load balancer sees the same sessions at
// once. It works with a standalone Redis, a master watched by Sentinel and
// a Redis Cluster, through the rueidis client (auto-pipelining: concurrent
// calls share connections and round trips).
//
// # Layout
//
// A session is one Redis hash at Prefix+"{"+key+"}", where key is the
// hash of the session token that the Manager passes (the store never sees
// a token). The braces make the key its own Cluster hash tag. Each session
// value is one hash field ("v:" + its name), so a write sends only the
// fields that changed (HSET/HDEL), and two instances that change different
// fields of one session at once both keep their change. Metadata lives in
// reserved fields: "_c" created, "_a" absolute deadline, "_i" idle
// deadline, "_s" last slide, "_u" user, "_ua" user agent (times in Unix
// milliseconds of the Redis clock). The key's expiry is always the idle
// deadline, which is never after the absolute one, so Redis itself drops
// a session that nobody uses and no TTL outlives the absolute lifetime.
//
// A user's sessions are indexed in a sorted set at Prefix+"user:{"+user+"}"
// (its own slot), scored by the time each joined. The index is written by
// separate commands pipelined with the session's own (one round trip);
// entries of sessions that expired or were destroyed are pruned lazily by
// UserSessions, DestroyUser and the MaxSessionsPerUser eviction, once
// they are a minute old (in Cluster an entry may land before its
// session).
//
// # Round trips and atomicity
//
// Every operation on a session is one Lua script, sent once per server
// (SCRIPT LOAD at start-up, EVAL after a NOSCRIPT) and called by SHA-1
// (EVALSHA). Each checks, with the Redis clock (TIME), that the session
// exists and neither deadline has passed before it writes anything, so a
// write that arrives after a logout, a renewal or an expiry writes nothing
// and brings nothing back.
//
//	Load            1 round trip: EVALSHA (TIME, HGETALL, deadline check;
//	                HSET+PEXPIREAT only when the touch throttle allows);
//	                with ClientCache, none for an unchanged session
//	                (1 to refill: EVALSHA_RO of a read-only script, PTTL)
//	Update          1: EVALSHA (check, HDEL, HSET of the delta, slide);
//	                +1 when the user changes (index move)
//	Create          1: EVALSHA, pipelined with the index update when bound
//	Incr, CAS       1: EVALSHA (HINCRBY, or HGET+HSET, atomically)
//	Destroy         1, +1 to leave the user's index
//	Renew           2: take (HGETALL+DEL) the old key, then create the new
//	                one and move the index entry in one pipeline
//	UserSessions    2: ZRANGE, then one pipeline of read-only scripts
//	DestroyUser     3: ZRANGE, one pipeline of deletes, ZREM
//
// A cookie that fails its signature check costs no Redis command at all:
// the Manager rejects it before calling the store.
//
// # Expiry precision
//
// Both deadlines are checked on every call against the Redis clock, to the
// millisecond. Load slides the idle deadline only when the last slide is
// at least T old, where T is Options.TouchThrottle, by default
// IdleTimeout/20 (DefaultTouchFraction) and never more than IdleTimeout/4.
// So most reads run only TIME and HGETALL in their script and write
// nothing; a session dies between IdleTimeout-T and IdleTimeout after its
// last request (by default between 95% and 100% of the idle timeout:
// 28.5 to 30 minutes for 30), and record LastSeen times lag by up to T.
// Writes always slide. A negative TouchThrottle slides on every Load, for
// expiry exact to the millisecond at the cost of a write per read.
//
// # Client-side cache
//
// With Options.ClientCache (Redis 7 or later), Load reads the session
// through rueidis's client-side cache (RESP3 client tracking, opt-in: each
// miss sends CLIENT CACHING YES, then MULTI, PTTL, EVALSHA_RO of a
// read-only script that returns the hash as the Load script does, EXEC,
// in one round trip; Redis tracks the keys that read-only scripts read).
// Redis remembers which connection read which key and pushes
// an invalidation to it when the key changes or goes (a write, a slide, a
// destroy, a renewal, an expiry); rueidis then drops the entry. A read of
// an unchanged session sends no command at all. Writes, Incr,
// CompareAndSwap, Renew, Destroy and the user index work as before; the
// scripts decide, against the Redis clock, so a cached read can never
// bring back a destroyed session: the destroy deleted the key, which
// invalidated it everywhere.
//
// Sliding. A cached read cannot write, so it slides through the Load
// script when the last slide is at least the touch throttle T old, judged
// on the Redis clock, estimated as the key's expiry (its idle deadline)
// less the time the cache entry has left (rueidis starts an entry at the
// key's PTTL when the reply comes, and counts it down on this machine's
// clock). Skew between this machine's clock and Redis's therefore does
// not matter: expiry has the precision it has without the cache
// (between IdleTimeout-T and IdleTimeout after the last request) to
// within a round trip, and no entry outlives its key. A step of this
// machine's wall clock while entries are cached (NTP) shifts their end by
// the step: a step back by d can serve an idle-expired session up to d
// late, until Redis's own expiry deletes the key and invalidates it
// (never after a logout, which invalidates at once). Each slide
// invalidates the session in every process, which each refill once: per
// session and instance, about one script and one HGETALL every T, so keep
// T large; the default, IdleTimeout/20, is (90 s for 30 minutes).
//
// Seeing changes at once. Redis writes the invalidation to every other
// process in the event-loop pass in which it answers the writer, just
// after that answer. rueidis reads it on a goroutine of its own, tens of
// microseconds later; so, before answering from the cache, a read makes
// sure that rueidis has handled every byte that had reached any of the
// store's connections (the store dials them itself and counts what
// rueidis has read against what waits in the kernel: one system call per
// connection, no command sent; see watch.go). What remains is the
// microseconds between Redis's answer to the writer and its write of the
// invalidation: a request that reaches another instance within that
// time of the writer's answer leaving Redis can still be answered from
// the old entry. A user's next request goes from the answer through the
// network and nginx, which takes far longer. Outside Linux the store does
// not watch its connections, and the window is rueidis's (tens of
// microseconds); with a Client.DialCtxFn that returns something other than
// a socket, reads go through the script whenever a connection cannot be
// watched (correct, but the cache then saves nothing).
//
// Reconnects. Invalidations for a connection that breaks are lost, so
// rueidis drops a connection's cache with the connection (pipe.go: the
// pipe's cache is closed when its reader ends; a new connection starts
// empty). The store adds: a read goes through the script while an end of
// file waits unread on a connection, for a second after any of its
// connections closed (rueidis stops routing calls to the old connection
// just after closing it), and when a connection closed during its lookup.
// A connection cut silently (no FIN, no RST) receives nothing and is not
// known to be dead until rueidis's keepalive PING goes unanswered: up to
// about Client.ConnWriteTimeout (10 s by default) of cached reads that may
// miss changes made meanwhile by other instances.
//
// Memory. Each cached session costs about its reply (its values with
// their names, and six metadata entries) plus twice its key length and the
// script's SHA-1, and a few hundred bytes of rueidis's bookkeeping, in the
// cache of the connection that read it; each connection's
// cache is bounded by Client.CacheSizeEachConn (128 MiB by default, least
// recently used first out). Redis keeps one tracking entry per cached key
// (its tracking-table-max-keys bounds them, by invalidating the oldest).
//
// Topologies. Standalone, Cluster (each node tracks the keys of its
// slots) and Sentinel pass the conformance suite with the cache on, and
// tests show two instances seeing each other's changes on standalone and
// Cluster. During a Sentinel failover, an instance still connected to the
// old master sees a change once it has been replicated there (a replica
// invalidates what its clients read as it applies the master's writes),
// or once rueidis has moved to the new master (new connections, empty
// cache): the window is the replication lag plus the switch.
//
// # Renewal in Cluster
//
// The old and the new key of a renewal hash to different slots, so the
// store does not RENAME: one script takes the old session (HGETALL and DEL
// in one step: the old key is dead for reads and writes from then on) and
// one pipeline writes the new one. A request still in flight with the old
// cookie finds no session (a fresh anonymous one, never an error). Should
// Redis fail between the two steps, the session is lost and the user logs
// in again.
//
// # Failure
//
// Every call returns by its context's deadline (the Manager's
// StoreTimeout), whether Redis refuses connections (stopped) or accepts
// them and never answers (hung, SIGSTOP), also under load: once a call has
// timed out, the store runs calls so that they can be left at their
// deadline even when rueidis's per-connection queues are full of
// abandoned calls (which rueidis alone would hold until ConnWriteTimeout,
// 10 s). Errors wrap session.ErrStoreUnavailable, so the middleware
// answers 503 with Retry-After, and never show Redis's reply text to a
// client. The client reconnects by itself when Redis comes back; nothing
// needs a restart. Calls that can safely run twice (Load, Create, Update,
// Destroy and the index upkeep) are retried within their deadline when
// the connection broke under them, as it does once per pooled connection
// after a Redis restart; Incr, CompareAndSwap and the first step of Renew
// are not, and fail once instead.
//
// # Configuration
//
// [NewFromURL] takes the URLs that [ParseURL] documents; the demo's -redis
// flag passes its value to it:
//
//	redis://[user:password@]host[:port][/db]                     standalone
//	rediss://...                                                  TLS
//	redis-sentinel://[user:password@]host:port[,host:port...]/master[/db]
//	redis-cluster://[user:password@]host:port[,host:port...]
//
// [New] takes a rueidis.ClientOption in Options.Client for anything else.
//
// The store never uses KEYS or iterates the keyspace.
package redisstore
