// Package redisstore is the Redis [session.Store]: every instance of an
// application behind a round-robin load balancer sees the same sessions at
// once. It works with a standalone Redis, a master watched by Sentinel and
// a Redis Cluster, through the rueidis client, and implements the optional
// [session.Counter], [session.UserIndex] and [session.Checker] too.
//
// # What it costs
//
// A session is one Redis hash: its values under their own names, its
// metadata packed in one field, and the key's expiry at the idle deadline
// (never past the absolute one), so Redis drops a session nobody uses.
//
//	read (Load)       one HGETALL; about once per touch throttle
//	                  (IdleTimeout/20 by default) a second call slides the
//	                  idle deadline; with Options.ClientCache, nothing for
//	                  an unchanged session
//	write (Save)      one script call that sends only the changed values:
//	                  EVALSHA, HMGET and HSET inside Redis (+TIME and
//	                  PEXPIREAT when a slide is due); +1 round trip to bind
//	                  a user outside a login; a renewal is one script, two
//	                  round trips in Cluster
//	Incr, CAS         one script call, no load
//	Destroy           one script call, +1 to leave the user's index
//	forged cookie     nothing: the Manager rejects it before the store
//
// Every write is atomic in Redis: it checks that the session is live and
// that the result stays within the Manager's limits (a running size kept
// in the metadata) before it writes anything, so no interleaving of
// requests on any number of instances passes them, and a write that
// arrives after a logout or a renewal brings nothing back.
//
// # Revocation
//
// A renewal leaves a marker under the old key, for a minute, that points
// to the new one; Destroy and DestroyUser follow it. Once a revocation
// returns, no session of the user that was live or being renewed when it
// began is live, on standalone, Sentinel and Cluster (sessiontest's
// RevokeRacingRenewals checks it).
//
// # Trade-offs
//
// Expiry precision. Reads and writes slide the idle deadline only when
// the last slide is at least the throttle T old, so a session dies
// between IdleTimeout-T and IdleTimeout after its last request, and
// LastSeen lags by up to T. Whether a session is live is always Redis's
// decision (the key's expiry); this machine's estimate of the Redis
// clock decides only when a slide is due.
//
// Renewal in Cluster. The old and the new key are in different slots: one
// round trip takes the old session, a second puts it under the new key.
// Should Redis fail between the two, the user logs in again.
//
// Failover. Redis replicates asynchronously: a logout that the master
// acknowledged is lost if the master fails before a replica received it,
// and the session comes back. Options.WaitReplicas makes every deletion
// wait for replicas, at a round trip to them per call.
//
// Client-side cache (Options.ClientCache). Reads of an unchanged session
// are answered in this process, through rueidis's client-side caching;
// Redis pushes an invalidation when the session changes or goes. Until
// another instance has read that invalidation, it answers from the entry
// of before the write: measured across processes under load on a shared
// 2-core machine (TestClientCacheWindow), p50 about 0.1 ms, p99 1 to 12
// ms, max 18 ms. A logout on one instance can therefore leave the session
// readable on another for that long, never writable: every write is
// checked in Redis. The writing process itself reads Redis for a second
// after each write, so it always sees its own writes. Memory: up to
// Client.CacheSizeEachConn (128 MiB by default) per connection.
//
// Failure. Every call returns by its context's deadline (the Manager's
// StoreTimeout), whether Redis is stopped or hung, also under load. An
// instance started before its Redis answers 503 (ErrNotConnected) until
// it connects, in the background. Errors never carry a session's key or
// values.
//
// # Layout and upgrades
//
// internal/redislayout describes the keys and the metadata, which carry a
// layout version. A session of a version this store does not read is
// treated as missing, and logged once: the first version (this one)
// logged users of earlier builds out once. A later layout must ship with
// a store that reads both, for a rolling upgrade.
//
// # Files
//
//	store.go     Store, New and the background connection, limits as script arguments
//	options.go   Options and their defaults
//	url.go       ParseURL and NewFromURL (rueidis's URL forms, secrets redacted)
//	load.go      Load, parsing a session hash, the Redis clock estimate
//	save.go      Save: creation, update, renewal; Destroy
//	users.go     revocation that follows renewals; UserSessions, DestroyUser, PruneUser, Live
//	counter.go   Incr and CompareAndSwap
//	scripts.go   the Lua scripts (lua/*.lua) and pipelines of script calls
//	replicas.go  Options.WaitReplicas: WAIT on a dedicated connection
//	recent.go    the keys this process wrote lately, which skip the cache
//	guard.go     calls bounded by their context where rueidis is not
package redisstore
