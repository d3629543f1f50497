package redistest

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stickless/stickless/internal/testenv"
)

// MasterName is the name under which the Sentinels of [Sentinel] monitor
// their master.
const MasterName = "mymaster"

// SentinelTimeout bounds the wait for a new Sentinel set to be ready and
// for a failover to complete.
const SentinelTimeout = 30 * time.Second

// SentinelOptions configures a set started by [SentinelWith]. The zero
// value is what [Sentinel] uses.
type SentinelOptions struct {
	// Options apply to the master and the replica alike (a Password also
	// becomes the replica's masterauth and the Sentinels' auth-pass).
	// Default: no AOF, no password.
	Options
	// Sentinels is the number of Sentinel processes. Default: 3.
	Sentinels int
	// Quorum is the number of Sentinels that must agree the master is down.
	// Default: 2.
	Quorum int
	// DownAfter is the Sentinels' down-after-milliseconds: how long the
	// master may not answer before it is deemed down. Default: 3s, short
	// enough for failure tests, long enough that a busy machine does not
	// trigger a failover on its own.
	DownAfter time.Duration
	// FailoverTimeout is the Sentinels' failover-timeout. Default: 10s.
	FailoverTimeout time.Duration
}

// SentinelSet is one master, one replica and the Sentinels that monitor
// them, started by [Sentinel]. Master and Replica follow the roles: a
// [SentinelSet.Failover] or [SentinelSet.WaitPromoted] swaps them. A
// SentinelSet is not safe for concurrent use.
type SentinelSet struct {
	MasterName string // "mymaster"
	Master     *Server
	Replica    *Server
	Sentinels  []*Server // no password
}

// Sentinel starts a Sentinel set with the default [SentinelOptions]: a
// master, a replica of it, and three Sentinels monitoring the master as
// "mymaster" with quorum 2, all on free 127.0.0.1 ports in their own
// t.TempDir(). It waits until every Sentinel knows the master, the replica
// (with its link up) and the other Sentinels, so that a failover can start
// at once. It uses redis-sentinel when installed and redis-server
// --sentinel otherwise; it skips the test when redis-server is missing and
// fails it, with the logs, when the set is not ready within
// [SentinelTimeout]. Every process is killed when the test ends.
func Sentinel(t testing.TB) *SentinelSet {
	t.Helper()
	return SentinelWith(t, SentinelOptions{})
}

// SentinelWith is [Sentinel] with options.
func SentinelWith(t testing.TB, opts SentinelOptions) *SentinelSet {
	t.Helper()
	if opts.Sentinels == 0 {
		opts.Sentinels = 3
	}
	if opts.Quorum == 0 {
		opts.Quorum = 2
	}
	if opts.DownAfter == 0 {
		opts.DownAfter = 3 * time.Second
	}
	if opts.FailoverTimeout == 0 {
		opts.FailoverTimeout = 10 * time.Second
	}
	redisBin := testenv.Require(t, "redis-server", "redis-server")
	ss := &SentinelSet{MasterName: MasterName}
	// Both servers may end up as either role after a failover: both get
	// the master's password and start a full sync at once (no 5 s wait for
	// more replicas).
	mopts := opts.Options
	mopts.ExtraConfig = []string{"repl-diskless-sync-delay 0"}
	if opts.Password != "" {
		mopts.ExtraConfig = append(mopts.ExtraConfig, "masterauth "+quote(opts.Password))
	}
	mopts.ExtraConfig = append(mopts.ExtraConfig, opts.ExtraConfig...)
	ss.Master = Standalone(t, mopts)
	ropts := mopts
	ropts.ExtraConfig = append(slices.Clip(mopts.ExtraConfig), "replicaof 127.0.0.1 "+strconv.Itoa(ss.Master.Port))
	ss.Replica = Standalone(t, ropts)

	bin, args := redisBin, []string{"--sentinel"}
	if p, err := exec.LookPath("redis-sentinel"); err == nil {
		bin, args = p, nil
	}
	for range opts.Sentinels {
		dir := t.TempDir()
		s := launch(t, spec{
			name:      "redis-sentinel",
			bin:       bin,
			extraArgs: args,
			dir:       dir,
			config: func(port int) []string {
				return sentinelConfig(dir, port, ss.Master.Port, opts)
			},
			pickPort: testenv.FreePort,
		})
		ss.Sentinels = append(ss.Sentinels, s)
	}
	ss.waitReady(t)
	return ss
}

func sentinelConfig(dir string, port, masterPort int, opts SentinelOptions) []string {
	lines := []string{
		"port " + strconv.Itoa(port),
		"bind 127.0.0.1",
		"protected-mode yes",
		"daemonize no",
		"dir " + quote(dir),
		"logfile " + quote(filepath.Join(dir, "sentinel.log")),
		fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d %d", MasterName, masterPort, opts.Quorum),
		fmt.Sprintf("sentinel down-after-milliseconds %s %d", MasterName, opts.DownAfter.Milliseconds()),
		fmt.Sprintf("sentinel failover-timeout %s %d", MasterName, opts.FailoverTimeout.Milliseconds()),
		fmt.Sprintf("sentinel parallel-syncs %s 1", MasterName),
	}
	if opts.Password != "" {
		lines = append(lines, fmt.Sprintf("sentinel auth-pass %s %s", MasterName, quote(opts.Password)))
	}
	return lines
}

// SentinelAddrs returns the Sentinels' "127.0.0.1:port" addresses.
func (ss *SentinelSet) SentinelAddrs() []string {
	addrs := make([]string, len(ss.Sentinels))
	for i, s := range ss.Sentinels {
		addrs[i] = s.Addr
	}
	return addrs
}

// MasterAddr returns the master's address as the first running Sentinel
// reports it (SENTINEL get-master-addr-by-name), or fails the test.
func (ss *SentinelSet) MasterAddr(t testing.TB) string {
	t.Helper()
	for _, s := range ss.Sentinels {
		if !s.Running() {
			continue
		}
		addr, err := ss.masterAddrFrom(s)
		if err != nil {
			t.Fatalf("redistest: sentinel %s: %v", s.Addr, err)
		}
		return addr
	}
	t.Fatalf("redistest: no Sentinel is running")
	return ""
}

func (ss *SentinelSet) masterAddrFrom(s *Server) (string, error) {
	r, err := s.Call(DoTimeout, "SENTINEL", "get-master-addr-by-name", ss.MasterName)
	if err != nil {
		return "", err
	}
	if r.Kind != KindArray || len(r.Elems) != 2 {
		return "", fmt.Errorf("get-master-addr-by-name: %v", r)
	}
	return r.Elems[0].Str + ":" + r.Elems[1].Str, nil
}

// pairs turns a flat field/value array reply into a map.
func pairs(r Reply) map[string]string {
	m := make(map[string]string)
	for i := 0; i+1 < len(r.Elems); i += 2 {
		m[r.Elems[i].Str] = r.Elems[i+1].Str
	}
	return m
}

// sentinelReady checks that s sees ss.Master as master, ss.Replica as its
// healthy replica and all the other Sentinels.
func (ss *SentinelSet) sentinelReady(s *Server) error {
	r, err := s.Call(DoTimeout, "SENTINEL", "MASTER", ss.MasterName)
	if err != nil {
		return err
	}
	if err := r.Err(); err != nil {
		return err
	}
	m := pairs(r)
	if m["ip"]+":"+m["port"] != ss.Master.Addr || m["flags"] != "master" ||
		m["num-other-sentinels"] != strconv.Itoa(len(ss.Sentinels)-1) || m["num-slaves"] == "0" {
		return fmt.Errorf("SENTINEL MASTER: addr %s:%s flags %s num-slaves %s num-other-sentinels %s",
			m["ip"], m["port"], m["flags"], m["num-slaves"], m["num-other-sentinels"])
	}
	r, err = s.Call(DoTimeout, "SENTINEL", "REPLICAS", ss.MasterName)
	if err != nil {
		return err
	}
	for _, e := range r.Elems {
		rm := pairs(e)
		if rm["ip"]+":"+rm["port"] == ss.Replica.Addr {
			if rm["flags"] != "slave" || rm["master-link-status"] != "ok" {
				return fmt.Errorf("replica %s: flags %s master-link-status %s", ss.Replica.Addr, rm["flags"], rm["master-link-status"])
			}
			return nil
		}
	}
	return fmt.Errorf("replica %s not known yet", ss.Replica.Addr)
}

func (ss *SentinelSet) waitReady(t testing.TB) {
	t.Helper()
	err := testenv.Eventually(SentinelTimeout, 100*time.Millisecond, func() error {
		for _, s := range ss.Sentinels {
			if err := ss.sentinelReady(s); err != nil {
				return fmt.Errorf("sentinel %s: %w", s.Addr, err)
			}
		}
		return nil
	})
	if err != nil {
		ss.fail(t, "Sentinel set not ready: %v", err)
	}
}

// fail fails the test with the logs of every process of the set.
func (ss *SentinelSet) fail(t testing.TB, format string, args ...any) {
	t.Helper()
	var b strings.Builder
	for _, s := range append([]*Server{ss.Master, ss.Replica}, ss.Sentinels...) {
		fmt.Fprintf(&b, "=== %s on %s\n%s", s.name, s.Addr, s.logTail(20))
		s.logShown = true
	}
	t.Fatalf("redistest: "+format+"\n%s", append(args, b.String())...)
}

// Failover asks a Sentinel for a manual failover (SENTINEL FAILOVER
// mymaster, retried while it answers INPROG or NOGOODSLAVE) and then does
// [SentinelSet.WaitPromoted]. It fails the test, with the logs, when the
// failover has not completed within [SentinelTimeout].
func (ss *SentinelSet) Failover(t testing.TB) {
	t.Helper()
	err := testenv.Eventually(SentinelTimeout, 200*time.Millisecond, func() error {
		r, err := ss.Sentinels[0].Call(DoTimeout, "SENTINEL", "FAILOVER", ss.MasterName)
		if err != nil {
			return err
		}
		return r.Err()
	})
	if err != nil {
		ss.fail(t, "SENTINEL FAILOVER: %v", err)
	}
	ss.WaitPromoted(t)
}

// WaitPromoted waits until every running Sentinel reports the replica as
// master and the replica says role:master; when the old master runs and is
// not paused, it also makes it a replica of the new one, as the Sentinels
// would do some seconds later (REPLICAOF, CONFIG REWRITE), and waits until
// its link is up. Then it swaps Master and Replica. Use it after a
// [SentinelSet.Failover] or after killing or pausing the master (the
// Sentinels then fail over by themselves after DownAfter). It fails the
// test, with the logs, after [SentinelTimeout].
func (ss *SentinelSet) WaitPromoted(t testing.TB) {
	t.Helper()
	oldM, newM := ss.Master, ss.Replica
	err := testenv.Eventually(SentinelTimeout, 100*time.Millisecond, func() error {
		for _, s := range ss.Sentinels {
			if !s.Running() {
				continue
			}
			addr, err := ss.masterAddrFrom(s)
			if err != nil {
				return fmt.Errorf("sentinel %s: %w", s.Addr, err)
			}
			if addr != newM.Addr {
				return fmt.Errorf("sentinel %s reports master %s, want %s", s.Addr, addr, newM.Addr)
			}
		}
		if role, err := roleOf(newM); err != nil || role["role"] != "master" {
			return fmt.Errorf("new master %s: role %q (%v)", newM.Addr, role["role"], err)
		}
		if oldM.Running() && !oldM.isPaused() {
			role, err := roleOf(oldM)
			if err == nil && role["role"] == "master" {
				// The Sentinels would demote it only at their next INFO
				// of it, up to 10 s later: do it now, as they would.
				oldM.Call(DoTimeout, "REPLICAOF", "127.0.0.1", strconv.Itoa(newM.Port))
				oldM.Call(DoTimeout, "CONFIG", "REWRITE")
				return fmt.Errorf("old master %s: demoting it", oldM.Addr)
			}
			if err != nil || role["role"] != "slave" || role["master_port"] != strconv.Itoa(newM.Port) ||
				role["master_link_status"] != "up" {
				return fmt.Errorf("old master %s: role %q master_port %q link %q (%v)", oldM.Addr,
					role["role"], role["master_port"], role["master_link_status"], err)
			}
		}
		return nil
	})
	if err != nil {
		ss.fail(t, "failover not complete: %v", err)
	}
	ss.Master, ss.Replica = newM, oldM
}

func roleOf(s *Server) (map[string]string, error) {
	r, err := s.Call(DoTimeout, "INFO", "replication")
	if err != nil {
		return nil, err
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return parseInfo(r.Str), nil
}

func (s *Server) isPaused() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.paused
}

// Rejoin makes s (the set's Replica, typically an old master that was
// killed or paused during a failover) a replica of the current Master at
// once, rather than when the Sentinels get to it some seconds later: it
// starts s when it is stopped, resumes it when paused, sends REPLICAOF and
// CONFIG REWRITE, and waits until its link to the master is up. It fails
// the test, with the logs, after [SentinelTimeout].
func (ss *SentinelSet) Rejoin(t testing.TB, s *Server) {
	t.Helper()
	if !s.Running() {
		s.Start(t)
	}
	s.Resume(t)
	port := strconv.Itoa(ss.Master.Port)
	err := testenv.Eventually(SentinelTimeout, 100*time.Millisecond, func() error {
		role, err := roleOf(s)
		if err != nil {
			return err
		}
		if role["role"] != "slave" || role["master_port"] != port {
			s.Call(DoTimeout, "REPLICAOF", "127.0.0.1", port)
			s.Call(DoTimeout, "CONFIG", "REWRITE")
			return fmt.Errorf("%s: role %q master_port %q", s.Addr, role["role"], role["master_port"])
		}
		if role["master_link_status"] != "up" {
			return fmt.Errorf("%s: master_link_status %q", s.Addr, role["master_link_status"])
		}
		return nil
	})
	if err != nil {
		ss.fail(t, "rejoin: %v", err)
	}
}
