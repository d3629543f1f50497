// Package redisstore is the Redis [session.Store]: every instance of an
// application behind a round-robin load balancer sees the same sessions at
// once. It works with a standalone Redis, a master watched by Sentinel and
// a Redis Cluster, through the rueidis client, and implements the optional
// [session.Counter], [session.UserIndex] and [session.Checker] too.
//
// # What it costs
//
// A session is one Redis hash, one field per value, whose key expires at
// the session's idle deadline (never after its absolute one): Redis itself
// deletes a session nobody uses, and never serves one past a deadline.
//
//	read (Load)       one HGETALL; a second call, the slide, about once per
//	                  touch throttle (Options.TouchThrottle, IdleTimeout/20
//	                  by default); with Options.ClientCache, nothing for an
//	                  unchanged session
//	write (Save)      one script call that sends only the changed fields;
//	                  +1 round trip to bind a user, 2 for a renewal
//	Incr, CAS         one script call, no load
//	Destroy           one script call, +1 to leave the user's index
//	forged cookie     nothing: the Manager rejects it before the store
//
// Every write is atomic in Redis: it checks that the session is live, by
// the Redis clock, and that the result stays within the Manager's limits
// (MaxSize, MaxFields) before it writes anything, so no interleaving of
// requests on any number of instances can pass them, and a write that
// arrives after a logout or a renewal brings nothing back. Two requests
// that change different values of one session both keep their change;
// two that change the same value: the last one wins.
//
// # Trade-offs
//
// Expiry precision. A read slides the idle deadline only when the last
// slide is at least the throttle T old, so a session dies between
// IdleTimeout-T and IdleTimeout after its last request (28.5 to 30 minutes
// for 30 by default), and LastSeen lags by up to T. This machine's clock,
// corrected by the Redis time that each write reports, decides only when
// a slide is due; whether a session is live is always Redis's decision.
// A negative TouchThrottle slides on every read (two round trips).
//
// Renewal in Cluster. The old and the new key are in different slots, so
// a renewal takes the old session (checked against the limits first, so
// a renewal too large keeps the old session) and then writes the new one:
// should Redis fail between the two round trips, the user logs in again.
// A request still carrying the old cookie finds no session.
//
// Failover. Redis replicates asynchronously: a logout or revoke that the
// master acknowledged is lost if the master fails before a replica
// received it (the replication lag: usually below a millisecond, more
// under load or a slow link), and the session comes back on the promoted
// replica. Options.WaitReplicas makes Destroy, a renewal's first step and
// DestroyUser wait for replicas (WAIT, or WAITAOF), at the cost of a
// dedicated connection and a round trip to the replicas per call, and
// turns a wait that times out into an error (the Manager's 503).
//
// Client-side cache (Options.ClientCache, Redis 6+ over RESP3). Reads of
// an unchanged session are answered in this process; Redis pushes an
// invalidation as soon as the session changes or goes, and a read first
// applies every invalidation that has reached this process. What remains:
// the microseconds between Redis answering a writer and writing the
// invalidation out (a request that overtakes them, on another instance,
// sees the old session); up to about Client.ConnWriteTimeout (10 s by
// default) of reads from a connection cut without a FIN, which Load
// bounds by the session's own deadlines; during a Sentinel failover, the
// replication lag plus the switch; and memory, up to
// Client.CacheSizeEachConn (128 MiB by default) per connection.
//
// Failure. Every call returns by its context's deadline (the Manager's
// StoreTimeout), whether Redis is stopped or hung, also under load.
// Errors come back as rueidis reports them (the Manager wraps them in
// session.ErrStoreUnavailable and answers 503), never with a session's
// key or values in their text. Calls that can safely run twice are retried
// within their deadline when the connection broke under them, as it does
// after a Redis restart. The client reconnects by itself.
//
// # Configuration
//
// [NewFromURL] takes the URLs that [ParseURL] documents:
//
//	redis://[user:password@]host[:port][/db]                     standalone
//	rediss://...                                                  TLS
//	redis-sentinel://[user:password@]host:port[,host:port...]/master[/db]
//	redis-cluster://[user:password@]host:port[,host:port...]
//
// [New] takes a rueidis.ClientOption in Options.Client for anything else.
// The store needs Redis 5 or later (Redis 7 for the client-side cache's
// tests here), and uses its keys under Options.Prefix only: a session at
// Prefix+"{"+key+"}" and a user's index at Prefix+"user:{"+user+"}". It
// never uses KEYS or iterates the keyspace.
package redisstore
