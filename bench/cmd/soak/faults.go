package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/stickless/stickless/internal/redistest"
	"github.com/stickless/stickless/internal/topology"
)

// fault is one injected failure and what became of it.
type fault struct {
	name  string
	label string // a short name, for the chart
	// lossWindow is true when the configuration allows acknowledged writes
	// to be lost here: asynchronous replication during a failover.
	lossWindow bool
	inject     func() error // make the failure happen
	heal       func() error // undo what needs undoing (restart a killed process)

	start, healed, end time.Time
	// oldData is when a restarted old master may answer from its old
	// data: from its restart until it is a replica in sync (Sentinel).
	oldData  [2]time.Time
	recovery time.Duration // from start to the first good probe after the last failed one; -1: not back
	outage   bool          // some probe failed
	err      error
	note     string
}

// recoveryTimeout bounds the wait for service to return after a fault.
const recoveryTimeout = 60 * time.Second

// schedule returns the faults of mode, in the order they run.
func schedule(topo *topology.Topology, mode topology.Mode, rec *recorder) []*fault {
	first := func() *redistest.Server { return masters(topo)[0] }
	var paused *redistest.Server
	var killed *redistest.Server
	fs := []*fault{
		{
			name:   "SIGKILL instance i2, restart after 3 s",
			label:  "kill instance i2",
			inject: func() error { return topo.Instances[1].Kill() },
			heal: func() error {
				time.Sleep(3 * time.Second)
				return topo.Instances[1].Start()
			},
		},
		{
			name:  "SIGSTOP Redis master 3 s, then SIGCONT",
			label: "SIGSTOP master",
			inject: func() error {
				paused = first()
				return paused.PauseErr()
			},
			heal: func() error {
				time.Sleep(3 * time.Second)
				paused.ResumeErr()
				return nil
			},
		},
		{
			name:  "SIGKILL Redis master, restart from its AOF at once",
			label: "kill master, AOF restart",
			inject: func() error {
				killed = first()
				return killed.KillErr()
			},
			heal: func() error { return killed.StartErr() },
		},
	}
	switch mode {
	case topology.Sentinel:
		f := &fault{
			name:       "SIGKILL Sentinel master: failover by the Sentinels; old master restarted",
			label:      "Sentinel failover",
			lossWindow: true,
			inject:     func() error { return topo.Sentinel.Master.KillErr() },
		}
		f.heal = func() error {
			old := topo.Sentinel.Master
			if err := topo.Sentinel.WaitFailover(recoveryTimeout); err != nil {
				return err
			}
			f.oldData[0] = time.Now()
			if err := old.StartErr(); err != nil {
				return err
			}
			err := waitInSync(old) // the Sentinels make it a replica
			f.oldData[1] = time.Now()
			return err
		}
		fs = append(fs, f)
	case topology.Cluster:
		fs = append(fs, &fault{
			name:       "SIGKILL a Cluster master: its replica takes over; old master restarted",
			label:      "Cluster failover",
			lossWindow: true,
			inject: func() error {
				killed = first()
				return killed.KillErr()
			},
			heal: func() error {
				if err := waitMasters(topo, 3); err != nil {
					return err
				}
				if err := killed.StartErr(); err != nil { // it rejoins as a replica
					return err
				}
				return topo.Cluster.WaitOKErr(recoveryTimeout)
			},
		}, &fault{
			name:  "manual CLUSTER FAILOVER on a replica",
			label: "manual failover",
			inject: func() error {
				for _, s := range topo.DataServers() {
					if topology.Role(s) == "slave" {
						r, err := s.Call(5*time.Second, "CLUSTER", "FAILOVER")
						if err == nil {
							err = r.Err()
						}
						return err
					}
				}
				return errors.New("no replica")
			},
			heal: func() error { return topo.Cluster.WaitOKErr(recoveryTimeout) },
		})
	}
	fs = append(fs, &fault{
		name:  "maxmemory below the memory in use on every master for 5 s, then lifted",
		label: "maxmemory",
		inject: func() error {
			for _, m := range masters(topo) {
				r, err := m.Call(5*time.Second, "INFO", "memory")
				if err != nil {
					return err
				}
				// Half the memory in use: every write that needs memory
				// fails with OOM (noeviction), reads and deletes go on.
				used, _ := strconv.ParseInt(infoField(r.Str, "used_memory"), 10, 64)
				limit := strconv.FormatInt(max(used/2, 1), 10)
				if r, err := m.Call(5*time.Second, "CONFIG", "SET", "maxmemory", limit); err != nil || r.Err() != nil {
					return fmt.Errorf("CONFIG SET maxmemory: %v %v", err, r.Err())
				}
			}
			return nil
		},
		heal: func() error {
			time.Sleep(5 * time.Second)
			for _, s := range topo.DataServers() {
				if r, err := s.Call(5*time.Second, "CONFIG", "SET", "maxmemory", "0"); err != nil || r.Err() != nil {
					return fmt.Errorf("CONFIG SET maxmemory 0: %v %v", err, r.Err())
				}
			}
			return nil
		},
	})
	return fs
}

// masters returns the current masters, waiting a little for one to answer.
func masters(topo *topology.Topology) []*redistest.Server {
	for range 50 {
		if m := topo.Masters(); len(m) > 0 {
			return m
		}
		time.Sleep(100 * time.Millisecond)
	}
	return topo.DataServers()[:1]
}

// waitMasters waits until n data servers say role:master.
func waitMasters(topo *topology.Topology, n int) error {
	deadline := time.Now().Add(recoveryTimeout)
	for time.Now().Before(deadline) {
		if len(topo.Masters()) >= n {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("fewer than %d masters after %v", n, recoveryTimeout)
}

// waitInSync waits until s is a replica whose link to its master is up:
// it has loaded the master's data.
func waitInSync(s *redistest.Server) error {
	deadline := time.Now().Add(recoveryTimeout)
	for time.Now().Before(deadline) {
		r, err := s.Call(time.Second, "INFO", "replication")
		if err == nil && r.Err() == nil && infoField(r.Str, "role") == "slave" && infoField(r.Str, "master_link_status") == "up" {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("the restarted old master is not a replica in sync after %v", recoveryTimeout)
}

func infoField(info, name string) string {
	for _, line := range splitLines(info) {
		if len(line) > len(name) && line[:len(name)+1] == name+":" {
			return line[len(name)+1:]
		}
	}
	return ""
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			line := s[start:i]
			if len(line) > 0 && line[len(line)-1] == '\r' {
				line = line[:len(line)-1]
			}
			out = append(out, line)
			start = i + 1
		}
	}
	return out
}

// runFaults runs the schedule, spread over the run, one fault at a time:
// a quiet stretch, the fault, its healing, then the wait for the probes to
// succeed again. A fault that does not fit in the time left is skipped.
func runFaults(ctx context.Context, topo *topology.Topology, rec *recorder, l *load, d time.Duration, logf func(string, ...any)) []*fault {
	fs := schedule(topo, topo.Mode, rec)
	gap := d / time.Duration(len(fs)+1)
	runStart := time.Now()
	var prevEnd time.Time
	for i, f := range fs {
		// Fault i at (i+1/2) gaps, and never within 5 s of the previous
		// one's end, so that the windows do not overlap.
		at := runStart.Add(gap*time.Duration(i+1) - gap/2)
		if quiet := prevEnd.Add(5 * time.Second); at.Before(quiet) {
			at = quiet
		}
		if wait := time.Until(at); wait > 0 {
			sleep(ctx, wait)
		}
		if ctx.Err() != nil || time.Until(runStart.Add(d)) < 15*time.Second {
			f.note = "not run: out of time"
			continue
		}
		logf("fault %d: %s", i+1, f.name)
		f.start = time.Now()
		if err := f.inject(); err != nil {
			f.err = fmt.Errorf("inject: %w", err)
			logf("  %v", f.err)
			continue
		}
		if err := f.heal(); err != nil {
			f.err = fmt.Errorf("heal: %w", err)
			logf("  %v", f.err)
		}
		f.healed = time.Now()
		f.end, f.recovery, f.outage = waitRecovered(ctx, rec, f.start)
		prevEnd = f.end
		logf("  healed after %v, service back %v after the fault", f.healed.Sub(f.start).Round(time.Millisecond), f.recovery.Round(time.Millisecond))
	}
	return fs
}

// waitRecovered waits until the prober has succeeded 3 times in a row
// after its last failure, and returns the end of the fault's window
// (2 s after that), the time to recovery from start, and whether any probe
// failed.
func waitRecovered(ctx context.Context, rec *recorder, start time.Time) (end time.Time, recovery time.Duration, outage bool) {
	deadline := time.Now().Add(recoveryTimeout)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		ps := rec.probesSince(start)
		lastFail := -1
		for i, p := range ps {
			if !p.ok {
				lastFail = i
			}
		}
		if good := len(ps) - lastFail - 1; good >= 3 {
			if lastFail < 0 {
				return time.Now().Add(2 * time.Second), 0, false
			}
			return time.Now().Add(2 * time.Second), ps[lastFail+1].at.Sub(start), true
		}
		sleep(ctx, 100*time.Millisecond)
	}
	return time.Now(), -1, true // not back within recoveryTimeout
}
