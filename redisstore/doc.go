// Package redisstore is the Redis [session.Store]: every instance of an
// application behind a round-robin load balancer sees the same sessions at
// once. It works with a standalone Redis, a master watched by Sentinel and
// a Redis Cluster, through the rueidis client, and implements
// [session.Counter], [session.UserIndex] and [session.Checker] too.
//
// A session is one Redis hash (layout: internal/redislayout) whose key
// expires at the idle deadline, never past the absolute one. A read is
// one HGETALL (nothing, with Options.ClientCache, for an unchanged
// session); a write is one Lua script that checks, inside Redis, that the
// session is live and stays within the limits before it writes only what
// changed; a renewal leaves a marker that revocations follow, so that a
// revocation is final. docs/redis.md has the costs, the trade-offs and
// the measured window of the client-side cache.
//
// Files:
//
//	store.go     Store, New and the background connection, limits as script arguments
//	options.go   Options and their defaults
//	url.go       ParseURL and NewFromURL: rueidis's URL forms, secrets redacted
//	load.go      Load; the estimate of the Redis clock
//	save.go      Save (creation, update, renewal) and Destroy
//	users.go     revocations that follow renewals; the user index
//	counter.go   Incr and CompareAndSwap
//	scripts.go   the Lua scripts (lua/*.lua) and pipelines of script calls
//	replicas.go  Options.WaitReplicas: a WAIT on a dedicated connection
//	recent.go    keys this process wrote lately, read past the cache
//	guard.go     calls bounded by their context where rueidis is not
package redisstore
