package main

import (
	"testing"
	"time"

	"github.com/stickless/stickless/internal/topology"
)

// TestTimeline: the per-second series and the invariants' counts of the
// chart, from a recorder filled by hand.
func TestTimeline(t *testing.T) {
	start := time.Now()
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	rec := newRecorder()
	// Second 0: 100 answers of 1..100 ms. Second 1: 3 answers and 2 503s.
	for i := 1; i <= 100; i++ {
		rec.add(sample{at: at(0.5), took: time.Duration(i) * time.Millisecond, class: "2xx", ok: true})
	}
	for _, c := range []string{"2xx", "3xx", "401"} {
		rec.add(sample{at: at(1.2), took: 5 * time.Millisecond, class: c, ok: true})
	}
	rec.add(sample{at: at(1.3), took: time.Millisecond, class: "503", ok: true})
	rec.add(sample{at: at(1.4), took: time.Millisecond, class: "503", ok: true})
	// Second 2: a bad answer, which is not an answer of the chart's.
	rec.add(sample{at: at(2.1), took: time.Millisecond, class: "status 502"})
	// The last, partial second: counted in the invariants, not drawn.
	rec.add(sample{at: at(3.1), took: time.Millisecond, class: "2xx", ok: true})
	kill := &fault{name: "SIGKILL a master", label: "kill master", lossWindow: true,
		start: at(1), healed: at(1.5), end: at(2.5), recovery: 1200 * time.Millisecond, outage: true}
	notRun := &fault{name: "not run", note: "not run: out of time"}
	faults := []*fault{kill, notRun}
	// Lost: 2 acknowledged in the second before the kill (the window), 3
	// after it; a stale serve outside any fault.
	rec.lost(loss{acked: at(0.6), amount: 2, kind: "increment"})
	rec.lost(loss{acked: at(1.2), amount: 3, kind: "increment"})
	rec.staleServe(stale{acked: at(2.8), kind: "logout"})

	cfg := config{users: 10, rate: 50}
	c := timeline(cfg, topology.Standalone, rec, faults, start, 3200*time.Millisecond)
	if len(c.Seconds) != 3 {
		t.Fatalf("%d seconds, want 3", len(c.Seconds))
	}
	for i, want := range []struct {
		answered, unavailable int
		p99                   float64
	}{{100, 0, 99}, {3, 2, 5}, {0, 0, 0}} {
		got := c.Seconds[i]
		if got.T != i || got.Answered != want.answered || got.Unavailable != want.unavailable || got.P99MS != want.p99 {
			t.Errorf("second %d: %+v, want %+v", i, got, want)
		}
	}
	inv := c.Invariants
	if inv.Answers != 107 || inv.Unavailable != 2 || inv.Bad != 1 || inv.LostInWindow != 2 || inv.Lost != 3 || inv.Stale != 1 || inv.NotBack != 0 {
		t.Errorf("invariants %+v", inv)
	}
	if len(c.Faults) != 1 {
		t.Fatalf("%d faults, want the one that ran", len(c.Faults))
	}
	f := c.Faults[0]
	if f.Label != "kill master" || f.Start != 1 || f.Healed != 1.5 || f.Recovery != 1.2 {
		t.Errorf("fault %+v", f)
	}
}
