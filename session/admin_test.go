package session_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stickless/stickless/internal/testenv"
	"github.com/stickless/stickless/memstore"
	"github.com/stickless/stickless/session"
)

// TestAdminWithAStoreAlone: an Admin made from a store, with no signing
// key, lists, revokes one, revokes all but one and revokes all the
// sessions that a Manager made.
func TestAdminWithAStoreAlone(t *testing.T) {
	st := memstore.New(memstore.Options{})
	defer st.Close()
	m := session.New(st, session.Config{Keys: [][]byte{key1}})
	var cookies []string
	for range 4 {
		cookies = append(cookies, loginCookie(t, m, "ann"))
	}
	bob := loginCookie(t, m, "bob")
	var audit testenv.Buffer
	a := session.NewAdmin(st, session.Config{AuditLog: slog.New(slog.NewTextHandler(&audit, nil))})
	ctx := t.Context()
	handles := map[string]string{} // cookie -> handle
	for _, c := range cookies {
		serveOne(m, func(_ http.ResponseWriter, r *http.Request) {
			handles[c] = session.FromContext(r.Context()).Handle()
		}, c)
	}

	list, err := a.Sessions(ctx, "ann")
	if err != nil || len(list) != 4 {
		t.Fatalf("Sessions = %d, %v; want 4", len(list), err)
	}
	if ok, err := a.Revoke(ctx, "ann", handles[cookies[0]]); !ok || err != nil {
		t.Fatalf("Revoke = %v, %v", ok, err)
	}
	if ok, err := a.Revoke(ctx, "bob", handles[cookies[1]]); ok || err != nil {
		t.Errorf("Revoke of ann's session as bob's = %v, %v; want false, nil", ok, err)
	}
	if n, err := a.RevokeOthers(ctx, "ann", handles[cookies[1]]); n != 2 || err != nil {
		t.Fatalf("RevokeOthers = %d, %v; want 2", n, err)
	}
	for i, c := range cookies {
		if got, want := whoIs(m, c), map[bool]string{true: "ann"}[i == 1]; got != want {
			t.Errorf("session %d after RevokeOthers: user %q, want %q", i, got, want)
		}
	}
	if n, err := a.RevokeAll(ctx, "ann"); n != 1 || err != nil {
		t.Errorf("RevokeAll = %d, %v; want 1", n, err)
	}
	if whoIs(m, cookies[1]) != "" || whoIs(m, bob) != "bob" {
		t.Error("RevokeAll of ann ended the wrong sessions")
	}
	if n, err := a.RevokeOthers(ctx, "bob", "no-such-handle"); n != 1 || err != nil {
		t.Errorf("RevokeOthers keeping a handle that is not bob's = %d, %v; want 1 (none kept)", n, err)
	}
	for _, rec := range []string{"msg=revoke ", "msg=revoke_others", "msg=revoke_all"} {
		if !strings.Contains(audit.String(), rec) {
			t.Errorf("no %q audit record:\n%s", rec, audit.String())
		}
	}
}

// TestAdminHonoursTheCallersContext: outside a request a call ends with
// its caller's deadline or cancellation, not StoreTimeout; without a
// deadline, StoreTimeout bounds it.
func TestAdminHonoursTheCallersContext(t *testing.T) {
	h := newHarness(t, session.Config{StoreTimeout: 2 * time.Second}, harnessOptions{})
	c := h.newClient("")
	c.do("POST", "/login?user=ann").must(t, 200, "ok")
	h.faults.set("hang")
	calls := map[string]func(ctx context.Context) error{
		"Sessions":     func(ctx context.Context) error { _, err := h.m.Sessions(ctx, "ann"); return err },
		"Revoke":       func(ctx context.Context) error { _, err := h.m.Revoke(ctx, "ann", "x"); return err },
		"RevokeAll":    func(ctx context.Context) error { _, err := h.m.RevokeAll(ctx, "ann"); return err },
		"RevokeOthers": func(ctx context.Context) error { _, err := h.m.RevokeOthers(ctx, "ann", "x"); return err },
		"Healthy":      h.m.Healthy,
	}
	for name, call := range calls {
		t.Run(name+"/deadline", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
			defer cancel()
			before := len(h.faults.hungDeadlines())
			err := call(ctx)
			if !errors.Is(err, session.ErrStoreUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("with a hung store and a 20 ms deadline: %v", err)
			}
			if d := h.faults.hungDeadlines()[before:]; len(d) != 1 || d[0] > 20*time.Millisecond {
				t.Errorf("the hung store call had %v left on its context, want the caller's 20 ms at most", d)
			}
		})
		t.Run(name+"/cancel", func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(20*time.Millisecond, cancel)
			if err := call(ctx); !errors.Is(err, context.Canceled) {
				t.Errorf("with a hung store and a cancelled context: %v", err)
			}
		})
	}
	t.Run("no deadline: StoreTimeout", func(t *testing.T) {
		a := session.NewAdmin(h.faults, session.Config{StoreTimeout: 20 * time.Millisecond})
		if err := a.Healthy(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Healthy with a hung store and no deadline: %v", err)
		}
	})
}
