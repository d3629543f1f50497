package session_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stickless/stickless/session"
)

// overhead is what encryption adds to a stored value: a nonce and a tag.
const overhead = 28

var storeLimits = session.Limits{Idle: session.DefaultIdleTimeout, Absolute: session.DefaultAbsoluteTimeout}

// stored returns the store key of c's session and what the store holds
// under it.
func (h *harness) stored(c *client) (string, session.Record) {
	h.t.Helper()
	key := session.StoreKey(h.m, c.sessionCookie())
	rec, found, err := h.mem.Load(context.Background(), key, storeLimits)
	if err != nil || !found {
		h.t.Fatalf("the store has no session for the client's cookie: %v", err)
	}
	return key, rec
}

// put writes w to the store behind the Manager's back, as someone with
// access to the store's data could.
func (h *harness) put(w session.Write) {
	h.t.Helper()
	w.Limits = storeLimits
	if ok, err := h.mem.Save(context.Background(), w); !ok || err != nil {
		h.t.Fatalf("store write: %v %v", ok, err)
	}
}

// TestEncryptedAtRest: the store holds the values encrypted and the key
// wrapped; a renewal re-wraps the key and leaves the values as they are.
func TestEncryptedAtRest(t *testing.T) {
	h := newHarness(t, session.Config{}, harnessOptions{})
	c := h.newClient("")
	c.do("POST", "/login?user=ann").must(t, 200, "ok")
	c.do("POST", "/put?k=email&v=ann@example.com").must(t, 200, "ok")
	key, rec := h.stored(c)
	if rec.User != "ann" {
		t.Errorf("stored user %q, want ann (metadata stays readable)", rec.User)
	}
	if len(rec.Wrap) != 61 {
		t.Errorf("stored wrap of %d bytes, want 61: version, nonce, key and tag", len(rec.Wrap))
	}
	email := rec.Values["email"]
	if strings.Contains(email, "ann@example.com") || len(email) != len(`"ann@example.com"`)+overhead {
		t.Errorf("stored email %q: want a ciphertext of the JSON, %d bytes more", email, overhead)
	}
	c.do("GET", "/get?k=email").must(t, 200, "ann@example.com")

	c.do("POST", "/renew").must(t, 200, "ok")
	key2, rec2 := h.stored(c)
	if key2 == key || rec2.Wrap == rec.Wrap || len(rec2.Wrap) != 61 {
		t.Errorf("after a renewal: key changed %v, wrap changed %v, want both", key2 != key, rec2.Wrap != rec.Wrap)
	}
	if rec2.Values["email"] != email {
		t.Error("a renewal encrypted the values again; it must only wrap the key again")
	}
	c.do("GET", "/get?k=email").must(t, 200, "ann@example.com")

	// A second Put encrypts anew, with a fresh nonce.
	c.do("POST", "/put?k=email&v=ann@example.com").must(t, 200, "ok")
	if _, rec3 := h.stored(c); rec3.Values["email"] == email {
		t.Error("the same value was encrypted twice into the same bytes: nonces repeat")
	}
}

// TestEncryptedTampering: values and keys moved, copied or replaced in the
// store are read as missing (a value) or make the session missing (its
// key), with a warning in the log.
func TestEncryptedTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(h *harness, a, b session.Record, ka, kb string)
		// what ann's and bob's clients read afterwards: user, email, note
		ann, bob []string
		log      string
	}{
		{"a value moved to another field", func(h *harness, a, b session.Record, ka, kb string) {
			h.put(session.Write{Key: ka, Set: map[string]string{"note": a.Values["email"]}})
		}, []string{"ann", "ann@example.com", "missing"}, []string{"bob", "bob@example.com", "missing"},
			"session values that do not open"},
		{"a value moved to another session", func(h *harness, a, b session.Record, ka, kb string) {
			h.put(session.Write{Key: kb, Set: map[string]string{"email": a.Values["email"]}})
		}, []string{"ann", "ann@example.com", "hi"}, []string{"bob", "missing", "missing"},
			"session values that do not open"},
		{"a whole session copied over another's key", func(h *harness, a, b session.Record, ka, kb string) {
			h.put(session.Write{Create: true, Key: kb, Set: a.Values, User: a.User, Wrap: a.Wrap})
		}, []string{"ann", "ann@example.com", "hi"}, []string{"", "missing", "missing"},
			"wrapped value key does not open"},
		{"the wrapped key replaced by another session's", func(h *harness, a, b session.Record, ka, kb string) {
			h.put(session.Write{Create: true, Key: ka, Set: a.Values, User: a.User, Wrap: b.Wrap})
		}, []string{"", "missing", "missing"}, []string{"bob", "bob@example.com", "missing"},
			"wrapped value key does not open"},
		{"the wrapped key changed", func(h *harness, a, b session.Record, ka, kb string) {
			w := []byte(a.Wrap)
			w[30] ^= 1
			h.put(session.Write{Create: true, Key: ka, Set: a.Values, User: a.User, Wrap: string(w)})
		}, []string{"", "missing", "missing"}, []string{"bob", "bob@example.com", "missing"},
			"wrapped value key does not open"},
		{"the wrapped key removed", func(h *harness, a, b session.Record, ka, kb string) {
			h.put(session.Write{Create: true, Key: ka, Set: map[string]string{"email": `"forged"`}, User: a.User})
		}, []string{"", "missing", "missing"}, []string{"bob", "bob@example.com", "missing"},
			"a session stored in clear is read as missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, session.Config{}, harnessOptions{})
			ann, bob := h.newClient(""), h.newClient("")
			ann.do("POST", "/login?user=ann").must(t, 200, "ok")
			ann.do("POST", "/put?k=email&v=ann@example.com").must(t, 200, "ok")
			ann.do("POST", "/put?k=note&v=hi").must(t, 200, "ok")
			bob.do("POST", "/login?user=bob").must(t, 200, "ok")
			bob.do("POST", "/put?k=email&v=bob@example.com").must(t, 200, "ok")
			ka, a := h.stored(ann)
			kb, b := h.stored(bob)
			tt.tamper(h, a, b, ka, kb)
			for _, who := range []struct {
				c    *client
				want []string
			}{{ann, tt.ann}, {bob, tt.bob}} {
				got := []string{who.c.do("GET", "/user").body, who.c.do("GET", "/get?k=email").body,
					who.c.do("GET", "/get?k=note").body}
				if !slices.Equal(got, who.want) {
					t.Errorf("reads user, email, note: %q, want %q", got, who.want)
				}
			}
			if !strings.Contains(h.appLog.String(), tt.log) {
				t.Errorf("log %q, want a warning with %q", h.appLog.String(), tt.log)
			}
		})
	}
}

// TestEncryptedCounters: Incr and CompareAndSwap, compare-and-swaps on the
// ciphertext, lose nothing under 200 parallel requests.
func TestEncryptedCounters(t *testing.T) {
	h := newHarness(t, session.Config{InsecureCookie: true}, harnessOptions{})
	c := h.newClient("")
	c.do("POST", "/login?user=ann").must(t, 200, "ok")
	cookie := h.cookieName() + "=" + c.sessionCookie()
	const n = 200
	t.Run("Incr", func(t *testing.T) {
		incrementsOnce(t, h, cookie, n, 1)
		c.do("GET", "/get?k=n&type=int64").must(t, 200, strconv.Itoa(n))
	})
	t.Run("CompareAndSwap", func(t *testing.T) {
		c.do("POST", "/put?k=count&v=0").must(t, 200, "ok")
		var mu sync.Mutex
		winners := 0
		errs := parallel(n, func(i int) error {
			r, err := h.tryRaw("POST", "/cas?k=owner&new=req"+strconv.Itoa(i), cookie)
			if err != nil {
				return err
			}
			if r.status != 200 || (r.body != "true" && r.body != "false") {
				return &badAnswer{r}
			}
			mu.Lock()
			if r.body == "true" {
				winners++
			}
			mu.Unlock()
			// Count by read and swap, until this request's swap holds.
			for range 10 * n {
				r, err := h.tryRaw("GET", "/get?k=count", cookie)
				if err != nil {
					return err
				}
				v, err := strconv.Atoi(r.body)
				if err != nil {
					return &badAnswer{r}
				}
				if r, err = h.tryRaw("POST", "/cas?k=count&old="+r.body+"&new="+strconv.Itoa(v+1), cookie); err != nil {
					return err
				}
				if r.body == "true" {
					return nil
				}
			}
			return &badAnswer{result{body: "no swap held in " + strconv.Itoa(10*n) + " tries"}}
		})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		if winners != 1 {
			t.Errorf("%d requests swapped an absent owner, want 1", winners)
		}
		c.do("GET", "/get?k=count").must(t, 200, strconv.Itoa(n))
	})
}

// TestEncryptionSwitch: DisableEncryption stores new sessions in clear;
// a session keeps what it was created with when the setting changes,
// except that a Manager with encryption on reads a session in clear as
// missing.
func TestEncryptionSwitch(t *testing.T) {
	h := newHarness(t, session.Config{InsecureCookie: true}, harnessOptions{})
	off := session.New(h.mem, session.Config{Keys: [][]byte{key1}, InsecureCookie: true, DisableEncryption: true})
	offApp := off.Handler(testApp(off, nil))
	do := func(app http.Handler, method, path, cookie string) (string, string) {
		r := httptest.NewRequest(method, path, nil)
		if cookie != "" {
			r.Header.Set("Cookie", "session="+cookie)
		}
		w := httptest.NewRecorder()
		app.ServeHTTP(w, r)
		for _, ck := range w.Result().Cookies() {
			if ck.Name == "session" {
				cookie = ck.Value
			}
		}
		return w.Body.String(), cookie
	}

	// Encrypted, then read and written with encryption off: it stays encrypted.
	c := h.newClient("")
	c.do("POST", "/put?k=a&v=1").must(t, 200, "ok")
	cookie := c.sessionCookie()
	if got, _ := do(offApp, "GET", "/get?k=a", cookie); got != "1" {
		t.Errorf("encryption off reads %q of an encrypted session, want 1", got)
	}
	_, cookie = do(offApp, "POST", "/renew", cookie)
	do(offApp, "POST", "/put?k=b&v=2", cookie)
	key := session.StoreKey(off, cookie)
	rec, _, _ := h.mem.Load(context.Background(), key, storeLimits)
	if rec.Wrap == "" || rec.Values["b"] == `"2"` {
		t.Errorf("encryption off wrote %q in a session made encrypted (wrap %d bytes)", rec.Values["b"], len(rec.Wrap))
	}
	if got, _ := do(offApp, "GET", "/get?k=b", cookie); got != "2" {
		t.Errorf("read back %q, want 2", got)
	}

	// In clear, then read with encryption on: missing.
	_, clear := do(offApp, "POST", "/put?k=a&v=1", "")
	rec, _, _ = h.mem.Load(context.Background(), session.StoreKey(off, clear), storeLimits)
	if rec.Wrap != "" || rec.Values["a"] != `"1"` {
		t.Errorf("encryption off stored %q, wrap %d bytes; want the value in clear", rec.Values["a"], len(rec.Wrap))
	}
	if got := h.raw("GET", "/get?k=a", "session="+clear).body; got != "missing" {
		t.Errorf("encryption on reads %q of a session in clear, want missing", got)
	}
}
