package session_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/stickless/stickless/session"
)

// parallel runs f(i) for i in [0, n) on n goroutines and returns their
// errors.
func parallel(n int, f func(i int) error) []error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(i)
		}()
	}
	wg.Wait()
	return slices.DeleteFunc(errs, func(err error) bool { return err == nil })
}

// incrementsOnce sends each increments of key n with cookie from each of
// workers goroutines, and fails unless they all succeed and return 1 to
// workers*each once each: no increment lost or counted twice.
func incrementsOnce(t *testing.T, h *harness, cookie string, workers, each int) {
	t.Helper()
	var mu sync.Mutex
	var got []int
	errs := parallel(workers, func(int) error {
		for range each {
			r, err := h.tryRaw("POST", "/incr?k=n", cookie)
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(r.body)
			if r.status != 200 || err != nil {
				return &badAnswer{r}
			}
			mu.Lock()
			got = append(got, n)
			mu.Unlock()
		}
		return nil
	})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	slices.Sort(got)
	for i, n := range got {
		if n != i+1 {
			t.Fatalf("the increments returned %v, want 1 to %d once each", got, workers*each)
		}
	}
}

func TestIncr(t *testing.T) {
	h := newHarness(t, session.Config{}, harnessOptions{})
	t.Run("parallel requests of one session all count", func(t *testing.T) {
		c := h.newClient("")
		c.do("POST", "/put?k=other&v=x").must(t, 200, "ok")
		cookie := h.cookieName() + "=" + c.sessionCookie()
		const workers, each = 4, 10
		incrementsOnce(t, h, cookie, workers, each)
		c.do("GET", "/get?k=n&type=int64").must(t, 200, strconv.Itoa(workers*each))
		c.do("GET", "/get?k=other").must(t, 200, "x")
	})
	t.Run("new session", func(t *testing.T) {
		c := h.newClient("")
		c.do("POST", "/incr?k=n").must(t, 200, "1")
		c.do("POST", "/incr?k=n").must(t, 200, "2")
		c.do("GET", "/keys").must(t, 200, "n")
	})
	t.Run("after a Put in the same session", func(t *testing.T) {
		c := h.newClient("")
		c.do("POST", "/put?k=n&type=int64&v=41").must(t, 200, "ok")
		c.do("POST", "/incr?k=n").must(t, 200, "42")
	})
	t.Run("after a Put in the same request", func(t *testing.T) {
		h := newHarness(t, session.Config{}, harnessOptions{routes: map[string]http.HandlerFunc{
			"POST /put-incr": func(w http.ResponseWriter, r *http.Request) {
				s := session.FromContext(r.Context())
				s.Put("n", 10)
				n, err := s.Incr(r.Context(), "n", 5)
				if err != nil {
					http.Error(w, err.Error(), 500)
					return
				}
				fmt.Fprint(w, n)
			},
		}})
		c := h.newClient("")
		c.do("POST", "/put-incr").must(t, 200, "15")
		c.do("POST", "/put-incr").must(t, 200, "15")
		c.do("GET", "/get?k=n&type=int64").must(t, 200, "15")
	})
	t.Run("not an integer", func(t *testing.T) {
		c := h.newClient("")
		c.do("POST", "/put?k=n&v=text").must(t, 200, "ok")
		c.do("POST", "/incr?k=n").must(t, 409, "not an integer\n")
		c.do("GET", "/get?k=n").must(t, 200, "text")
	})
	t.Run("empty key", func(t *testing.T) {
		h.newClient("").do("POST", "/incr?k=").must(t, 400, anyBody)
	})
}

type badAnswer struct{ r result }

func (e *badAnswer) Error() string {
	return "answer " + strconv.Itoa(e.r.status) + " " + strconv.Quote(e.r.body)
}

func TestCompareAndSwap(t *testing.T) {
	h := newHarness(t, session.Config{MaxSize: 1000}, harnessOptions{})
	t.Run("one winner among parallel requests", func(t *testing.T) {
		c := h.newClient("")
		c.do("POST", "/put?k=other&v=x").must(t, 200, "ok")
		cookie := h.cookieName() + "=" + c.sessionCookie()
		const n = 12
		var mu sync.Mutex
		var winners []int
		errs := parallel(n, func(i int) error {
			r, err := h.tryRaw("POST", "/cas?k=owner&new=req"+strconv.Itoa(i), cookie)
			if err != nil {
				return err
			}
			switch {
			case r.status == 200 && r.body == "true":
				mu.Lock()
				winners = append(winners, i)
				mu.Unlock()
			case r.status == 200 && r.body == "false":
			default:
				return &badAnswer{r}
			}
			return nil
		})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		if len(winners) != 1 {
			t.Fatalf("%d requests swapped, want 1", len(winners))
		}
		c.do("GET", "/get?k=owner").must(t, 200, "req"+strconv.Itoa(winners[0]))
	})
	t.Run("counting by read and swap", func(t *testing.T) {
		c := h.newClient("")
		c.do("POST", "/put?k=count&v=0").must(t, 200, "ok")
		cookie := h.cookieName() + "=" + c.sessionCookie()
		const workers, each, maxTries = 3, 5, 200
		errs := parallel(workers, func(int) error {
			done := 0
			for try := 0; done < each && try < maxTries; try++ {
				r, err := h.tryRaw("GET", "/get?k=count", cookie)
				if err != nil {
					return err
				}
				v, err := strconv.Atoi(r.body)
				if err != nil {
					return &badAnswer{r}
				}
				r, err = h.tryRaw("POST", "/cas?k=count&old="+r.body+"&new="+strconv.Itoa(v+1), cookie)
				if err != nil {
					return err
				}
				if r.status != 200 {
					return &badAnswer{r}
				}
				if r.body == "true" {
					done++
				}
			}
			return nil
		})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		c.do("GET", "/get?k=count").must(t, 200, strconv.Itoa(workers*each))
	})
	t.Run("absent only", func(t *testing.T) {
		c := h.newClient("")
		c.do("POST", "/cas?k=k&new=a").must(t, 200, "true")
		c.do("POST", "/cas?k=k&new=b").must(t, 200, "false")
		c.do("POST", "/cas?k=k&old=b&new=c").must(t, 200, "false")
		c.do("POST", "/cas?k=k&old=a&new=c").must(t, 200, "true")
		c.do("GET", "/get?k=k").must(t, 200, "c")
	})
	t.Run("too large", func(t *testing.T) {
		c := h.newClient("")
		c.do("POST", "/put?k=k&v=a").must(t, 200, "ok")
		big := make([]byte, 1000)
		for i := range big {
			big[i] = 'x'
		}
		c.do("POST", "/cas?k=k&old=a&new="+string(big)).must(t, 413, anyBody)
		c.do("GET", "/get?k=k").must(t, 200, "a")
	})
}

// TestWriteAfterDestroy: a slow request that loaded the session before a
// logout elsewhere writes after it; the session must stay dead.
func TestWriteAfterDestroy(t *testing.T) {
	tests := []struct {
		name string
		op   func(s *session.Session) error
		user string // the user of the new session the request may go on with
	}{
		{"Put", func(s *session.Session) error { return s.Put("late", "x") }, ""},
		{"Delete", func(s *session.Session) error { return s.Delete("cart") }, ""},
		// A login authenticates anew: it may start a new session of its
		// own user, under a new token, with nothing of the dead one.
		{"Login", func(s *session.Session) error { return s.Login("mallory") }, "mallory"},
		{"Renew", func(s *session.Session) error { return s.Renew() }, ""},
		{"Renew and Put", func(s *session.Session) error {
			s.Renew()
			return s.Put("late", "x")
		}, ""},
		{"Put, Commit, Put", func(s *session.Session) error {
			s.Put("late", "x")
			s.Commit(context.Background())
			return s.Put("later", "y")
		}, ""},
		{"Put then Incr", func(s *session.Session) error {
			s.Put("late", "x")
			if _, err := s.Incr(context.Background(), "n", 1); !errors.Is(err, session.ErrGone) {
				return fmt.Errorf("Incr on a destroyed session: %v, want ErrGone", err)
			}
			return nil
		}, ""},
		{"Incr then Put", func(s *session.Session) error {
			if _, err := s.Incr(context.Background(), "n", 1); !errors.Is(err, session.ErrGone) {
				return fmt.Errorf("Incr on a destroyed session: %v, want ErrGone", err)
			}
			return s.Put("late", "x")
		}, ""},
		{"CompareAndSwap then Put", func(s *session.Session) error {
			if _, err := s.CompareAndSwap(context.Background(), "n", nil, 1); !errors.Is(err, session.ErrGone) {
				return fmt.Errorf("CompareAndSwap on a destroyed session: %v, want ErrGone", err)
			}
			return s.Put("late", "x")
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loaded, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			t.Cleanup(func() { once.Do(func() { close(release) }) })
			h := newHarness(t, session.Config{}, harnessOptions{routes: map[string]http.HandlerFunc{
				"POST /slow": func(w http.ResponseWriter, r *http.Request) {
					s := session.FromContext(r.Context())
					s.User()
					close(loaded)
					<-release
					if err := tt.op(s); err != nil {
						http.Error(w, err.Error(), 500)
						return
					}
					w.Write([]byte("ok"))
				},
			}})
			c := h.newClient("")
			c.do("POST", "/login?user=ann").must(t, 200, "ok")
			c.do("POST", "/put?k=cart&v=3").must(t, 200, "ok")
			cookie := h.cookieName() + "=" + c.sessionCookie()

			slow := make(chan result, 1)
			go func() {
				r, err := h.tryRaw("POST", "/slow", cookie)
				if err != nil {
					r = result{status: -1, body: err.Error()}
				}
				slow <- r
			}()
			<-loaded
			h.raw("POST", "/destroy", cookie).must(t, 200, "ok")
			once.Do(func() { close(release) })
			r := <-slow
			if r.status != 200 {
				t.Fatalf("the slow request: %d %q", r.status, r.body)
			}
			// The logged-out token stays dead.
			h.raw("GET", "/whoami", cookie).must(t, 200, anonymous)
			if ck := r.cookie(h.cookieName()); ck != nil && ck.Value != "" {
				// The request may only go on with a new session, under a
				// new token, from its own later changes: nothing of the
				// dead session, its user included, comes back.
				if ck.Value[:43] == c.sessionCookie()[:43] {
					t.Fatal("the slow request set the logged-out token again")
				}
				h.raw("GET", "/user", h.cookieName()+"="+ck.Value).must(t, 200, tt.user)
				h.raw("GET", "/get?k=cart", h.cookieName()+"="+ck.Value).must(t, 200, "missing")
			}
			list, err := h.m.Sessions(t.Context(), "ann")
			if err != nil || len(list) != 0 {
				t.Errorf("ann's sessions after logout: %v, %v", list, err)
			}
			if list, _ := h.m.Sessions(t.Context(), "mallory"); tt.user == "" && len(list) != 0 {
				t.Errorf("mallory's sessions: %v", list)
			}
		})
	}
}

// TestRenewWithRequestsInFlight: requests with the old cookie that run
// while another request renews the session never fail.
func TestRenewWithRequestsInFlight(t *testing.T) {
	h := newHarness(t, session.Config{}, harnessOptions{})
	c := h.newClient("")
	c.do("POST", "/put?k=a&v=1").must(t, 200, "ok")
	cookie := h.cookieName() + "=" + c.sessionCookie()
	errs := parallel(5, func(i int) error {
		if i == 0 {
			r, err := h.tryRaw("POST", "/login?user=ann", cookie)
			if err == nil && r.status != 200 {
				err = &badAnswer{r}
			}
			return err
		}
		for range 10 {
			r, err := h.tryRaw("GET", "/get?k=a", cookie)
			if err != nil {
				return err
			}
			if r.status != 200 || (r.body != "1" && r.body != "missing") {
				return &badAnswer{r}
			}
		}
		return nil
	})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
}
