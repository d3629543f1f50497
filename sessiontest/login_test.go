package sessiontest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stickless/stickless/memstore"
	"github.com/stickless/stickless/session"
	"github.com/stickless/stickless/sessiontest"
)

func whoamiApp(m *session.Manager) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /me", m.RequireLoginAPI(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, session.FromContext(r.Context()).User())
	})))
	return m.Handler(mux)
}

func TestLoginCookie(t *testing.T) {
	store := memstore.New(memstore.Options{})
	defer store.Close()
	m := session.New(store, session.Config{Keys: [][]byte{[]byte("sessiontest login key, 32 bytes or more")}})
	h := whoamiApp(m)

	req := httptest.NewRequest("GET", "https://example.com/me", nil)
	req.AddCookie(sessiontest.LoginCookie(t, m, "ann"))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Body.String() != "ann" {
		t.Errorf("with the cookie: %d %q, want 200 ann", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "https://example.com/me", nil))
	if rec.Code != 401 {
		t.Errorf("without: %d, want 401", rec.Code)
	}
}

func TestLoginClient(t *testing.T) {
	store := memstore.New(memstore.Options{})
	defer store.Close()
	m := session.New(store, session.Config{Keys: [][]byte{[]byte("sessiontest login key, 32 bytes or more")}})
	srv := httptest.NewTLSServer(whoamiApp(m))
	defer srv.Close()
	get := func(c *http.Client) string {
		resp, err := c.Get(srv.URL + "/me")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return fmt.Sprintf("%d %s", resp.StatusCode, b)
	}
	bob, ann := sessiontest.LoginClient(t, m, srv, "bob"), sessiontest.LoginClient(t, m, srv, "ann")
	if bob == ann {
		t.Fatal("two calls gave the same client")
	}
	if got, got2 := get(bob), get(ann); got != "200 bob" || got2 != "200 ann" {
		t.Errorf("the clients are %q and %q, want 200 bob and 200 ann", got, got2)
	}
	// Two devices of one user: two sessions.
	bob2 := sessiontest.LoginClient(t, m, srv, "bob")
	if list, err := m.Sessions(t.Context(), "bob"); err != nil || len(list) != 2 || get(bob2) != "200 bob" {
		t.Errorf("two LoginClients of bob: %d sessions (%v); want 2", len(list), err)
	}
}
