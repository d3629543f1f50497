package main

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/stickless/stickless/internal/topology"
)

// window is a span of the run that belongs to one fault.
func (f *fault) contains(t time.Time) bool {
	return !f.start.IsZero() && !t.Before(f.start.Add(-time.Second)) && !t.After(f.end)
}

// inLossWindow reports whether t, when a write was acknowledged, is in the
// stated window of a fault that allows losses: the second before a master
// was killed.
func inLossWindow(faults []*fault, t time.Time) bool {
	for _, f := range faults {
		if f.contains(t) {
			return f.lossWindow && !t.After(f.start)
		}
	}
	return false
}

// buildReport returns the run's markdown: the setting, one row per fault,
// one row for the time outside the faults, and the invariants' verdicts.
func buildReport(cfg config, mode topology.Mode, topo *topology.Topology, rec *recorder, faults []*fault, elapsed time.Duration) string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "\n### Soak, %s mode, %v (%s)\n\n", mode, elapsed.Round(time.Second), time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "%d virtual users, about %.0f requests/s through nginx round-robin over 3 instances; Redis with deploy/redis.conf (AOF, appendfsync everysec)", cfg.users, cfg.rate)
	switch mode {
	case topology.Sentinel:
		b.WriteString(", 1 master + 2 replicas + 3 Sentinels (down-after 5 s)")
	case topology.Cluster:
		b.WriteString(", 3 masters + 3 replicas (node timeout 5 s)")
	}
	b.WriteString(". A fault's row covers from 1 s before it to 2 s after the probes (6 users each reading and incrementing every 250 ms) succeed 3 times in a row; \"service back\" is when they first succeeded after their last failure.")
	flags := ""
	if cfg.clientCache {
		b.WriteString(" The instances run with the client-side cache (-client-cache).")
		flags = " SOAKFLAGS=-client-cache"
	}
	b.WriteString(" Repeat: `SOAK=" + cfg.duration.String() + " STICKLESS_REDIS_MODE=" + string(mode) + flags + " make soak`.\n\n")

	inFault := func(t time.Time) *fault {
		for _, f := range faults {
			if f.contains(t) {
				return f
			}
		}
		return nil
	}
	type tally struct {
		requests, unavailable int
		readsOK, writesOK     int
		bad                   map[string]int
		lat                   []time.Duration
		losses                map[string]int64
		stale                 map[string]int
		// Of the above, what was acknowledged within the stated window:
		// the second before a master was killed.
		windowLosses map[string]int64
		windowStale  map[string]int
	}
	newTally := func() *tally {
		return &tally{bad: map[string]int{}, losses: map[string]int64{}, stale: map[string]int{},
			windowLosses: map[string]int64{}, windowStale: map[string]int{}}
	}
	per := map[*fault]*tally{}
	for _, f := range faults {
		per[f] = newTally()
	}
	outside := newTally()
	tallyFor := func(t time.Time) *tally {
		if f := inFault(t); f != nil {
			return per[f]
		}
		return outside
	}
	classes := map[string]int{}
	for _, s := range rec.samples {
		t := tallyFor(s.at)
		t.requests++
		classes[s.class]++
		switch {
		case s.class == "503":
			t.unavailable++
		case !s.ok:
			t.bad[s.class]++
		}
		if s.ok && s.class != "503" {
			t.lat = append(t.lat, s.took)
		}
		if s.class == "2xx" || s.class == "3xx" {
			if s.write {
				t.writesOK++
			} else {
				t.readsOK++
			}
		}
	}
	inWindow := func(t time.Time) bool { return inLossWindow(faults, t) }
	for _, l := range rec.losses {
		t := tallyFor(l.acked)
		if inWindow(l.acked) {
			t.windowLosses[l.kind] += l.amount
		} else {
			t.losses[l.kind] += l.amount
		}
	}
	for _, s := range rec.stales {
		t := tallyFor(s.acked)
		if inWindow(s.acked) {
			t.windowStale[s.kind]++
		} else {
			t.stale[s.kind]++
		}
	}

	b.WriteString("| fault | at | healed | service back | requests | reads ok | writes ok | 503 | errors by kind | lost (acknowledged) | served after logout/revoke |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|\n")
	runStart := time.Now().Add(-elapsed)
	for _, f := range faults {
		t := per[f]
		if f.start.IsZero() {
			fmt.Fprintf(&b, "| %s | – | – | – | – | – | – | – | %s | – | – |\n", f.name, f.note)
			continue
		}
		back := "no failed probe"
		if f.outage {
			back = secs(f.recovery)
		}
		if f.recovery < 0 {
			back = "**not back within " + recoveryTimeout.String() + "**"
		}
		errs := kinds(t.bad)
		if f.err != nil {
			errs += fmt.Sprintf(" (harness: %v)", firstLine(f.err.Error()))
		}
		lost, stales := lossText(t.losses), staleText(t.stale)
		if f.lossWindow {
			lost = "window: " + lossText(t.windowLosses) + "; after: " + lost
			stales = "window: " + staleText(t.windowStale) + "; after: " + stales
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %d | %d | %d | %s | %s | %s |\n", f.name, secs(f.start.Sub(runStart)),
			secs(f.healed.Sub(f.start)), back, t.requests, t.readsOK, t.writesOK, t.unavailable, errs, lost, stales)
	}
	fmt.Fprintf(&b, "| **outside the faults** | | | | %d | %d | %d | %d | %s | %s | %s |\n\n", outside.requests, outside.readsOK, outside.writesOK,
		outside.unavailable, kinds(outside.bad), lossText(outside.losses), staleText(outside.stale))

	p50, p99 := pct(outside.lat, 50), pct(outside.lat, 99)
	fmt.Fprintf(&b, "Latency outside the faults (answered requests, 503s excluded): p50 %v, p99 %v. ", p50, p99)
	fmt.Fprintf(&b, "All answers: %s.\n\n", kinds(classes))
	if len(rec.notes) > 0 {
		fmt.Fprintf(&b, "Other events: %s.\n\n", kinds(rec.notes))
	}
	b.WriteString("Stated window (\"window:\" in the rows of master kills): a write acknowledged by a master in the second before it is SIGKILLed may be missing on the replica that replaces it (asynchronous replication); \"after:\" counts what was acknowledged later in that fault's span, which no window allows. " +
		"appendfsync everysec loses up to 1 s only on a kernel crash or power cut, never on a crash of Redis alone, so restarts from the AOF must lose nothing.\n")
	return b.String()
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func kinds(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || m[keys[i]] == m[keys[j]] && keys[i] < keys[j] })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func lossText(m map[string]int64) string {
	if len(m) == 0 {
		return "0"
	}
	var parts []string
	for _, k := range []string{"increment", "write", "session", "session read as missing (still in Redis)"} {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d × %s", m[k], k))
		}
	}
	return strings.Join(parts, ", ")
}

func staleText(m map[string]int) string {
	if len(m) == 0 {
		return "0"
	}
	return kinds(m)
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	if i > 0 {
		i--
	}
	return s[i].Round(100 * time.Microsecond)
}
