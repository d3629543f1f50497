package redistest

import (
	"fmt"
	"net/url"
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

// ClusterSet is a Redis Cluster of master nodes without replicas, started
// by [Cluster]. Its methods are safe for concurrent use; those that take a
// testing.TB must run on the test's goroutine.
type ClusterSet struct {
	// Nodes are the masters; Nodes[i] serves the i-th contiguous share of
	// the slots, from SlotRange(i).
	Nodes []*Server

	ranges [][2]int // first and last slot of each node
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
	bin := testenv.Require(t, "redis-server", "redis-server")
	cs := &ClusterSet{}
	for i := range masters {
		dir := t.TempDir()
		s := launch(t, spec{
			name:     "redis-server",
			bin:      bin,
			dir:      dir,
			password: opts.Password,
			config: func(port int) []string {
				o := opts
				o.ExtraConfig = append([]string{
					"cluster-enabled yes",
					"cluster-config-file nodes.conf",
					"cluster-node-timeout 5000",
				}, opts.ExtraConfig...)
				return redisConfig(dir, port, o)
			},
			pickPort: testenv.FreePortWithBus,
		})
		cs.Nodes = append(cs.Nodes, s)
		first, last := i*ClusterSlots/masters, (i+1)*ClusterSlots/masters-1
		cs.ranges = append(cs.ranges, [2]int{first, last})
	}
	for i, s := range cs.Nodes {
		s.DoOK(t, "CLUSTER", "SET-CONFIG-EPOCH", strconv.Itoa(i+1))
		args := []string{"CLUSTER", "ADDSLOTS"}
		for slot := cs.ranges[i][0]; slot <= cs.ranges[i][1]; slot++ {
			args = append(args, strconv.Itoa(slot))
		}
		s.DoOK(t, args...)
	}
	// Every pair meets at once rather than waiting for gossip to spread.
	for i, s := range cs.Nodes {
		for _, other := range cs.Nodes[i+1:] {
			s.DoOK(t, "CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(other.Port))
		}
	}
	cs.WaitOK(t)
	return cs
}

// WaitOK waits until every running node reports cluster_state:ok, all
// 16384 slots assigned and ok, and knows every node, and fails the test
// with each node's CLUSTER INFO and log after [ClusterTimeout].
func (cs *ClusterSet) WaitOK(t testing.TB) {
	t.Helper()
	want := strconv.Itoa(len(cs.Nodes))
	slots := strconv.Itoa(ClusterSlots)
	err := testenv.Eventually(ClusterTimeout, 50*time.Millisecond, func() error {
		for _, s := range cs.Nodes {
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
		}
		return nil
	})
	if err != nil {
		var b strings.Builder
		for _, s := range cs.Nodes {
			r, _ := s.Call(DoTimeout, "CLUSTER", "NODES")
			fmt.Fprintf(&b, "=== node %s CLUSTER NODES:\n%s\n%s", s.Addr, r.Str, s.logTail(20))
			s.logShown = true
		}
		t.Fatalf("redistest: cluster not ready: %v\n%s", err, b.String())
	}
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
