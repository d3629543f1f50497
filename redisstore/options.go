package redisstore

import (
	"log/slog"
	"time"

	"github.com/redis/rueidis"
)

// The defaults of Options.
const (
	DefaultPrefix          = "stickless:"    // Prefix
	DefaultClientName      = "stickless"     // Client.ClientName
	DefaultTouchFraction   = 20              // TouchThrottle is IdleTimeout/20
	DefaultWaitTimeout     = time.Second     // WaitTimeout, with WaitReplicas
	DefaultSentinelRefresh = 5 * time.Second // Client.Sentinel.TopologyRefreshInterval
)

// Options configures a [Store]. It is passed by value; the zero value of
// each field means the default stated in its comment.
type Options struct {
	// Prefix starts every Redis key the store reads or writes, so that
	// several applications can share one Redis (see internal/redislayout).
	// default: "stickless:".
	Prefix string

	// TouchThrottle lets reads and writes skip sliding the idle deadline
	// when the last slide is less than TouchThrottle old, so that most
	// reads are one plain HGETALL that writes nothing. The cost is
	// precision: a session dies between IdleTimeout-T and IdleTimeout
	// after its last request, where T is the throttle in force (capped at
	// a quarter of the idle timeout, as the session.Store contract
	// allows), and Record.LastSeen lags by up to T. A negative value
	// slides on every call (two round trips for a read).
	// default: 0, meaning IdleTimeout/20: with a 30-minute idle timeout,
	// a session dies between 28.5 and 30 minutes after its last request.
	TouchThrottle time.Duration

	// ClientCache answers Load from a cache in this process, through
	// rueidis's client-side caching: Redis pushes an invalidation to every
	// process that cached a session as soon as it changes or goes, so
	// that a read of an unchanged session costs no round trip. The cost is
	// a window: until another instance has read the invalidation of a
	// write, it reads the session as it was before (docs/redis.md gives
	// the measured window, and what it means for a logout); writes are
	// always checked in Redis. New fails when Redis cannot track keys
	// (before Redis 6, or over RESP2), and panics with Client.DisableCache,
	// Client.AlwaysRESP2 or a negative TouchThrottle.
	// default: false.
	ClientCache bool

	// OnCacheRead, with ClientCache, is called once per Load, with
	// whether the cache answered (hit) or Redis did (a miss, or a read of
	// a session this process wrote in the last 250 ms), for metrics
	// (prom.Metrics.CacheRead fits). It must be fast and safe for
	// concurrent use.
	// default: nil.
	OnCacheRead func(hit bool)

	// WaitReplicas makes every deletion of a session (Destroy, DestroyUser,
	// the old key of a renewal) wait until this many replicas have it
	// (WAIT on the connection that carried it), for at most WaitTimeout,
	// so that a failover cannot bring a logged-out session back. Fewer in
	// time: an error wrapping ErrNotReplicated (the deletion stands on the
	// master; the Manager answers 503). Negative panics in New.
	// default: 0 (no wait).
	WaitReplicas int

	// WaitTimeout bounds each wait of WaitReplicas, within the call's own
	// deadline (the Manager's StoreTimeout): keep it shorter.
	// default: 1 s when WaitReplicas is set.
	WaitTimeout time.Duration

	// WaitAOF makes the wait a WAITAOF (Redis 7.2+): the replicas must
	// also have written the deletion to their append-only file.
	// default: false.
	WaitAOF bool

	// FailFast makes New fail when Redis cannot be reached within its
	// context, instead of returning a store that connects in the
	// background and answers ErrNotConnected (the Manager's 503) until
	// then.
	// default: false: an instance may start before its Redis.
	FailFast bool

	// Logger receives the store's own log lines: Redis unreachable at
	// start and connected later, and a session of a layout version this
	// store cannot read (once).
	// default: slog.Default().
	Logger *slog.Logger

	// Client is the rueidis client configuration: addresses, credentials,
	// db, TLS, Sentinel and timeouts; [NewFromURL] fills the addressing
	// fields from its URL. Every zero field keeps rueidis's default but
	// ClientName and, with Sentinel, TopologyRefreshInterval (above);
	// DisableCache is always !ClientCache.
	// default: no address: New fails unless Client.InitAddress is set.
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
	if o.ClientCache && (o.Client.DisableCache || o.Client.AlwaysRESP2 || o.TouchThrottle < 0) {
		panic("redisstore: Options.ClientCache needs Client.DisableCache and Client.AlwaysRESP2 false (RESP3 client tracking), and TouchThrottle >= 0 (a cached read cannot slide)")
	}
	o.Client.DisableCache = !o.ClientCache // no key tracking asked of Redis (rueidis's default) without the cache
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
