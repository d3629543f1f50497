package redisstore

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stickless/stickless/internal/redistest"
)

// own drops the commands of the test harness from commandstats.
func own(stats map[string]int64) int64 { return redistest.SumCalls(stats, redistest.OwnCommands...) }

// fromStore keeps the MONITOR lines of commands that the store sent,
// leaving out those that scripts ran ("[0 lua]") and the harness's own:
// each one left is a round trip (or a part of a pipelined one).
func fromStore(lines []string) []string {
	var out []string
	for _, l := range lines {
		_, cmd, _ := strings.Cut(l, "] \"")
		name, _, _ := strings.Cut(cmd, "\"")
		name = strings.ToLower(name)
		if strings.Contains(l, " lua] ") || name == "echo" || name == "config" || name == "info" ||
			name == "auth" || name == "ping" {
			continue
		}
		out = append(out, l)
	}
	return out
}

// TestCommandCounts shows, from INFO commandstats and MONITOR, what a
// request costs Redis: a logged-in read without a due slide is exactly one
// command executed in Redis (HGETALL: no script, no TIME), a forged cookie
// nothing, and a write of one changed field sends that field only.
func TestCommandCounts(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{})
	in := newInstance(t, srv.URL(), time.Second, nil)
	c := &client{}
	must(t, c.do(in.h, "POST", "/login?u=ann"), 200, "login")
	for i := range 10 {
		must(t, c.do(in.h, "POST", put(fmt.Sprintf("other%d", i), "unchanged")), 200, "write")
	}
	must(t, c.do(in.h, "GET", "/whoami"), 200, "warm-up read")

	// INFO commandstats counts the commands that scripts run too; MONITOR
	// tells them apart.
	srv.ResetStats(t)
	mon := srv.Monitor(t)
	must(t, c.do(in.h, "GET", "/get?k=other1"), 200, "read")
	sent := fromStore(mon.Until(t))
	stats := srv.CommandStats(t)
	t.Logf("one read: commandstats %v; sent by the client: %q", stats, sent)
	// The MONITOR connection and its marker (ECHO) are the test's own.
	if n := own(stats) - stats["monitor"] - stats["echo"]; len(sent) != 1 || !strings.Contains(sent[0], `"HGETALL"`) || n != 1 || stats["hgetall"] != 1 {
		t.Errorf("a read sent %q and executed %d commands (%v), want one HGETALL", sent, n, stats)
	}

	srv.ResetStats(t)
	good := c.with().cookie.Value
	forged := []string{
		good[:len(good)-2] + "AA", // the signature of another token
		strings.Repeat("A", 43) + "." + strings.Repeat("B", 43),
		"garbage",
		"",
	}
	for _, v := range forged {
		fc := &client{cookie: &http.Cookie{Name: "session", Value: v}}
		if got := must(t, fc.do(in.h, "GET", "/whoami"), 200, "forged cookie"); got != "" {
			t.Errorf("forged cookie %q is user %q", v, got)
		}
	}
	stats = srv.CommandStats(t)
	t.Logf("%d forged cookies: %v", len(forged), stats)
	if own(stats) != 0 {
		t.Errorf("forged cookies sent %d commands (%v), want none", own(stats), stats)
	}

	srv.ResetStats(t)
	must(t, c.do(in.h, "POST", put("changed", "new value")), 200, "write of one field")
	lines := mon.Until(t)
	sent = fromStore(lines)
	stats = srv.CommandStats(t)
	t.Logf("a write of one field: commandstats %v", stats)
	if len(sent) != 2 || !strings.Contains(sent[0], `"HGETALL"`) || stats["evalsha"] != 1 || stats["eval"] != 0 {
		t.Errorf("a write sent %q, want HGETALL (load) and one EVALSHA (save)", sent)
	}
	// The save: EVALSHA, and inside it one HMGET (liveness, metadata and
	// the old value) and one HSET; no slide within the touch throttle.
	if n := own(stats) - stats["monitor"] - stats["echo"] - stats["hgetall"]; n != 3 || stats["hmget"] != 1 || stats["hset"] != 1 {
		t.Errorf("the save executed %d commands (%v), want EVALSHA, HMGET and HSET", n, stats)
	}
	var hsets []string
	for _, l := range lines {
		t.Logf("MONITOR: %.200s", l)
		if strings.Contains(l, "other") && !strings.Contains(strings.ToLower(l), "hgetall") {
			t.Errorf("the write names an unchanged field: %s", l)
		}
		if strings.Contains(strings.ToLower(l), `"hset"`) {
			hsets = append(hsets, l)
		}
	}
	// One HSET: the metadata ("") and the changed value, encrypted.
	if len(hsets) != 1 || !strings.Contains(hsets[0], `"changed" "`) || strings.Contains(hsets[0], "new value") {
		t.Errorf("HSETs = %q, want one of the metadata and changed, encrypted", hsets)
	}
}
