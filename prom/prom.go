// Package prom exports the metrics of stickless sessions to Prometheus. It
// implements [session.Observer] with github.com/prometheus/client_golang,
// in a module of its own so that applications that do not use Prometheus
// do not have it in their module graph.
//
//	reg := prom.NewRegistry() // with the Go runtime and process collectors
//	metrics := prom.New(reg, prom.Options{})
//	m := session.New(store, session.Config{Keys: keys, Observer: metrics.Observer()})
//	go http.ListenAndServe("127.0.0.1:9100", prom.Handler(reg)) // /metrics, on its own listener
//
// # Metrics
//
// The names and labels are stable:
//
//   - stickless_session_requests_total{outcome}: counter of requests whose
//     session was loaded, by what their cookie led to ([session.Outcome]:
//     "none", "invalid", "live", "missing").
//   - stickless_store_operation_duration_seconds{op,result}: histogram of
//     session store calls, by [session.Op] ("Load", "Create", "Update",
//     "Renew", "Destroy", ...) and [session.Result] ("ok", "not_found",
//     "unavailable").
//   - stickless_session_events_total{event}: counter of [session.Event]s
//     ("created", "renewed", "login", "destroyed", "revoked", "evicted",
//     "too_large", "unreadable").
//   - stickless_unavailable_responses_total: counter of the 503s answered
//     because the store could not.
//   - stickless_client_cache_total{result}: counter of reads served by the
//     Redis store's client-side cache, result "hit" or "miss"; fed by
//     [Metrics.CacheRead].
//
// Every label value listed is exported from the start, at zero, so that a
// rate() has a series before the first event.
//
// # Cost
//
// Each label value that session lists ([session.Ops] and the others) is
// resolved to its counter or histogram when New runs, so the Observer's
// funcs do not allocate: a request that reads a session costs a few
// atomic additions.
package prom

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stickless/stickless/session"
)

// The metric names.
const (
	RequestsName    = "stickless_session_requests_total"
	StoreName       = "stickless_store_operation_duration_seconds"
	EventsName      = "stickless_session_events_total"
	UnavailableName = "stickless_unavailable_responses_total"
	CacheName       = "stickless_client_cache_total"
)

// DefaultBuckets are the bounds, in seconds, of the store latency
// histogram: from 100 µs (a read on loopback) to 2.5 s (past the default
// StoreTimeout of 1 s).
var DefaultBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

// Options configures [New]. The zero value is the default of each field.
type Options struct {
	// Buckets are the upper bounds of the store latency histogram, in
	// seconds. default: DefaultBuckets.
	Buckets []float64
}

// Metrics holds the stickless metrics. Create it with [New]; it is safe
// for concurrent use.
type Metrics struct {
	requests    *prometheus.CounterVec
	store       *prometheus.HistogramVec
	events      *prometheus.CounterVec
	unavailable prometheus.Counter
	cache       *prometheus.CounterVec

	// Pre-resolved children: read-only after New, so lookups need no lock.
	byOutcome map[session.Outcome]prometheus.Counter
	byOp      map[session.Op]map[session.Result]prometheus.Observer
	byEvent   map[session.Event]prometheus.Counter
	hit, miss prometheus.Counter
}

// New creates the metrics and registers them with reg. It panics if reg
// already holds metrics of the same names (see prometheus.MustRegister).
func New(reg prometheus.Registerer, opts Options) *Metrics {
	if opts.Buckets == nil {
		opts.Buckets = DefaultBuckets
	}
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: RequestsName,
			Help: "Requests whose session was loaded, by what their cookie led to: none, invalid (failed verification), live, missing (verified but gone).",
		}, []string{"outcome"}),
		store: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    StoreName,
			Help:    "Duration of session store calls, by Store method and result (ok, not_found, unavailable).",
			Buckets: opts.Buckets,
		}, []string{"op", "result"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: EventsName,
			Help: "Session events: created, renewed, login, destroyed, revoked, evicted (per-user cap), too_large (a write refused), unreadable (a session or values that did not decrypt, read as missing).",
		}, []string{"event"}),
		unavailable: prometheus.NewCounter(prometheus.CounterOpts{
			Name: UnavailableName,
			Help: "503 responses answered because the session store could not answer.",
		}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: CacheName,
			Help: "Session reads of the Redis store's client-side cache, by result (hit, miss).",
		}, []string{"result"}),
		byOutcome: map[session.Outcome]prometheus.Counter{},
		byOp:      map[session.Op]map[session.Result]prometheus.Observer{},
		byEvent:   map[session.Event]prometheus.Counter{},
	}
	for _, o := range session.Outcomes() {
		m.byOutcome[o] = m.requests.WithLabelValues(string(o))
	}
	for _, op := range session.Ops() {
		m.byOp[op] = map[session.Result]prometheus.Observer{}
		for _, r := range session.Results() {
			m.byOp[op][r] = m.store.WithLabelValues(string(op), string(r))
		}
	}
	for _, e := range session.Events() {
		m.byEvent[e] = m.events.WithLabelValues(string(e))
	}
	m.hit, m.miss = m.cache.WithLabelValues("hit"), m.cache.WithLabelValues("miss")
	reg.MustRegister(m.requests, m.store, m.events, m.unavailable, m.cache)
	return m
}

// Observer returns the [session.Observer] that feeds m; put it in
// session.Config.Observer. Several Managers may share it.
func (m *Metrics) Observer() session.Observer {
	return session.Observer{
		Request:     m.request,
		StoreCall:   m.storeCall,
		Event:       m.event,
		Unavailable: m.unavailable.Inc,
	}
}

// The funcs below fall back to a lookup by label for a value that
// session's lists do not hold (one made up by a caller of Observer()).

func (m *Metrics) request(_ context.Context, outcome session.Outcome) {
	if c, ok := m.byOutcome[outcome]; ok {
		c.Inc()
		return
	}
	m.requests.WithLabelValues(string(outcome)).Inc()
}

func (m *Metrics) storeCall(_ context.Context, op session.Op, result session.Result, d time.Duration) {
	if h, ok := m.byOp[op][result]; ok {
		h.Observe(d.Seconds())
		return
	}
	m.store.WithLabelValues(string(op), string(result)).Observe(d.Seconds())
}

func (m *Metrics) event(_ context.Context, e session.Event) {
	if c, ok := m.byEvent[e]; ok {
		c.Inc()
		return
	}
	m.events.WithLabelValues(string(e)).Inc()
}

// CacheRead counts one read of the Redis store's client-side cache: hit
// when it was served from this process's memory. It is meant for the
// Redis store's cache-read hook; it does not allocate and is safe for
// concurrent use.
func (m *Metrics) CacheRead(hit bool) {
	if hit {
		m.hit.Inc()
	} else {
		m.miss.Inc()
	}
}

// NewRegistry returns a registry that holds the Go runtime and process
// collectors (go_* and process_* metrics), for [New] and [Handler].
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Handler serves the metrics of g in the Prometheus exposition format, for
// a /metrics route. Serve it on a listener of its own (a loopback or
// internal address), not through the public proxy.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}
