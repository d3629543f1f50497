package redistest

import (
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stickless/stickless/internal/testenv"
)

// ClusterSlots is the number of hash slots of a Redis Cluster.
const ClusterSlots = 16384

// ClusterTimeout bounds the wait for a new cluster to reach
// cluster_state:ok on every node.
const ClusterTimeout = 30 * time.Second

// ClusterSet is a Redis Cluster started by [Cluster] or [NewCluster]. Its
// methods are safe for concurrent use; those that take a testing.TB must
// run on the test's goroutine.
type ClusterSet struct {
	// Nodes are the masters as started; Nodes[i] serves the i-th contiguous
	// share of the slots, from SlotRange(i). The package never moves slots
	// or follows a failover: after one, ask the nodes for their role.
	Nodes []*Server
	// Replicas are the replicas as started: Replicas[i*r+j] is the j-th
	// replica of Nodes[i], for r replicas per master. Default: none.
	Replicas []*Server

	ranges [][2]int // first and last slot of each node
}

// ClusterOptions configures a cluster started by [NewCluster].
type ClusterOptions struct {
	// Options apply to every node (AOF, Password, User, Include, and
	// ExtraConfig after the cluster settings). A Password also becomes the
	// replicas' masterauth, a User their masteruser.
	Options
	// Masters is the number of masters. Default: 3.
	Masters int
	// Replicas is the number of replicas of each master. Default: 0.
	Replicas int
}

// Cluster starts masters cluster-enabled redis-server nodes (no replicas),
// each on a free 127.0.0.1 port whose cluster bus port (+10000) is free too,
// in its own t.TempDir(). It joins them itself over RESP (CLUSTER
// SET-CONFIG-EPOCH, CLUSTER MEET, CLUSTER ADDSLOTS: redis-cli is not
// needed), splits the 16384 slots into contiguous equal shares, and waits
// until every node reports cluster_state:ok with all slots assigned and all
// nodes known. The nodes have cluster-node-timeout 5000 and no
// persistence. Cluster skips the test when redis-server is missing and
// fails it, with the nodes' CLUSTER INFO and logs, when the cluster is not
// ready within [ClusterTimeout]. All nodes are killed when the test ends.
func Cluster(t testing.TB, masters int) *ClusterSet {
	t.Helper()
	return ClusterWith(t, masters, Options{})
}

// ClusterWith is [Cluster] with options applied to every node (AOF,
// Password, ExtraConfig after the cluster settings).
func ClusterWith(t testing.TB, masters int, opts Options) *ClusterSet {
	t.Helper()
	if masters < 1 {
		t.Fatalf("redistest: Cluster needs at least one master, got %d", masters)
	}
	return NewCluster(t, ClusterOptions{Options: opts, Masters: masters})
}

// NewCluster is [Cluster] with replicas: each replica is joined with
// CLUSTER REPLICATE, and the wait also covers every replica's link to its
// master.
func NewCluster(t testing.TB, opts ClusterOptions) *ClusterSet {
	t.Helper()
	testenv.Require(t, "redis-server", "redis-server")
	cs, err := StartCluster(func() (string, error) { return t.TempDir(), nil }, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range cs.All() {
		t.Cleanup(func() { s.cleanup(t) })
	}
	return cs
}

// All returns every node as started: the masters, then the replicas.
func (cs *ClusterSet) All() []*Server {
	return append(slices.Clip(cs.Nodes), cs.Replicas...)
}

// Close kills every node; programs defer it.
func (cs *ClusterSet) Close() error {
	var errs []error
	for _, s := range cs.All() {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// StartCluster is [NewCluster] for programs: each node lives in a
// directory that newDir makes. On failure nothing is left running and the
// error carries the logs. The caller stops the cluster
// ([ClusterSet.Close]).
func StartCluster(newDir func() (string, error), opts ClusterOptions) (cs *ClusterSet, err error) {
	if opts.Masters == 0 {
		opts.Masters = 3
	}
	bin, lerr := exec.LookPath("redis-server")
	if lerr != nil {
		return nil, errors.New("redistest: redis-server not found; install it: apt-get install -y redis-server")
	}
	cs = &ClusterSet{}
	defer func() {
		if err != nil {
			cs.Close()
		}
	}()
	extra := []string{
		"cluster-enabled yes",
		"cluster-config-file nodes.conf",
		"cluster-node-timeout 5000",
	}
	if opts.Replicas > 0 {
		extra = append(extra, "repl-diskless-sync-delay 0")
		if opts.Password != "" {
			extra = append(extra, "masterauth "+quote(opts.Password))
		}
		if opts.User != "" {
			extra = append(extra, "masteruser "+opts.User)
		}
	}
	next := opts.Port
	node := func() (*Server, error) {
		port := next
		if next != 0 {
			next++
		}
		dir, err := newDir()
		if err != nil {
			return nil, err
		}
		return launchErr(spec{
			name:     "redis-server",
			bin:      bin,
			dir:      dir,
			user:     opts.User,
			password: opts.Password,
			config: func(port int) []string {
				o := opts.Options
				o.ExtraConfig = append(slices.Clip(extra), opts.ExtraConfig...)
				return redisConfig(dir, port, o)
			},
			pickPort:  portPicker(port, testenv.FreePortWithBusErr),
			fixedPort: port,
		})
	}
	masters := opts.Masters
	for i := range masters {
		s, err := node()
		if err != nil {
			return cs, err
		}
		cs.Nodes = append(cs.Nodes, s)
		first, last := i*ClusterSlots/masters, (i+1)*ClusterSlots/masters-1
		cs.ranges = append(cs.ranges, [2]int{first, last})
	}
	for range masters * opts.Replicas {
		s, err := node()
		if err != nil {
			return cs, err
		}
		cs.Replicas = append(cs.Replicas, s)
	}
	for i, s := range cs.Nodes {
		if err := s.callOK("CLUSTER", "SET-CONFIG-EPOCH", strconv.Itoa(i+1)); err != nil {
			return cs, err
		}
		if err := s.callOK("CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(cs.ranges[i][0]), strconv.Itoa(cs.ranges[i][1])); err != nil {
			return cs, err
		}
	}
	// Every pair meets at once rather than waiting for gossip to spread.
	all := cs.All()
	for i, s := range all {
		for _, other := range all[i+1:] {
			if err := s.callOK("CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(other.Port)); err != nil {
				return cs, err
			}
		}
	}
	for i, r := range cs.Replicas {
		m := cs.Nodes[i/opts.Replicas]
		id, err := m.Call(DoTimeout, "CLUSTER", "MYID")
		if err != nil {
			return cs, err
		}
		// The replica must know its master before it can follow it.
		err = testenv.Eventually(ClusterTimeout, 50*time.Millisecond, func() error {
			return r.callOK("CLUSTER", "REPLICATE", id.Str)
		})
		if err != nil {
			return cs, fmt.Errorf("redistest: %s: CLUSTER REPLICATE %s: %v", r.Addr, m.Addr, err)
		}
	}
	return cs, cs.waitOKErr()
}

// callOK sends one command and returns an error for a failure or an error
// reply.
func (s *Server) callOK(args ...string) error {
	r, err := s.Call(DoTimeout, args...)
	if err == nil {
		err = r.Err()
	}
	if err != nil {
		return fmt.Errorf("redistest: %s on %s: %s: %v", s.name, s.Addr, strings.Join(args, " "), err)
	}
	return nil
}

// WaitOK waits until every running node reports cluster_state:ok, all
// 16384 slots assigned and ok, and knows every node, and every running
// replica's link to its master is up; it fails the test with each node's
// CLUSTER NODES and log after [ClusterTimeout].
func (cs *ClusterSet) WaitOK(t testing.TB) {
	t.Helper()
	if err := cs.waitOKErr(); err != nil {
		t.Fatal(err)
	}
}

// WaitOKErr is [ClusterSet.WaitOK] for programs, with its own timeout.
func (cs *ClusterSet) WaitOKErr(timeout time.Duration) error {
	return cs.waitOKTimeout(timeout)
}

func (cs *ClusterSet) waitOKErr() error { return cs.waitOKTimeout(ClusterTimeout) }

func (cs *ClusterSet) waitOKTimeout(timeout time.Duration) error {
	all := cs.All()
	want := strconv.Itoa(len(all))
	slots := strconv.Itoa(ClusterSlots)
	err := testenv.Eventually(timeout, 50*time.Millisecond, func() error {
		for _, s := range all {
			if !s.Running() {
				continue
			}
			r, err := s.Call(DoTimeout, "CLUSTER", "INFO")
			if err != nil {
				return fmt.Errorf("%s: %w", s.Addr, err)
			}
			info := parseInfo(r.Str)
			if info["cluster_state"] != "ok" || info["cluster_slots_assigned"] != slots ||
				info["cluster_slots_ok"] != slots || info["cluster_known_nodes"] != want {
				return fmt.Errorf("%s: cluster_state:%s slots_assigned:%s slots_ok:%s known_nodes:%s",
					s.Addr, info["cluster_state"], info["cluster_slots_assigned"],
					info["cluster_slots_ok"], info["cluster_known_nodes"])
			}
			role, err := roleOf(s)
			if err != nil {
				return fmt.Errorf("%s: %w", s.Addr, err)
			}
			if role["role"] == "slave" && role["master_link_status"] != "up" {
				return fmt.Errorf("%s: replica link %q", s.Addr, role["master_link_status"])
			}
		}
		return nil
	})
	if err != nil {
		var b strings.Builder
		for _, s := range all {
			r, _ := s.Call(DoTimeout, "CLUSTER", "NODES")
			fmt.Fprintf(&b, "=== node %s CLUSTER NODES:\n%s\n%s", s.Addr, r.Str, s.logTail(20))
			s.logShown = true
		}
		return fmt.Errorf("redistest: cluster not ready: %v\n%s", err, b.String())
	}
	return nil
}

// Addrs returns the nodes' "127.0.0.1:port" addresses, in node order.
func (cs *ClusterSet) Addrs() []string {
	addrs := make([]string, len(cs.Nodes))
	for i, s := range cs.Nodes {
		addrs[i] = s.Addr
	}
	return addrs
}

// URL returns the cluster as one URL in the form go-redis's
// ParseClusterURL and rueidis's ParseURL read: the first node as host and
// the others as repeated addr parameters,
// "redis://127.0.0.1:p1?addr=127.0.0.1%3Ap2&addr=127.0.0.1%3Ap3", with
// ":password@" before the host when the nodes have a password.
func (cs *ClusterSet) URL() string {
	u := url.URL{Scheme: "redis", Host: cs.Nodes[0].Addr}
	if pw := cs.Nodes[0].Password; pw != "" {
		u.User = url.UserPassword("", pw)
	}
	q := url.Values{}
	for _, s := range cs.Nodes[1:] {
		q.Add("addr", s.Addr)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// SlotRange returns the first and last slot that node i was given.
func (cs *ClusterSet) SlotRange(i int) (first, last int) {
	return cs.ranges[i][0], cs.ranges[i][1]
}

// NodeFor returns the node that serves key's slot (as assigned by
// [Cluster]; slots are never moved by this package), asking a node for
// the slot with CLUSTER KEYSLOT.
func (cs *ClusterSet) NodeFor(t testing.TB, key string) *Server {
	t.Helper()
	slot := int(cs.Nodes[0].DoOK(t, "CLUSTER", "KEYSLOT", key).Int)
	for i, r := range cs.ranges {
		if slot >= r[0] && slot <= r[1] {
			return cs.Nodes[i]
		}
	}
	t.Fatalf("redistest: no node serves slot %d", slot)
	return nil
}

// CommandStats returns the sum over all nodes of [Server.CommandStats].
func (cs *ClusterSet) CommandStats(t testing.TB) map[string]int64 {
	t.Helper()
	sum := make(map[string]int64)
	for _, s := range cs.Nodes {
		for k, v := range s.CommandStats(t) {
			sum[k] += v
		}
	}
	return sum
}

// ResetStats runs [Server.ResetStats] on every node.
func (cs *ClusterSet) ResetStats(t testing.TB) {
	t.Helper()
	for _, s := range cs.Nodes {
		s.ResetStats(t)
	}
}

// Keys returns the keys of every node, sorted (SCAN on each node, never
// KEYS).
func (cs *ClusterSet) Keys(t testing.TB) []string {
	t.Helper()
	var keys []string
	for _, s := range cs.Nodes {
		keys = append(keys, s.Keys(t)...)
	}
	slices.Sort(keys)
	return keys
}

// FlushAll runs FLUSHALL on every node.
func (cs *ClusterSet) FlushAll(t testing.TB) {
	t.Helper()
	for _, s := range cs.Nodes {
		s.FlushAll(t)
	}
}
