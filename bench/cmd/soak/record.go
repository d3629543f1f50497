package main

import (
	"sync"
	"time"
)

// sample is one answered (or failed) request of the load.
type sample struct {
	at    time.Time // when the request started
	took  time.Duration
	class string // "2xx", "3xx", "401", "429", "503"; or a violation kind
	ok    bool   // class is an allowed answer
	write bool   // a POST
}

// loss is an acknowledged write that a later read did not see.
type loss struct {
	acked  time.Time // when the lost write was acknowledged
	found  time.Time // when the loss was seen
	kind   string    // "increment", "write", "session"
	amount int64
	detail string // what showed it
}

// stale is a session served after its logout or revoke was acknowledged.
type stale struct {
	acked time.Time
	found time.Time
	kind  string // "logout", "revoke"
}

// probe is one round of the prober: a read and an increment of its own
// session.
type probe struct {
	at time.Time
	ok bool
}

// recorder collects what the load saw. Safe for concurrent use.
type recorder struct {
	mu      sync.Mutex
	samples []sample
	losses  []loss
	stales  []stale
	probes  []probe
	notes   map[string]int       // other events worth a count, by kind
	logf    func(string, ...any) // with -v: every loss and stale serve
}

func newRecorder() *recorder { return &recorder{notes: make(map[string]int)} }

func (r *recorder) add(s sample) {
	r.mu.Lock()
	r.samples = append(r.samples, s)
	r.mu.Unlock()
}

func (r *recorder) lost(l loss) {
	if r.logf != nil {
		r.logf("lost %d %s (acknowledged %s ago): %s", l.amount, l.kind, l.found.Sub(l.acked).Round(time.Millisecond), l.detail)
	}
	r.mu.Lock()
	r.losses = append(r.losses, l)
	r.mu.Unlock()
}

func (r *recorder) staleServe(s stale) {
	if r.logf != nil {
		r.logf("served after its %s (acknowledged %s before)", s.kind, s.found.Sub(s.acked).Round(time.Millisecond))
	}
	r.mu.Lock()
	r.stales = append(r.stales, s)
	r.mu.Unlock()
}

func (r *recorder) probed(p probe) {
	r.mu.Lock()
	r.probes = append(r.probes, p)
	r.mu.Unlock()
}

func (r *recorder) note(kind string) {
	r.mu.Lock()
	r.notes[kind]++
	r.mu.Unlock()
}

// probesSince returns a copy of the probes at or after t.
func (r *recorder) probesSince(t time.Time) []probe {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []probe
	for i := len(r.probes) - 1; i >= 0 && !r.probes[i].at.Before(t); i-- {
		out = append(out, r.probes[i])
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}
