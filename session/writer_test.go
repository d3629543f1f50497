package session_test

import (
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stickless/stickless/session"
)

// TestHijack checks that http.ResponseController reaches Hijack through
// the wrapper, that the session is saved before the connection is handed
// over, and that nothing writes to the connection afterwards.
func TestHijack(t *testing.T) {
	release := make(chan struct{})
	done := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	h := newHarness(t, session.Config{StoreTimeout: 100 * time.Millisecond}, harnessOptions{
		routes: map[string]http.HandlerFunc{
			"/hijack": func(w http.ResponseWriter, r *http.Request) {
				session.FromContext(r.Context()).Put("hijacked", "yes")
				conn, brw, err := http.NewResponseController(w).Hijack()
				if err != nil {
					if errors.Is(err, session.ErrStoreUnavailable) {
						w.Header().Set("X-Hijack", "store unavailable")
					}
					w.Write([]byte("not hijacked"))
					return
				}
				brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
				brw.Flush()
				conn.Close()
				<-release
			},
		},
		after: func(r *http.Request) {
			if r.URL.Path == "/hijack" && r.URL.RawQuery == "" {
				close(done)
			}
		},
	})
	c := h.newClient("")
	c.do("POST", "/put?k=a&v=1").must(t, 200, "ok")
	c.do("GET", "/hijack").must(t, 200, "hijacked")
	// The handler still holds the connection: its change is saved already.
	c.do("GET", "/get?k=hijacked").must(t, 200, "yes")
	once.Do(func() { close(release) })
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the hijacking handler did not return")
	}
	if log := h.errLog.String(); log != "" {
		t.Errorf("the server logged:\n%s", log)
	}

	t.Run("store unavailable", func(t *testing.T) {
		h.faults.set("error", "Update")
		r := c.do("GET", "/hijack?fail").must(t, 503, anyBody)
		if got := r.header.Get("X-Hijack"); got != "store unavailable" {
			t.Errorf("Hijack's error does not match ErrStoreUnavailable (X-Hijack %q)", got)
		}
		h.faults.set("")
		c.do("GET", "/get?k=a").must(t, 200, "1")
	})
}
