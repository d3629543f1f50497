package e2e

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCanaryEncrypted: a random canary written through the API of the real
// topology (Redis with AOF, three instances, nginx) is nowhere in clear:
// not in any Redis key or value, not in MONITOR's output during the write,
// not in the AOF or an RDB file on disk, not in any log. The same user reads
// it back through nginx and every instance.
func TestCanaryEncrypted(t *testing.T) {
	c := startCluster(t, clusterConfig{Flags: []string{"-access-log"}})
	canary := "canary-" + randomKey()
	u := newClient(t, "e2e-canary")
	u.login(t, c.URL, "ann")

	mon := c.Redis.Monitor(t)
	r := u.mustPostJSON(t, c.URL+"/api/session", map[string]string{"note": canary})
	if r.Code != 200 {
		t.Fatalf("POST /api/session: %v", r)
	}
	lines := mon.Until(t)
	wrote := false
	for _, l := range lines {
		if strings.Contains(l, canary) {
			t.Errorf("MONITOR shows the canary: %.300s", l)
		}
		wrote = wrote || (strings.Contains(strings.ToLower(l), `"hset"`) && strings.Contains(l, `"note"`))
	}
	if !wrote {
		t.Fatalf("MONITOR saw no HSET of note during the write: %q", lines)
	}

	// Every key, and every value of every key, as Redis returns them.
	found := false
	for _, k := range c.Redis.Keys(t) {
		if strings.Contains(k, canary) {
			t.Errorf("a key name holds the canary: %s", k)
		}
		var data []string
		switch typ := c.Redis.DoOK(t, "TYPE", k).Str; typ {
		case "string":
			data = []string{c.Redis.DoOK(t, "GET", k).Str}
		case "hash":
			for _, e := range c.Redis.DoOK(t, "HGETALL", k).Elems {
				data = append(data, e.Str)
			}
			found = found || slices.Contains(data, "note")
		case "zset":
			for _, e := range c.Redis.DoOK(t, "ZRANGE", k, "0", "-1", "WITHSCORES").Elems {
				data = append(data, e.Str)
			}
		default:
			t.Errorf("key %s of type %s, which the store does not make", k, typ)
		}
		for _, d := range data {
			if strings.Contains(d, canary) {
				t.Errorf("key %s holds the canary in clear", k)
			}
		}
	}
	if !found {
		t.Fatal("no session hash holds the field note")
	}

	// On disk: the AOF as written (appendfsync always), and an RDB saved
	// now, uncompressed so that a string in clear would show.
	c.Redis.DoOK(t, "CONFIG", "SET", "rdbcompression", "no")
	c.Redis.DoOK(t, "SAVE")
	var aof, rdb bool
	filepath.WalkDir(c.Redis.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Error(err)
			return nil
		}
		if bytes.Contains(b, []byte("note")) {
			aof = aof || strings.Contains(p, ".aof")
			rdb = rdb || strings.HasSuffix(p, ".rdb")
		}
		return nil
	})
	if !aof || !rdb {
		t.Errorf("the write is in the AOF: %v, in the RDB: %v; want both, to check them", aof, rdb)
	}

	// The same user reads it back through nginx and every instance.
	for _, base := range c.Targets() {
		r := u.mustGet(t, base+"/api/session")
		var got map[string]any
		if err := json.Unmarshal([]byte(r.Body), &got); r.Code != 200 || err != nil || got["note"] != canary {
			t.Errorf("GET %s/api/session: %v, want note = the canary", base, r)
		}
	}

	// Nothing under the topology's directory holds it: Redis's data and
	// logs, the instances' logs (access log on), nginx's.
	time.Sleep(100 * time.Millisecond) // let the last log lines reach their files
	var files int
	filepath.WalkDir(c.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil // a socket or a file that went away
		}
		files++
		if bytes.Contains(b, []byte(canary)) {
			t.Errorf("%s holds the canary", p)
		}
		return nil
	})
	logs := 0
	for _, in := range c.Instances {
		if b, err := os.ReadFile(in.LogFile); err == nil && bytes.Contains(b, []byte("/api/session")) {
			logs++
		}
	}
	if logs == 0 {
		t.Errorf("no instance's log names the requests (in %d files): the check proves nothing", files)
	}
}
