package redistest

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stickless/stickless/internal/testenv"
)

func TestStandaloneSetGet(t *testing.T) {
	t.Parallel()
	s := Standalone(t, Options{})
	if !strings.HasPrefix(s.Addr, "127.0.0.1:") {
		t.Fatalf("Addr = %q, want 127.0.0.1:port", s.Addr)
	}
	if r := s.Do(t, "SET", "k", "v"); r.Kind != KindStatus || r.Str != "OK" {
		t.Fatalf("SET: %v", r)
	}
	if r := s.Do(t, "GET", "k"); r.Kind != KindBulk || r.Str != "v" {
		t.Fatalf("GET k: %v, want \"v\"", r)
	}
	if r := s.Do(t, "GET", "missing"); !r.IsNil() {
		t.Fatalf("GET missing: %v, want nil", r)
	}
	if r := s.Do(t, "INCRBY", "n", "5"); r.Kind != KindInt || r.Int != 5 {
		t.Fatalf("INCRBY: %v", r)
	}
	if r := s.Do(t, "NOSUCHCOMMAND"); r.Err() == nil {
		t.Fatalf("NOSUCHCOMMAND: %v, want an error reply", r)
	}
	s.Do(t, "HSET", "h", "a", "1", "b", "2")
	if r := s.Do(t, "HGETALL", "h"); r.Kind != KindArray || len(r.Elems) != 4 {
		t.Fatalf("HGETALL: %v", r)
	}
	if got, want := s.Keys(t), []string{"h", "k", "n"}; !slices.Equal(got, want) {
		t.Fatalf("Keys = %v, want %v", got, want)
	}
	if got := s.URL(); got != "redis://"+s.Addr {
		t.Fatalf("URL = %q", got)
	}
	if role := s.Info(t, "replication")["role"]; role != "master" {
		t.Fatalf("role = %q, want master", role)
	}
}

func TestStandalonePassword(t *testing.T) {
	t.Parallel()
	s := Standalone(t, Options{Password: "p@ss word"})
	if r := s.Do(t, "PING"); r.Str != "PONG" {
		t.Fatalf("PING: %v", r)
	}
	if got, want := s.URL(), "redis://:p%40ss%20word@"+s.Addr; got != want {
		t.Fatalf("URL = %q, want %q", got, want)
	}
	c, err := dial(s.Addr, "", "", time.Now().Add(DoTimeout))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.do("GET", "k")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.Str, "NOAUTH") {
		t.Fatalf("GET without AUTH: %v, want NOAUTH", r)
	}
}

func TestStandaloneAOFSurvivesRestart(t *testing.T) {
	t.Parallel()
	s := Standalone(t, Options{AOF: true})
	s.DoOK(t, "SET", "kept", "1")
	s.Stop(t)
	if s.Running() {
		t.Fatal("Running after Stop")
	}
	if _, err := s.Call(time.Second, "PING"); err == nil {
		t.Fatal("PING answered after Stop")
	}
	s.Start(t)
	if r := s.Do(t, "GET", "kept"); r.Str != "1" {
		t.Fatalf("after Stop/Start: GET kept = %v, want \"1\"", r)
	}
	// appendfsync always: even a crash keeps acknowledged writes.
	s.DoOK(t, "SET", "crash", "2")
	s.Kill(t)
	s.Start(t)
	if r := s.Do(t, "GET", "crash"); r.Str != "2" {
		t.Fatalf("after Kill/Start: GET crash = %v, want \"2\"", r)
	}
}

func TestStandaloneWithoutAOFForgets(t *testing.T) {
	t.Parallel()
	s := Standalone(t, Options{})
	s.DoOK(t, "SET", "gone", "1")
	s.Restart(t)
	if r := s.Do(t, "GET", "gone"); !r.IsNil() {
		t.Fatalf("GET gone after restart without AOF = %v, want nil", r)
	}
}

func TestPauseResume(t *testing.T) {
	t.Parallel()
	s := Standalone(t, Options{})
	s.DoOK(t, "SET", "k", "v")
	s.Pause(t)
	_, err := s.Call(300*time.Millisecond, "GET", "k")
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("GET on a paused server: err = %v, want a timeout", err)
	}
	s.Resume(t)
	if r := s.Do(t, "GET", "k"); r.Str != "v" {
		t.Fatalf("GET after Resume = %v", r)
	}
	// Cleanup of a paused server must not hang.
	s.Pause(t)
}

func TestCommandStats(t *testing.T) {
	t.Parallel()
	s := Standalone(t, Options{})
	s.ResetStats(t)
	for range 3 {
		s.DoOK(t, "HSET", "h", "f", "v")
	}
	s.DoOK(t, "CLIENT", "GETNAME")
	stats := s.CommandStats(t)
	if stats["hset"] != 3 {
		t.Fatalf("hset calls = %d, want 3 (stats %v)", stats["hset"], stats)
	}
	if stats["client|getname"] != 1 {
		t.Fatalf("client|getname calls = %d, want 1 (stats %v)", stats["client|getname"], stats)
	}
	if stats["get"] != 0 {
		t.Fatalf("get calls = %d, want 0", stats["get"])
	}
	if n := SumCalls(stats, OwnCommands...); n != 4 {
		t.Fatalf("SumCalls without own commands = %d, want 4 (stats %v)", n, stats)
	}
}

func TestReplyString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		r    Reply
		want string
	}{
		{"nil", Reply{}, "nil"},
		{"status", Reply{Kind: KindStatus, Str: "OK"}, "OK"},
		{"error", Reply{Kind: KindError, Str: "ERR x"}, "(error) ERR x"},
		{"int", Reply{Kind: KindInt, Int: -3}, "(integer) -3"},
		{"bulk", Reply{Kind: KindBulk, Str: "a b"}, `"a b"`},
		{"array", Reply{Kind: KindArray, Elems: []Reply{{Kind: KindBulk, Str: "x"}, {}}}, `["x" nil]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.String(); got != tt.want {
				t.Fatalf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCluster(t *testing.T) {
	t.Parallel()
	cs := ClusterWith(t, 3, Options{Password: "pw"})
	if len(cs.Nodes) != 3 || len(cs.Addrs()) != 3 {
		t.Fatalf("nodes = %d", len(cs.Nodes))
	}
	covered := 0
	for i, s := range cs.Nodes {
		info := parseInfo(s.DoOK(t, "CLUSTER", "INFO").Str)
		if info["cluster_state"] != "ok" || info["cluster_slots_ok"] != "16384" || info["cluster_known_nodes"] != "3" {
			t.Fatalf("node %d CLUSTER INFO: %v", i, info)
		}
		first, last := cs.SlotRange(i)
		covered += last - first + 1
	}
	if covered != ClusterSlots {
		t.Fatalf("slot ranges cover %d slots, want %d", covered, ClusterSlots)
	}
	// CLUSTER SLOTS, as a client sees it: every slot served, by our nodes.
	r := cs.Nodes[1].DoOK(t, "CLUSTER", "SLOTS")
	total := 0
	for _, e := range r.Elems {
		total += int(e.Elems[1].Int-e.Elems[0].Int) + 1
		addr := net.JoinHostPort(e.Elems[2].Elems[0].Str, strconv.FormatInt(e.Elems[2].Elems[1].Int, 10))
		if !slices.Contains(cs.Addrs(), addr) {
			t.Fatalf("CLUSTER SLOTS names %s, not one of %v", addr, cs.Addrs())
		}
	}
	if total != ClusterSlots {
		t.Fatalf("CLUSTER SLOTS covers %d slots, want %d", total, ClusterSlots)
	}
	// A key is written on the node that owns its slot, redirected elsewhere.
	owner := cs.NodeFor(t, "{user1}:a")
	owner.DoOK(t, "SET", "{user1}:a", "1")
	owner.DoOK(t, "SET", "{user1}:b", "2")
	for _, s := range cs.Nodes {
		if s != owner {
			if r := s.Do(t, "GET", "{user1}:a"); !strings.HasPrefix(r.Str, "MOVED") {
				t.Fatalf("GET on a non-owner: %v, want MOVED", r)
			}
		}
	}
	if got, want := cs.Keys(t), []string{"{user1}:a", "{user1}:b"}; !slices.Equal(got, want) {
		t.Fatalf("Keys = %v, want %v", got, want)
	}
	if u := cs.URL(); !strings.HasPrefix(u, "redis://:pw@"+cs.Nodes[0].Addr+"?addr=") {
		t.Fatalf("URL = %q", u)
	}
}

func TestSentinel(t *testing.T) {
	t.Parallel()
	ss := SentinelWith(t, SentinelOptions{Options: Options{Password: "pw"}})
	if len(ss.SentinelAddrs()) != 3 || ss.MasterName != "mymaster" {
		t.Fatalf("set = %+v", ss)
	}
	for _, s := range ss.Sentinels {
		r := s.DoOK(t, "SENTINEL", "get-master-addr-by-name", "mymaster")
		if got := strings.Join(r.Strings(), ":"); got != ss.Master.Addr {
			t.Fatalf("sentinel %s: master %s, want %s", s.Addr, got, ss.Master.Addr)
		}
	}
	ss.Master.DoOK(t, "SET", "k", "v")
	if role := ss.Replica.Info(t, "replication")["role"]; role != "slave" {
		t.Fatalf("replica role = %q", role)
	}

	old := ss.Master
	ss.Failover(t)
	if ss.Replica != old || ss.MasterAddr(t) != ss.Master.Addr {
		t.Fatalf("after Failover: master %s (sentinels say %s), replica %s", ss.Master.Addr, ss.MasterAddr(t), ss.Replica.Addr)
	}
	if r := ss.Master.Do(t, "GET", "k"); r.Str != "v" {
		t.Fatalf("GET k on the new master = %v", r)
	}
	ss.Master.DoOK(t, "SET", "k2", "v2")

	// A crashed master: the Sentinels promote the replica by themselves.
	old = ss.Master
	old.Kill(t)
	ss.WaitPromoted(t)
	if ss.Replica != old || ss.MasterAddr(t) != ss.Master.Addr {
		t.Fatalf("after Kill: master %s (sentinels say %s)", ss.Master.Addr, ss.MasterAddr(t))
	}
	ss.Rejoin(t, old)
	if r := old.Do(t, "GET", "k2"); r.Str != "v2" {
		t.Fatalf("GET k2 on the rejoined replica = %v", r)
	}
}

// TestACLUser: with a User, the default user is off (NOAUTH without
// credentials) and the harness authenticates as the user.
func TestACLUser(t *testing.T) {
	s := Standalone(t, Options{User: "admin", Password: "pw1", ExtraConfig: []string{`user app on ">pw2" ~app:* +set +get`}})
	if r := s.DoOK(t, "ACL", "WHOAMI"); r.Str != "admin" {
		t.Fatalf("ACL WHOAMI = %v", r)
	}
	anon := &Server{Addr: s.Addr}
	if r, err := anon.Call(DoTimeout, "PING"); err != nil || !strings.HasPrefix(r.Str, "NOAUTH") {
		t.Fatalf("PING without credentials: %v, %v; want NOAUTH", r, err)
	}
	app := &Server{Addr: s.Addr, User: "app", Password: "pw2"}
	if r, err := app.Call(DoTimeout, "SET", "other:1", "x"); err != nil || !strings.HasPrefix(r.Str, "NOPERM") {
		t.Fatalf("app user SET outside its keys: %v, %v; want NOPERM", r, err)
	}
}

// TestClusterReplicas: a cluster with a replica per master, with an ACL
// user, fails over to the replica when its master is killed.
func TestClusterReplicas(t *testing.T) {
	cs := NewCluster(t, ClusterOptions{Options: Options{User: "admin", Password: "pw"}, Masters: 3, Replicas: 1})
	if len(cs.Replicas) != 3 {
		t.Fatalf("%d replicas, want 3", len(cs.Replicas))
	}
	for i, r := range cs.Replicas {
		role := parseInfo(r.DoOK(t, "INFO", "replication").Str)
		if role["role"] != "slave" || role["master_port"] != strconv.Itoa(cs.Nodes[i].Port) {
			t.Fatalf("replica %d: %v", i, role)
		}
	}
	cs.Nodes[0].Kill(t)
	err := testenv.Eventually(ClusterTimeout, 100*time.Millisecond, func() error {
		role := parseInfo(cs.Replicas[0].DoOK(t, "INFO", "replication").Str)
		if role["role"] != "master" {
			return fmt.Errorf("replica role %q", role["role"])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSentinelTwoReplicas: a set with two replicas and an ACL user fails
// over after the master is killed; WaitFailover finds the new master.
func TestSentinelTwoReplicas(t *testing.T) {
	ss := SentinelWith(t, SentinelOptions{Options: Options{User: "admin", Password: "pw"}, Replicas: 2})
	old := ss.Master
	ss.Master.DoOK(t, "SET", "k", "v")
	ss.Master.DoOK(t, "WAIT", "2", "5000")
	old.Kill(t)
	if err := ss.WaitFailover(SentinelTimeout); err != nil {
		t.Fatal(err)
	}
	if ss.Master == old || ss.Replicas[0] != old || len(ss.Replicas) != 2 {
		t.Fatalf("after WaitFailover: master %s, replicas %v", ss.Master.Addr, ss.Replicas)
	}
	if r := ss.Master.DoOK(t, "GET", "k"); r.Str != "v" {
		t.Fatalf("GET k on the new master: %v", r)
	}
}

// TestACLUserAOF: with the default user off, a transaction (as Redis
// writes scripts' effects to the AOF) survives a crash and a restart.
func TestACLUserAOF(t *testing.T) {
	s := Standalone(t, Options{AOF: true, User: "admin", Password: "pw"})
	s.DoOK(t, "EVAL", "redis.call('SET', KEYS[1], 'a'); redis.call('SET', KEYS[2], 'b')", "2", "k1", "k2")
	s.Kill(t)
	s.Start(t)
	if r := s.DoOK(t, "MGET", "k1", "k2"); len(r.Elems) != 2 || r.Elems[0].Str != "a" || r.Elems[1].Str != "b" {
		t.Fatalf("after a crash and a restart from the AOF: MGET k1 k2 = %v, want a b\n%s", r, s.Log(10))
	}
}
