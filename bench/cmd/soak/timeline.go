package main

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/stickless/stickless/bench/chart"
	"github.com/stickless/stickless/internal/topology"
)

// timeline returns the run's results for its chart: the load second by
// second from start, the faults, and the invariants' counts.
func timeline(cfg config, mode topology.Mode, rec *recorder, faults []*fault, start time.Time, elapsed time.Duration) *chart.Soak {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	// Whole seconds only: a last partial second would show as a fall.
	secs := max(int(elapsed/time.Second), 1)
	out := &chart.Soak{
		Mode:    string(mode),
		Date:    start.UTC().Format("2006-01-02 15:04 UTC"),
		Setup:   fmt.Sprintf("Soak, %s mode, %v: %d virtual users, about %.0f requests/s through nginx over 3 instances", mode, elapsed.Round(time.Second), cfg.users, cfg.rate),
		Seconds: make([]chart.Second, secs),
	}
	lats := make([][]time.Duration, secs)
	inv := &out.Invariants
	for _, s := range rec.samples {
		inv.Answers++
		i := int(s.at.Sub(start) / time.Second)
		in := i >= 0 && i < secs
		switch {
		case s.class == "503":
			inv.Unavailable++
			if in {
				out.Seconds[i].Unavailable++
			}
		case !s.ok:
			inv.Bad++
		case in:
			lats[i] = append(lats[i], s.took)
			out.Seconds[i].Answered++
		}
	}
	for i := range out.Seconds {
		out.Seconds[i].T = i
		if len(lats[i]) > 0 {
			out.Seconds[i].P99MS = float64(pct(lats[i], 99)) / float64(time.Millisecond)
		}
	}
	for _, l := range rec.losses {
		if inLossWindow(faults, l.acked) {
			inv.LostInWindow += l.amount
		} else {
			inv.Lost += l.amount
		}
	}
	for _, s := range rec.stales {
		if inLossWindow(faults, s.acked) {
			inv.StaleInWindow++
		} else {
			inv.Stale++
		}
	}
	for _, f := range faults {
		if f.start.IsZero() {
			continue
		}
		cf := chart.Fault{Name: f.name, Label: f.label, Start: f.start.Sub(start).Seconds(), Healed: f.healed.Sub(start).Seconds(),
			Recovery: f.recovery.Seconds()}
		if f.recovery < 0 {
			cf.Recovery = -1
			inv.NotBack++
		}
		out.Faults = append(out.Faults, cf)
	}
	slices.SortFunc(out.Faults, func(a, b chart.Fault) int { return cmp.Compare(a.Start, b.Start) })
	return out
}
