package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stickless/stickless/internal/topology"
)

// The linearizability check of the history (history.go) against the model
// of one session (model.go), partition by partition, with Porcupine.

// span is a stretch of the run on the history's clock.
type span struct {
	from, to int64
	what     string // a few words
	details  string // the visualization's tooltip
}

func (s span) overlaps(from, to int64) bool { return from <= s.to && to >= s.from }

// checkConfig is how the check runs.
type checkConfig struct {
	timeout time.Duration // bound per partition (and per relaxed re-check)
	// windows are the stated windows: an operation that overlaps one may
	// have been answered from data that a failover then lost, or from an
	// old master's old data.
	windows []span
	faults  []span // shown in the visualizations
	dir     string // where the visualizations go; "" writes none
	prefix  string // their file names' start
	workers int
	// stale: for a partition that is not linearizable, find how stale its
	// reads would have to be (leastStaleness; up to 12 more checks).
	stale bool
	// cacheWindow, with the client-side cache, is its stated window: a
	// partition that reads this stale make linearizable is within it.
	cacheWindow time.Duration
}

// staleSteps are the stalenesses tried on a partition that is not
// linearizable (see leastStaleness).
var staleSteps = []time.Duration{
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
	20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second,
}

// verdict is the check of one partition.
type verdict struct {
	p   *partition
	res porcupine.CheckResult
	// Of a partition that is not linearizable:
	windowed bool          // linearizable once the operations within a stated window count as unanswered, or within the cache's window
	byCache  bool          // windowed by the cache's window
	stale    time.Duration // the least staleness of its reads that makes it linearizable; noStaleness, staleUnknown
	file     string        // its visualization
	err      error         // writing it
}

// checkResult sums up the check of a whole history.
type checkResult struct {
	partitions, ops int
	linearizable    int
	timedOut        []string // partitions whose check hit the bound
	illegal         []verdict
	took            time.Duration
}

// checkHistory checks every partition of parts, cfg.workers at a time.
func checkHistory(parts []*partition, cfg checkConfig) checkResult {
	start := time.Now()
	res := checkResult{partitions: len(parts)}
	verdicts := make([]verdict, len(parts))
	next := make(chan int)
	var wg sync.WaitGroup
	for range max(cfg.workers, 1) {
		wg.Go(func() {
			for i := range next {
				verdicts[i] = checkPartition(parts[i], cfg)
			}
		})
	}
	for i, p := range parts {
		res.ops += len(p.ops)
		next <- i
	}
	close(next)
	wg.Wait()
	for _, v := range verdicts {
		switch v.res {
		case porcupine.Ok:
			res.linearizable++
		case porcupine.Unknown:
			res.timedOut = append(res.timedOut, v.p.name)
		case porcupine.Illegal:
			res.illegal = append(res.illegal, v)
		}
	}
	// Those that no stated window explains first.
	slices.SortStableFunc(res.illegal, func(a, b verdict) int {
		switch {
		case a.windowed == b.windowed:
			return 0
		case !a.windowed:
			return -1
		}
		return 1
	})
	if cfg.dir != "" {
		for i := range res.illegal {
			v := &res.illegal[i]
			v.file, v.err = visualize(v.p, closed(v.p.ops), cfg)
		}
	}
	res.took = time.Since(start)
	return res
}

// checkPartition checks one partition within cfg.timeout, and when it is
// not linearizable, says (within cfg.timeout more) whether a stated window
// explains it and how stale its reads would have to be.
func checkPartition(p *partition, cfg checkConfig) verdict {
	ops := closed(p.ops)
	v := verdict{p: p, res: porcupine.CheckOperationsTimeout(sessionModel, ops, cfg.timeout)}
	if v.res != porcupine.Illegal {
		return v
	}
	deadline := time.Now().Add(cfg.timeout)
	if relaxed, ok := relaxWindows(ops, cfg.windows); ok {
		v.windowed = porcupine.CheckOperationsTimeout(sessionModel, relaxed, cfg.timeout) == porcupine.Ok
	}
	v.stale = staleUnknown
	if cfg.stale {
		v.stale = leastStaleness(ops, deadline)
	}
	if !v.windowed && v.stale >= 0 && v.stale <= cfg.cacheWindow {
		v.windowed, v.byCache = true, true
	}
	return v
}

// closed gives the operations that got no answer the end of the history as
// their return time (any time after the last answer is the same as never,
// and shows better).
func closed(ops []porcupine.Operation) []porcupine.Operation {
	end := int64(0)
	for _, op := range ops {
		if op.Return != never {
			end = max(end, op.Return)
		}
		end = max(end, op.Call)
	}
	out := slices.Clone(ops)
	for i := range out {
		if out[i].Return == never {
			out[i].Return = end + 1
		}
	}
	return out
}

// observation reports whether op only observes the session: a read, a
// check of its life, a write refused for want of a session.
func observation(op porcupine.Operation) bool {
	in, out := op.Input.(opIn), op.Output.(opOut)
	switch in.kind {
	case opRead, opAlive:
		return true
	case opPut, opIncr:
		return !out.unknown && !out.alive
	}
	return false
}

// relaxWindows returns ops with every operation that overlaps a window
// counted as unanswered (observations dropped, changes of unknown outcome),
// and whether any did.
func relaxWindows(ops []porcupine.Operation, windows []span) ([]porcupine.Operation, bool) {
	var out []porcupine.Operation
	hit := false
	end := ops[0].Return
	for _, op := range ops {
		end = max(end, op.Return)
	}
	for _, op := range ops {
		in := slices.ContainsFunc(windows, func(w span) bool { return w.overlaps(op.Call, op.Return) })
		switch {
		case !in:
			out = append(out, op)
			continue
		case observation(op):
		default:
			o := op.Output.(opOut)
			o.unknown = true
			op.Output, op.Return = o, end
			out = append(out, op)
		}
		hit = true
	}
	return out, hit && len(out) > 0
}

// What leastStaleness returns when no staleness of staleSteps explains a
// partition, or when it ran out of time.
const (
	noStaleness  time.Duration = -1
	staleUnknown time.Duration = -2
)

// leastStaleness returns the least of staleSteps, d, that makes ops
// linearizable when every observation may see the session as it was up to
// d before it was sent (its call moved d earlier): noStaleness when none
// does, staleUnknown when the deadline came first.
func leastStaleness(ops []porcupine.Operation, deadline time.Time) time.Duration {
	from, to := ops[0].Call, ops[0].Return
	for _, op := range ops {
		from, to = min(from, op.Call), max(to, op.Return)
	}
	for _, d := range staleSteps {
		left := time.Until(deadline)
		if left <= 0 {
			return staleUnknown
		}
		shifted := slices.Clone(ops)
		for i := range shifted {
			if observation(shifted[i]) {
				shifted[i].Call -= int64(d / time.Microsecond)
			}
		}
		switch porcupine.CheckOperationsTimeout(sessionModel, shifted, left) {
		case porcupine.Ok:
			return d
		case porcupine.Unknown:
			return staleUnknown
		}
		if int64(d/time.Microsecond) > to-from {
			break // every observation may already see any state: more changes nothing
		}
	}
	return noStaleness
}

// visualize writes Porcupine's HTML view of the partition, with the faults
// and stated windows of the run marked, and returns its path.
func visualize(p *partition, ops []porcupine.Operation, cfg checkConfig) (string, error) {
	_, info := porcupine.CheckOperationsVerbose(sessionModel, ops, cfg.timeout)
	from, to := ops[0].Call, ops[0].Return
	for _, op := range ops {
		from, to = min(from, op.Call), max(to, op.Return)
	}
	var notes []porcupine.Annotation
	add := func(tag, color string, spans []span) {
		for _, s := range spans {
			if s.overlaps(from, to) {
				notes = append(notes, porcupine.Annotation{Tag: tag, Start: s.from, End: s.to,
					Description: s.what, Details: s.details, BackgroundColor: color})
			}
		}
	}
	add("fault", "#fde2e2", cfg.faults)
	add("stated window", "#fff4cc", cfg.windows)
	info.AddAnnotations(notes)
	if err := os.MkdirAll(cfg.dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(cfg.dir, cfg.prefix+p.name+".html")
	return path, porcupine.VisualizePath(sessionModel, info, path)
}

// text is the check's lines for the soak's report.
func (r checkResult) text(cfg checkConfig, expect string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nLinearizability (Porcupine, one partition per browser session, bound %v each): %d partitions (%d operations) checked in %v: %d linearizable, %d not",
		cfg.timeout, r.partitions, r.ops, r.took.Round(time.Millisecond), r.linearizable, len(r.illegal))
	windowed := 0
	for _, v := range r.illegal {
		if v.windowed {
			windowed++
		}
	}
	if len(r.illegal) > 0 {
		fmt.Fprintf(&b, " (%d within a stated window, %d outside)", windowed, len(r.illegal)-windowed)
	}
	fmt.Fprintf(&b, ", %d timed out. Expected: %s.\n\n", len(r.timedOut), expect)
	if len(r.timedOut) > 0 {
		fmt.Fprintf(&b, "Timed out: %s.\n\n", strings.Join(r.timedOut, ", "))
	}
	if len(r.illegal) == 0 {
		return b.String()
	}
	var stale []time.Duration
	unexplained, unknown := 0, 0
	for _, v := range r.illegal {
		switch v.stale {
		case noStaleness:
			unexplained++
		case staleUnknown:
			unknown++
		default:
			stale = append(stale, v.stale)
		}
	}
	slices.Sort(stale)
	fmt.Fprintf(&b, "Seen as stale reads (the least staleness of its reads that makes a partition linearizable): ")
	if len(stale) > 0 {
		fmt.Fprintf(&b, "%d partitions, median %v, max %v", len(stale), stale[len(stale)/2], stale[len(stale)-1])
	} else {
		b.WriteString("none")
	}
	fmt.Fprintf(&b, "; not explained by reads up to %v stale (lost, not stale): %d; not known within the bound: %d.\n\n", staleSteps[len(staleSteps)-1], unexplained, unknown)
	b.WriteString("| partition | within a stated window | least staleness | visualization |\n|---|---|---|---|\n")
	for i, v := range r.illegal {
		if i == maxRows {
			fmt.Fprintf(&b, "| and %d more | | | in %s |\n", len(r.illegal)-maxRows, cfg.dir)
			break
		}
		st := v.stale.String()
		switch v.stale {
		case noStaleness:
			st = "over " + staleSteps[len(staleSteps)-1].String()
		case staleUnknown:
			st = "not known within the bound"
		}
		file := v.file
		if file == "" {
			file = "–"
		}
		if v.err != nil {
			file = "not written: " + v.err.Error()
		}
		within := "no"
		switch {
		case v.byCache:
			within = "yes, the cache's"
		case v.windowed:
			within = "yes"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", v.p.name, within, st, file)
	}
	b.WriteString("\n")
	return b.String()
}

// maxRows bounds the report's table of partitions that are not
// linearizable.
const maxRows = 20

// expectation is what the check should find, stated before running (issue
// 20): with replicas the instances run with -wait-replicas 1.
func expectation(mode topology.Mode, cache bool) string {
	e := "every partition linearizable"
	if mode == topology.Sentinel {
		e = "violations only within the stated windows (the restarted old master's old data; writes acknowledged in the second before the master's SIGKILL)"
	}
	if cache {
		e += "; with the client-side cache, reads within its stated window (docs/redis.md) may also be stale"
	}
	return e
}

// runCheck checks the run's history and returns the report's lines about
// it.
func runCheck(cfg config, topo *topology.Topology, h *history, faults []*fault, logf func(string, ...any)) string {
	mode := topo.Mode
	cc := checkConfig{
		timeout: cfg.checkTimeout,
		workers: runtime.GOMAXPROCS(0),
		dir:     cfg.vizDir,
		stale:   true,
		prefix:  fmt.Sprintf("soak-%s%s-%s-", mode, map[bool]string{true: "-cache"}[cfg.clientCache], time.Now().UTC().Format("20060102-150405")),
	}
	if cfg.clientCache {
		cc.cacheWindow = cfg.cacheWindow
	}
	if cc.dir == "" {
		cc.dir = os.TempDir()
		if cfg.out != "" {
			cc.dir = filepath.Dir(cfg.out)
		}
	}
	for _, f := range faults {
		if f.start.IsZero() {
			continue
		}
		healed := f.healed
		if healed.IsZero() {
			healed = f.start
		}
		cc.faults = append(cc.faults, span{h.at(f.start), h.at(healed), f.name, f.name})
		if f.lossWindow {
			cc.windows = append(cc.windows, span{h.at(f.start.Add(-time.Second)), h.at(f.start), "1 s before the SIGKILL",
				"writes acknowledged by the master in the second before its SIGKILL may be lost (asynchronous replication)"})
		}
		if from, to := f.oldData[0], f.oldData[1]; !from.IsZero() {
			if to.IsZero() {
				to = healed
			}
			cc.windows = append(cc.windows, span{h.at(from), h.at(to), "old master's old data",
				"the restarted old master may answer from its old data until it is a replica in sync with the new master"})
		}
	}
	parts := h.partitions()
	logf("checking %d partitions of the history for linearizability", len(parts))
	r := checkHistory(parts, cc)
	text := r.text(cc, expectation(mode, cfg.clientCache))
	if cfg.clientCache {
		text += cacheReads(topo)
	}
	return text
}

// cacheReads returns a line with the instances' count of reads answered by
// the client-side cache and by Redis, from their metrics.
func cacheReads(topo *topology.Topology) string {
	if !topo.Metrics {
		return "The instances serve no metrics: how many reads the cache answered is not known.\n\n"
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	var hit, miss float64
	for _, in := range topo.Instances {
		resp, err := hc.Get("http://" + in.MetricsAddr + "/metrics")
		if err != nil {
			return fmt.Sprintf("The metrics of %s could not be read: %v.\n\n", in.Name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for line := range strings.Lines(string(b)) {
			name, v, _ := strings.Cut(strings.TrimSpace(line), " ")
			n, _ := strconv.ParseFloat(v, 64)
			switch name {
			case `stickless_client_cache_total{result="hit"}`:
				hit += n
			case `stickless_client_cache_total{result="miss"}`:
				miss += n
			}
		}
	}
	return fmt.Sprintf("Client-side cache, from the instances' metrics (since each one's last start): %.0f reads answered by the cache, %.0f by Redis.\n\n", hit, miss)
}
