package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stickless/stickless/internal/redistest"
	"github.com/stickless/stickless/internal/testenv"
	"github.com/stickless/stickless/internal/topology"
)

// TestStoreACL runs every kind of store call of the demo through nginx, in
// each Redis mode of `make cluster`, with the instances connected as the
// limited ACL user of internal/topology/acl.go: each call succeeds and no
// instance logs a NOPERM. A command that redisstore starts to send, and
// that the ACL rule does not grant, fails here.
func TestStoreACL(t *testing.T) {
	testenv.Require(t, "redis-server", "redis-server")
	findNginx(t)
	for _, mode := range []topology.Mode{topology.Standalone, topology.Sentinel, topology.Cluster} {
		t.Run(string(mode), func(t *testing.T) {
			dir := t.TempDir()
			secrets := filepath.Join(dir, "secrets")
			c := &cluster{dir: dir, secrets: secrets}
			c.SetKeys(t, randomKey())
			topo, err := topology.Start(topology.Config{
				Mode:          mode,
				Dir:           dir,
				DeployDir:     deployDir,
				Redis:         redistest.Options{AOF: true},
				AdminPassword: randomKey(),
				AppPassword:   randomKey(),
				Instances:     2,
				AppBin:        whatsupBin,
				Secrets:       secrets,
				Logf:          t.Logf,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := topo.Close(); err != nil {
					t.Error(err)
				}
				for _, in := range topo.Instances {
					if in.LogHas("NOPERM") {
						t.Errorf("%s logged a NOPERM: the ACL rule lacks a command the store sends\n%s", in.Name, in.Tail(20))
					}
				}
			}()
			base := topo.URL
			a, b := newClient(t, "a"), newClient(t, "b")
			a.login(t, base, "acl")
			b.login(t, base, "acl")
			ok := func(what string, r reply, want int) {
				t.Helper()
				if r.Code != want {
					t.Fatalf("%s: %v, want %d", what, r, want)
				}
			}
			ok("write", a.mustPostJSON(t, base+"/api/session", map[string]int{"k": 1}), 200)
			ok("incr", a.mustPostJSON(t, base+"/api/incr", map[string]string{"key": "n"}), 200)
			r := a.mustGet(t, base+"/api/session")
			ok("read", r, 200)
			if !strings.Contains(r.Body, `"k":1`) || !strings.Contains(r.Body, `"n":1`) {
				t.Errorf("read: %s, want k and n at 1", r.Body)
			}
			r = b.mustGet(t, base+"/api/sessions")
			ok("list", r, 200)
			var list struct {
				Sessions []struct {
					Handle  string `json:"handle"`
					Current bool   `json:"current"`
				} `json:"sessions"`
			}
			if err := json.Unmarshal([]byte(r.Body), &list); err != nil || len(list.Sessions) != 2 {
				t.Fatalf("list: %s (%v), want 2 sessions", r.Body, err)
			}
			for _, s := range list.Sessions {
				if s.Current {
					ok("revoke", a.mustPostJSON(t, base+"/api/sessions/revoke", map[string]string{"handle": s.Handle}), 200)
				}
			}
			if w := b.mustWhoami(t, base); w.User != nil {
				t.Errorf("b still served as %q after its revoke", *w.User)
			}
			r, err = a.do("POST", base+"/logout", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			ok("logout", r, 303)
			if w := a.mustWhoami(t, base); w.User != nil {
				t.Errorf("a still served as %q after its logout", *w.User)
			}
		})
	}
}
