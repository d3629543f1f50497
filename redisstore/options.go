package redisstore

import (
	"log/slog"
	"time"

	"github.com/redis/rueidis"
)

// DefaultPrefix starts every Redis key of the store when Options.Prefix is
// empty.
const DefaultPrefix = "stickless:"

// DefaultClientName is the CLIENT SETNAME of the store's connections when
// Options.Client.ClientName is empty.
const DefaultClientName = "stickless"

// DefaultTouchFraction is the default touch throttle, as a fraction of the
// idle timeout: when Options.TouchThrottle is zero, Load slides the idle
// deadline only when the last slide is at least IdleTimeout/20 old.
const DefaultTouchFraction = 20

// DefaultWaitTimeout is Options.WaitTimeout when Options.WaitReplicas is
// set and the timeout is zero.
const DefaultWaitTimeout = time.Second

// DefaultSentinelRefresh is Options.Client.Sentinel.TopologyRefreshInterval
// when a Sentinel master set is named and the interval is zero.
const DefaultSentinelRefresh = 5 * time.Second

// Options configures a [Store]. It is passed by value; the zero value of
// each field means the default stated in its comment.
type Options struct {
	// Prefix starts every Redis key the store reads or writes, so that
	// several applications can share one Redis. A session lives at
	// Prefix+"{"+key+"}", its marker at Prefix+"{"+key+"}~", a user's
	// index at Prefix+"user:{"+user+"}".
	// default: "stickless:" (DefaultPrefix).
	Prefix string

	// TouchThrottle lets Load skip sliding the idle deadline when the last
	// slide is less than TouchThrottle old, so that most reads are one
	// plain HGETALL and write nothing (no script, no AOF or replication
	// traffic); a read that finds a slide due sends a second command, the
	// slide, which Redis applies only to a live session. The cost is precision:
	// a session dies between IdleTimeout-T and IdleTimeout after its last
	// request, where T is the throttle in force, and Record.LastSeen lags
	// by up to T. Writes (Create, Update, Incr, CompareAndSwap) always
	// slide. T is capped at a quarter of the idle timeout, the most the
	// session.Store contract allows. A negative value switches the
	// throttle off: every Load slides (two round trips), and expiry is
	// exact to the millisecond.
	// default: 0, meaning IdleTimeout/20 (DefaultTouchFraction): with a
	// 30-minute idle timeout, Load slides at most every 90 s and a session
	// dies between 28.5 and 30 minutes after its last request.
	TouchThrottle time.Duration

	// ClientCache serves Load from a cache in this process, through
	// rueidis's client-side caching (RESP3 client tracking: Redis pushes
	// an invalidation of a session key to every process that cached it
	// as soon as anything changes or deletes it), so that a read of an
	// unchanged session costs no Redis round trip at all. A miss costs one
	// round trip (the same HGETALL, with the key's PTTL). A slide
	// invalidates the session in every process's cache: keep the throttle
	// large (the default, IdleTimeout/20, is; a negative TouchThrottle
	// panics in New).
	//
	// The cost is a window: a write acknowledged to one instance reaches
	// another instance's cache when that instance has read Redis's
	// invalidation, a moment later (the package doc gives the measured
	// window, and what it means for a logout); a read there in between
	// sees the session as it was before the write. Writes are never
	// affected: every write is checked in Redis. New fails when Redis
	// cannot track keys (before Redis 6, or over RESP2), and panics with
	// Client.DisableCache or Client.AlwaysRESP2.
	// default: false (every Load is one HGETALL round trip).
	ClientCache bool

	// OnCacheRead, with ClientCache, is called once per Load, with
	// whether the cache answered (hit) or Redis did (a miss, or a read
	// of a session this process wrote within the last second), for
	// metrics (prom.Metrics.CacheRead fits). It runs on the request path:
	// it must be fast and safe for concurrent use.
	// default: nil.
	OnCacheRead func(hit bool)

	// WaitReplicas makes Destroy, the first step of a renewal (the death
	// of the old token) and DestroyUser wait until this many replicas
	// have acknowledged the deletion (Redis WAIT, sent on the connection
	// that carried the deletion), for at most WaitTimeout. Without it a
	// logout or revoke that the master acknowledged is lost if the master
	// fails before a replica received it (usually within a millisecond,
	// but as long as the replication lag), and the session comes back
	// after the failover. When fewer replicas acknowledge in time, the
	// call returns an error wrapping ErrNotReplicated (the deletion stands
	// on the master): the Manager then answers 503, and a retry of the
	// logout waits again. Negative panics in New.
	// default: 0 (no wait).
	WaitReplicas int

	// WaitTimeout bounds each wait of WaitReplicas; it counts against the
	// call's own deadline (the Manager's StoreTimeout), so keep it
	// shorter.
	// default: 1 s (DefaultWaitTimeout) when WaitReplicas is set.
	WaitTimeout time.Duration

	// WaitAOF makes the wait of WaitReplicas a WAITAOF (Redis 7.2 or
	// later): the replicas must also have written the deletion to their
	// append-only file, so that it survives their own restart. Replicas
	// without appendonly never acknowledge it. New fails when Redis has
	// no WAITAOF.
	// default: false (WAIT: the replicas hold the deletion in memory).
	WaitAOF bool

	// FailFast makes New return an error when Redis cannot be reached
	// within its context, instead of a store that connects in the
	// background and answers ErrNotConnected (the Manager's 503) until
	// it has.
	// default: false (an instance starts before its Redis, and serves as
	// soon as Redis answers).
	FailFast bool

	// Logger receives the store's own log lines: Redis unreachable at
	// start and connected later, and a session stored in a layout version
	// this store does not know (once).
	// default: slog.Default().
	Logger *slog.Logger

	// Client is the rueidis client configuration: addresses (InitAddress),
	// ACL user and password, db, TLS, Sentinel (Sentinel.MasterSet) and
	// timeouts. [NewFromURL] fills the addressing fields from its URL. New
	// sets ClientName to "stickless" when empty and, for Sentinel,
	// Sentinel.TopologyRefreshInterval to 5 s when zero; every other zero
	// field keeps rueidis's default (auto-pipelining on, client-side
	// caching available, ConnWriteTimeout 10 s).
	// default: the zero rueidis.ClientOption, which names no address:
	// New fails unless InitAddress is set.
	Client rueidis.ClientOption
}

// withDefaults returns a copy of o with its zero fields filled, and panics
// on a configuration that cannot work.
func (o Options) withDefaults() Options {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.WaitReplicas < 0 {
		panic("redisstore: Options.WaitReplicas is negative")
	}
	if o.WaitReplicas > 0 && o.WaitTimeout <= 0 {
		o.WaitTimeout = DefaultWaitTimeout
	}
	if o.ClientCache && o.Client.DisableCache {
		panic("redisstore: Options.ClientCache needs Options.Client.DisableCache false")
	}
	if o.ClientCache && o.Client.AlwaysRESP2 {
		panic("redisstore: Options.ClientCache needs RESP3: Options.Client.AlwaysRESP2 must be false")
	}
	if o.ClientCache && o.TouchThrottle < 0 {
		panic("redisstore: Options.ClientCache needs a touch throttle (TouchThrottle >= 0): a cached read cannot slide the idle deadline")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Client.ClientName == "" {
		o.Client.ClientName = DefaultClientName
	}
	if o.Client.Sentinel.MasterSet != "" && o.Client.Sentinel.TopologyRefreshInterval == 0 {
		o.Client.Sentinel.TopologyRefreshInterval = DefaultSentinelRefresh
	}
	// The slices of the caller's option stay theirs.
	o.Client.InitAddress = append([]string(nil), o.Client.InitAddress...)
	return o
}
