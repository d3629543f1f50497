package memstore_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"testing"

	"github.com/stickless/stickless/memstore"
	"github.com/stickless/stickless/session"
)

// TestFullAnswers503 checks the documented behaviour at Options.MaxSessions
// through a Manager: a login that would create one session too many gets a
// 503, and the users already logged in go on as before.
func TestFullAnswers503(t *testing.T) {
	store := memstore.New(memstore.Options{MaxSessions: 2})
	t.Cleanup(func() { store.Close() })
	m := session.New(store, session.Config{
		Keys:           [][]byte{[]byte("0123456789abcdef0123456789abcdef")},
		InsecureCookie: true,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if err := session.FromContext(r.Context()).Login(r.FormValue("user")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, session.FromContext(r.Context()).User())
	})
	srv := httptest.NewServer(m.Handler(mux))
	t.Cleanup(srv.Close)

	client := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar}
	}
	login := func(c *http.Client, user string) int {
		t.Helper()
		resp, err := c.PostForm(srv.URL+"/login", map[string][]string{"user": {user}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	whoami := func(c *http.Client) string {
		t.Helper()
		resp, err := c.Get(srv.URL + "/whoami")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	alice, bob, carol := client(), client(), client()
	for _, l := range []struct {
		c    *http.Client
		user string
		want int
	}{
		{alice, "alice", http.StatusOK},
		{bob, "bob", http.StatusOK},
		{carol, "carol", http.StatusServiceUnavailable},
	} {
		if code := login(l.c, l.user); code != l.want {
			t.Fatalf("login of %s: status %d, want %d", l.user, code, l.want)
		}
	}
	if got := whoami(alice); got != "alice" {
		t.Errorf("alice's session at the bound: whoami = %q, want alice", got)
	}
	if got := whoami(carol); got != "" {
		t.Errorf("carol's refused login: whoami = %q, want anonymous", got)
	}
	// A logged-in user logging in again renews its session: no new one.
	if code := login(bob, "bob"); code != http.StatusOK {
		t.Errorf("bob's second login at the bound: status %d, want 200", code)
	}
}
