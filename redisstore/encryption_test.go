package redisstore

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stickless/stickless/internal/redislayout"
	"github.com/stickless/stickless/internal/redistest"
	"github.com/stickless/stickless/session"
)

// counterRoutes adds Incr and CompareAndSwap to the test application.
func counterRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", appRoutes())
	mux.HandleFunc("POST /incr", func(w http.ResponseWriter, r *http.Request) {
		n, err := session.FromContext(r.Context()).Incr(r.Context(), r.FormValue("k"), 1)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, n)
	})
	mux.HandleFunc("POST /cas", func(w http.ResponseWriter, r *http.Request) {
		ok, err := session.FromContext(r.Context()).CompareAndSwap(r.Context(), r.FormValue("k"), nil, r.FormValue("new"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, ok)
	})
	return mux
}

// TestEncryptedCountersParallel: with encryption on (the default), Incr
// and CompareAndSwap are compare-and-swaps on the ciphertext; 200
// parallel calls on two instances lose nothing, with the client-side
// cache off and on (a cached load may be stale: the swap must notice).
func TestEncryptedCountersParallel(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{})
	for _, cache := range []bool{false, true} {
		t.Run("cache="+strconv.FormatBool(cache), func(t *testing.T) {
			a := newInstanceWith(t, srv.URL(), 5*time.Second, counterRoutes(), Options{ClientCache: cache})
			b := newInstanceWith(t, srv.URL(), 5*time.Second, counterRoutes(), Options{ClientCache: cache})
			c := &client{}
			must(t, c.do(a.h, "POST", "/login?u=ann"), 200, "login")
			const n = 200
			run := func(path string) []string {
				out := make([]string, n)
				var wg sync.WaitGroup
				for i := range n {
					in := []*instance{a, b}[i%2]
					wg.Go(func() {
						res := c.with().do(in.h, "POST", strings.ReplaceAll(path, "#", strconv.Itoa(i)))
						out[i] = strconv.Itoa(res.StatusCode) + " " + body(res)
					})
				}
				wg.Wait()
				return out
			}
			var got []int
			for _, r := range run("/incr?k=n") {
				v, err := strconv.Atoi(strings.TrimPrefix(r, "200 "))
				if err != nil {
					t.Fatalf("an increment answered %q", r)
				}
				got = append(got, v)
			}
			slices.Sort(got)
			for i, v := range got {
				if v != i+1 {
					t.Fatalf("the increments returned %v, want 1 to %d once each", got, n)
				}
			}
			if v := must(t, c.do(b.h, "POST", "/incr?k=n"), 200, "incr"); v != strconv.Itoa(n+1) {
				t.Errorf("one more increment gave %s, want %d", v, n+1)
			}
			winners := 0
			for _, r := range run("/cas?k=owner&new=req#") {
				switch r {
				case "200 true":
					winners++
				case "200 false":
				default:
					t.Fatalf("a compare-and-swap answered %q", r)
				}
			}
			if winners != 1 {
				t.Errorf("%d compare-and-swaps of an absent owner swapped, want 1", winners)
			}
			if owner := must(t, c.do(a.h, "GET", "/get?k=owner"), 200, "read"); !strings.HasPrefix(owner, "req") {
				t.Errorf("owner = %q", owner)
			}
		})
	}
}

// TestEncryptedTamperingRedis: in Redis's own layout, a value moved to
// another field, a session hash copied over another session's key, and a
// wrapped key replaced in the metadata: the value, or the session, reads
// as missing.
func TestEncryptedTamperingRedis(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{})
	in := newInstance(t, srv.URL(), time.Second, nil)
	login := func(user string) (*client, string) {
		c := &client{}
		must(t, c.do(in.h, "POST", "/login?u="+user), 200, "login")
		must(t, c.do(in.h, "POST", put("email", user+"@example.com")), 200, "put")
		keys := sessionKeys(srv.Keys(t))
		for _, k := range keys {
			if md, err := redislayout.ParseMeta(srv.DoOK(t, "HGET", k, "").Str); err == nil && md.User == user {
				return c, k
			}
		}
		t.Fatalf("no session of %s among %v", user, keys)
		return nil, ""
	}
	read := func(c *client) string {
		return must(t, c.do(in.h, "GET", "/whoami"), 200, "whoami") + " " + must(t, c.do(in.h, "GET", "/get?k=email"), 200, "get")
	}
	ann, ka := login("ann")
	bob, kb := login("bob")
	if got := read(ann); got != "ann ann@example.com" {
		t.Fatalf("ann reads %q", got)
	}

	// A value moved to another field of the same session.
	srv.DoOK(t, "HSET", ka, "note", srv.DoOK(t, "HGET", ka, "email").Str)
	if got := must(t, ann.do(in.h, "GET", "/get?k=note"), 200, "get"); got != "" {
		t.Errorf("a value moved to another field reads %q, want nothing", got)
	}

	// The wrapped key replaced by bob's: ann's session is unreadable.
	md, err := redislayout.ParseMeta(srv.DoOK(t, "HGET", ka, "").Str)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := redislayout.ParseMeta(srv.DoOK(t, "HGET", kb, "").Str)
	if err != nil {
		t.Fatal(err)
	}
	saved := md.String()
	md.Wrap = mb.Wrap
	srv.DoOK(t, "HSET", ka, "", md.String())
	if got := read(ann); got != " " {
		t.Errorf("with another session's wrapped key, ann reads %q, want nothing", got)
	}
	srv.DoOK(t, "HSET", ka, "", saved)
	if got := read(ann); got != "ann ann@example.com" {
		t.Errorf("with the wrapped key put back, ann reads %q", got)
	}

	// Ann's whole hash copied over bob's key.
	srv.DoOK(t, "COPY", ka, kb, "REPLACE")
	if got := read(bob); got != " " {
		t.Errorf("with ann's session copied over his key, bob reads %q, want nothing", got)
	}
	if got := read(ann); got != "ann ann@example.com" {
		t.Errorf("ann reads %q after the copy", got)
	}
}
