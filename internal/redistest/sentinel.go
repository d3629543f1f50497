package redistest

import (
	"errors"
	"fmt"
	"net/url"
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
	// Options apply to the master and the replicas alike (a Password also
	// becomes the replicas' masterauth and the Sentinels' auth-pass, a User
	// their masteruser and auth-user; with a User the Sentinels themselves
	// get the same ACL user, the default user off, and authenticate to each
	// other with it). Default: no AOF, no password.
	Options
	// Replicas is the number of replicas of the master. Default: 1.
	Replicas int
	// SentinelConfig holds raw sentinel.conf lines appended to each
	// Sentinel's own, for example more ACL users. Default: none.
	SentinelConfig []string
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

// SentinelSet is one master, its replicas and the Sentinels that monitor
// them, started by [Sentinel]. Master and Replica follow the roles: a
// [SentinelSet.Failover] or [SentinelSet.WaitPromoted] swaps them (with one
// replica); [SentinelSet.WaitFailover] reorders Master and Replicas (with
// any number). A SentinelSet is not safe for concurrent use.
type SentinelSet struct {
	MasterName string // "mymaster"
	Master     *Server
	Replica    *Server   // Replicas[0]
	Replicas   []*Server // every replica
	Sentinels  []*Server // with the set's User and Password, if any
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
	testenv.Require(t, "redis-server", "redis-server")
	ss, err := StartSentinel(func() (string, error) { return t.TempDir(), nil }, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ss.all() {
		t.Cleanup(func() { s.cleanup(t) })
	}
	return ss
}

// all returns every server of the set: master, replicas, Sentinels.
func (ss *SentinelSet) all() []*Server {
	return append(append([]*Server{ss.Master}, ss.Replicas...), ss.Sentinels...)
}

// Close kills every server of the set; programs defer it.
func (ss *SentinelSet) Close() error {
	var errs []error
	for _, s := range ss.all() {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}

// StartSentinel is [SentinelWith] for programs: each server lives in a
// directory that newDir makes. On failure nothing is left running and the
// error carries the logs. The caller stops the set ([SentinelSet.Close]).
func StartSentinel(newDir func() (string, error), opts SentinelOptions) (ss *SentinelSet, err error) {
	if opts.Sentinels == 0 {
		opts.Sentinels = 3
	}
	if opts.Quorum == 0 {
		opts.Quorum = 2
	}
	if opts.Replicas == 0 {
		opts.Replicas = 1
	}
	if opts.DownAfter == 0 {
		opts.DownAfter = 3 * time.Second
	}
	if opts.FailoverTimeout == 0 {
		opts.FailoverTimeout = 10 * time.Second
	}
	redisBin, lerr := exec.LookPath("redis-server")
	if lerr != nil {
		return nil, errors.New("redistest: redis-server not found; install it: apt-get install -y redis-server")
	}
	ss = &SentinelSet{MasterName: MasterName}
	defer func() {
		if err != nil {
			ss.Close()
		}
	}()
	// Every server may end up as either role after a failover: all get
	// the master's credentials and start a full sync at once (no 5 s wait
	// for more replicas).
	mopts := opts.Options
	mopts.ExtraConfig = []string{"repl-diskless-sync-delay 0"}
	if opts.Password != "" {
		mopts.ExtraConfig = append(mopts.ExtraConfig, "masterauth "+quote(opts.Password))
	}
	if opts.User != "" {
		mopts.ExtraConfig = append(mopts.ExtraConfig, "masteruser "+opts.User)
	}
	mopts.ExtraConfig = append(mopts.ExtraConfig, opts.ExtraConfig...)
	dir, err := newDir()
	if err != nil {
		return ss, err
	}
	if ss.Master, err = StartStandalone(dir, mopts); err != nil {
		return ss, err
	}
	for i := range opts.Replicas {
		ropts := mopts
		if opts.Port != 0 {
			ropts.Port = opts.Port + 1 + i
		}
		ropts.ExtraConfig = append(slices.Clip(mopts.ExtraConfig), "replicaof 127.0.0.1 "+strconv.Itoa(ss.Master.Port))
		if dir, err = newDir(); err != nil {
			return ss, err
		}
		r, err := StartStandalone(dir, ropts)
		if err != nil {
			return ss, err
		}
		ss.Replicas = append(ss.Replicas, r)
	}
	ss.Replica = ss.Replicas[0]

	bin, args := redisBin, []string{"--sentinel"}
	if p, err := exec.LookPath("redis-sentinel"); err == nil {
		bin, args = p, nil
	}
	for i := range opts.Sentinels {
		port := 0
		if opts.Port != 0 {
			port = opts.Port + 20000 + i
		}
		dir, err := newDir()
		if err != nil {
			return ss, err
		}
		// The Sentinels get credentials only with an ACL user (see
		// sentinelConfig); a bare Password is the data servers' alone.
		pw := ""
		if opts.User != "" {
			pw = opts.Password
		}
		s, err := launchErr(spec{
			name:      "redis-sentinel",
			bin:       bin,
			extraArgs: args,
			dir:       dir,
			user:      opts.User,
			password:  pw,
			config: func(port int) []string {
				return sentinelConfig(dir, port, ss.Master.Port, opts)
			},
			pickPort:  portPicker(port, testenv.FreePortErr),
			fixedPort: port,
		})
		if err != nil {
			return ss, err
		}
		ss.Sentinels = append(ss.Sentinels, s)
	}
	return ss, ss.waitReadyErr()
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
	if opts.User != "" {
		lines = append(lines, fmt.Sprintf("sentinel auth-user %s %s", MasterName, opts.User))
		// The Sentinels' own ACL: the same user, which they also use to
		// talk to each other.
		lines = append(lines, authConfig(opts.User, opts.Password)...)
		lines = append(lines, "sentinel sentinel-user "+opts.User, "sentinel sentinel-pass "+quote(opts.Password))
	}
	return append(lines, opts.SentinelConfig...)
}

// SentinelAddrs returns the Sentinels' "127.0.0.1:port" addresses.
func (ss *SentinelSet) SentinelAddrs() []string {
	addrs := make([]string, len(ss.Sentinels))
	for i, s := range ss.Sentinels {
		addrs[i] = s.Addr
	}
	return addrs
}

// URL returns the set as one URL in rueidis's ParseURL form: the first
// Sentinel as host, the others as repeated addr parameters, and the master
// set as master_set, with the master's credentials (and the Sentinels',
// the same) when the set has them.
func (ss *SentinelSet) URL() string {
	s := ss.Sentinels[0]
	u := url.URL{Scheme: "redis", Host: s.Addr}
	q := url.Values{}
	for _, o := range ss.Sentinels[1:] {
		q.Add("addr", o.Addr)
	}
	q.Set("master_set", ss.MasterName)
	if s.Password != "" {
		u.User = url.UserPassword(s.User, s.Password)
		if s.User != "" {
			q.Set("sentinel_username", s.User)
		}
		q.Set("sentinel_password", s.Password)
	}
	u.RawQuery = q.Encode()
	return u.String()
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

// sentinelReady checks that s sees ss.Master as master, each replica as
// its healthy replica and all the other Sentinels.
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
		m["num-other-sentinels"] != strconv.Itoa(len(ss.Sentinels)-1) || m["num-slaves"] != strconv.Itoa(len(ss.Replicas)) {
		return fmt.Errorf("SENTINEL MASTER: addr %s:%s flags %s num-slaves %s num-other-sentinels %s",
			m["ip"], m["port"], m["flags"], m["num-slaves"], m["num-other-sentinels"])
	}
	r, err = s.Call(DoTimeout, "SENTINEL", "REPLICAS", ss.MasterName)
	if err != nil {
		return err
	}
	seen := make(map[string]map[string]string)
	for _, e := range r.Elems {
		rm := pairs(e)
		seen[rm["ip"]+":"+rm["port"]] = rm
	}
	for _, rep := range ss.Replicas {
		rm, ok := seen[rep.Addr]
		if !ok {
			return fmt.Errorf("replica %s not known yet", rep.Addr)
		}
		if rm["flags"] != "slave" || rm["master-link-status"] != "ok" {
			return fmt.Errorf("replica %s: flags %s master-link-status %s", rep.Addr, rm["flags"], rm["master-link-status"])
		}
	}
	return nil
}

func (ss *SentinelSet) waitReadyErr() error {
	err := testenv.Eventually(SentinelTimeout, 100*time.Millisecond, func() error {
		for _, s := range ss.Sentinels {
			if err := ss.sentinelReady(s); err != nil {
				return fmt.Errorf("sentinel %s: %w", s.Addr, err)
			}
		}
		return nil
	})
	if err != nil {
		return ss.failure("Sentinel set not ready: %v", err)
	}
	return nil
}

// failure returns an error with the logs of every process of the set.
func (ss *SentinelSet) failure(format string, args ...any) error {
	var b strings.Builder
	for _, s := range ss.all() {
		fmt.Fprintf(&b, "=== %s on %s\n%s", s.name, s.Addr, s.logTail(20))
		s.logShown = true
	}
	return fmt.Errorf("redistest: "+format+"\n%s", append(args, b.String())...)
}

// fail fails the test with the logs of every process of the set.
func (ss *SentinelSet) fail(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Fatal(ss.failure(format, args...))
}

// WaitFailover waits, up to timeout, until every running Sentinel reports
// as master a server other than the current Master, and that server says
// role:master; then it makes that server the Master and the others
// (the old master first) the Replicas. Use it after killing or pausing the
// master, or a SENTINEL FAILOVER, with any number of replicas. It does not
// wait for the old master to rejoin as a replica: the Sentinels reconfigure
// it when it answers again.
func (ss *SentinelSet) WaitFailover(timeout time.Duration) error {
	old := ss.Master
	var next *Server
	err := testenv.Eventually(timeout, 100*time.Millisecond, func() error {
		addr := ""
		for _, s := range ss.Sentinels {
			if !s.Running() {
				continue
			}
			a, err := ss.masterAddrFrom(s)
			if err != nil {
				return fmt.Errorf("sentinel %s: %w", s.Addr, err)
			}
			if addr != "" && a != addr {
				return fmt.Errorf("sentinels disagree: %s and %s", addr, a)
			}
			addr = a
		}
		if addr == old.Addr || addr == "" {
			return fmt.Errorf("sentinels still report %s", old.Addr)
		}
		next = nil
		for _, r := range ss.Replicas {
			if r.Addr == addr {
				next = r
			}
		}
		if next == nil {
			return fmt.Errorf("sentinels report %s, not a server of the set", addr)
		}
		if role, err := roleOf(next); err != nil || role["role"] != "master" {
			return fmt.Errorf("new master %s: role %q (%v)", next.Addr, role["role"], err)
		}
		return nil
	})
	if err != nil {
		return ss.failure("failover not complete: %v", err)
	}
	reps := []*Server{old}
	for _, r := range ss.Replicas {
		if r != next {
			reps = append(reps, r)
		}
	}
	ss.Master, ss.Replicas, ss.Replica = next, reps, reps[0]
	return nil
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
	ss.Replicas = append([]*Server{oldM}, slices.DeleteFunc(slices.Clone(ss.Replicas), func(s *Server) bool { return s == newM || s == oldM })...)
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
	return s.proc.Paused()
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
