package redisstore

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stickless/stickless/internal/redistest"
	"github.com/stickless/stickless/session"
)

// clientOf is the client address of a MONITOR line ("[0 127.0.0.1:port]").
func clientOf(line string) string {
	_, rest, _ := strings.Cut(line, "[")
	f := strings.Fields(rest)
	if len(f) < 2 {
		return ""
	}
	return strings.TrimSuffix(f[1], "]")
}

// waitsOnSameConnection checks, with MONITOR on srv, that each deletion
// (the EVALSHA that names key) is followed by a WAIT on the same
// connection, and that without enough replicas the call says so.
func waitsOnSameConnection(t *testing.T, srv *redistest.Server, s *Store, key string, call func() error) {
	t.Helper()
	mon := srv.Monitor(t)
	err := call()
	if !errors.Is(err, ErrNotReplicated) {
		t.Errorf("deletion with WaitReplicas 1 and no replica: %v, want ErrNotReplicated", err)
	}
	lines := mon.Until(t)
	del := ""
	for _, l := range lines {
		switch {
		case strings.Contains(l, `"EVALSHA"`) && strings.Contains(l, key):
			del = clientOf(l)
		case del != "" && strings.Contains(l, `"WAIT"`) && clientOf(l) == del:
			return
		}
	}
	t.Errorf("no WAIT after the deletion on its connection; MONITOR saw %q", lines)
}

// TestWaitSameConnection: with Options.WaitReplicas, Destroy, a renewal's
// take and DestroyUser send a WAIT on the connection that carried the
// deletion (WAIT only covers that connection's writes), on standalone and
// on the key's Cluster node (through rueidis's Dedicated).
func TestWaitSameConnection(t *testing.T) {
	opts := Options{WaitReplicas: 1, WaitTimeout: 50 * time.Millisecond}
	run := func(t *testing.T, url string, node func(key string) *redistest.Server) {
		s := newStore(t, url, opts)
		ctx := t.Context()
		lim := long
		for _, tc := range []struct {
			name string
			call func(key string) error
		}{
			{"Destroy", func(k string) error { return s.Destroy(ctx, k) }},
			{"renew", func(k string) error { _, err := s.trenew(ctx, k, newKey(), session.Write{}, lim); return err }},
			{"DestroyUser", func(string) error { _, err := s.DestroyUser(ctx, "wu", ""); return err }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				k := newKey()
				if err := s.tcreate(ctx, k, session.Write{User: "wu"}, lim); err != nil {
					t.Fatal(err)
				}
				waitsOnSameConnection(t, node(s.sessionKey(k)), s, k, func() error { return tc.call(k) })
				if _, ok, _ := s.Load(ctx, k, lim); ok {
					t.Errorf("the session outlived its deletion")
				}
			})
		}
	}
	t.Run("standalone", func(t *testing.T) {
		srv := redistest.Standalone(t, redistest.Options{})
		run(t, srv.URL(), func(string) *redistest.Server { return srv })
	})
	t.Run("cluster", func(t *testing.T) {
		cs := redistest.Cluster(t, 3)
		run(t, cs.URL(), func(k string) *redistest.Server { return cs.NodeFor(t, k) })
	})
}

// TestRevokeSurvivesFailover: a revoke (DestroyUser), then the master
// SIGKILLed at once and Sentinel's failover. With Options.WaitReplicas the
// revoke returns once the replica has the deletion, so the session stays
// dead on the new master. Without it the test reports what happened. In
// "natural" runs the replica's link is up: on loopback the deletion
// reaches it within the event-loop pass that answers the revoke, so the
// session usually stays dead without the setting too, but nothing makes
// sure of it. In "link cut" runs the master drops the replica's link
// (CLIENT KILL TYPE replica) just before the revoke, as a network blip
// would: the replica reconnects within a second (its replication cron),
// so WAIT returns once it has caught up, while without it the master dies
// before the replica got the deletion.
func TestRevokeSurvivesFailover(t *testing.T) {
	for _, tc := range []struct {
		name string
		wait int
		cut  bool
	}{
		{"natural/wait", 1, false},
		{"natural/no wait", 0, false},
		{"link cut/wait", 1, true},
		{"link cut/no wait", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ss := redistest.Sentinel(t)
			url := ss.URL()
			s := newStore(t, url, Options{WaitReplicas: tc.wait, WaitTimeout: 3 * time.Second})
			ctx := t.Context()
			k := newKey()
			if err := s.tcreate(ctx, k, session.Write{User: "eve", Set: vals("a", "1")}, long); err != nil {
				t.Fatal(err)
			}
			ss.Master.DoOK(t, "WAIT", "1", "5000") // the replica has the session
			if tc.cut {
				ss.Master.DoOK(t, "CLIENT", "KILL", "TYPE", "replica")
			}
			n, err := s.DestroyUser(ctx, "eve", "")
			ss.Master.Kill(t)
			if err != nil || n != 1 {
				t.Fatalf("DestroyUser = %d, %v", n, err)
			}
			ss.WaitPromoted(t)
			back := ss.Master.Do(t, "EXISTS", s.sessionKey(k)).Int == 1
			switch {
			case tc.wait > 0 && back:
				t.Errorf("the revoked session is back after the failover, though %d replica acknowledged its deletion", tc.wait)
			case back:
				t.Logf("without WaitReplicas: the revoked session came back after the failover")
			default:
				t.Logf("WaitReplicas %d: the revoked session stayed dead after the failover", tc.wait)
			}
		})
	}
}
