// Package contender puts each session library of the side-by-side benchmark
// behind one interface, so that every contender answers the benchmark's
// requests with the same handler code and the same response bodies.
package contender

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
)

// Contender is one way of keeping sessions: a library with its Redis store,
// hand-written Redis calls, or nothing at all.
type Contender interface {
	// Middleware wraps the application's handler; contenders that load and
	// save in middleware do it here, the others return next unchanged.
	Middleware(next http.Handler) http.Handler
	// Open returns the session of the request. It may load lazily; a bad,
	// forged or missing cookie gives an empty session, not an error.
	Open(w http.ResponseWriter, r *http.Request) (Session, error)
	// Close releases the contender's connections.
	Close() error
}

// Session is the per-request session API the handlers use.
type Session interface {
	// Get returns the string value of key; ok is false when it is missing.
	// err reports a store that could not answer.
	Get(key string) (v string, ok bool, err error)
	// Set sets key to v, to be written by Save.
	Set(key, v string) error
	// Login gives the session a new token (against fixation) and binds it
	// to user.
	Login(user string) error
	// Save writes what Set and Login changed. Contenders that save in their
	// middleware do nothing here.
	Save() error
}

// Names lists the contenders New knows, in the order of the tables.
var Names = []string{"bare", "rawredis", "rawrueidis", "scs", "gorilla", "stickless", "stickless-cache",
	"stickless-clear", "stickless-cache-clear"}

// Secret is the signing key every contender that signs its cookies uses,
// so that the three instances behind nginx accept each other's cookies. It
// is a benchmark constant, never a production key.
var Secret = []byte("stickless-bench-signing-key-0123456789abcdef")

// New returns the contender called name, using the Redis server at addr
// (host:port).
func New(ctx context.Context, name, addr string) (Contender, error) {
	switch name {
	case "bare":
		return bare{}, nil
	case "rawredis":
		return newRawRedis(ctx, addr)
	case "rawrueidis":
		return newRawRueidis(ctx, addr)
	case "scs":
		return newSCS(addr)
	case "gorilla":
		return newGorilla(addr)
	case "stickless":
		return newStickless(ctx, addr, false, false)
	case "stickless-cache":
		return newStickless(ctx, addr, true, false)
	case "stickless-clear":
		return newStickless(ctx, addr, false, true)
	case "stickless-cache-clear":
		return newStickless(ctx, addr, true, true)
	}
	return nil, fmt.Errorf("contender: unknown contender %q (want one of %s)", name, strings.Join(Names, ", "))
}

// Value returns the 100-byte value setup stores under key "k<i>".
func Value(i int) string {
	return strings.Repeat(strconv.Itoa(i%10), 100)
}

// Handler returns the benchmark application on top of c. Every contender
// gets this same code:
//
//	GET  /read     reads user_name: "What's up, <name>?" ("stranger" without one)
//	POST /write    reads user_name and writes one key, n, then answers as /read
//	GET  /read10   reads user_name and the ten 100-byte keys k0..k9
//	POST /setup    logs in as alice (new token), with ?keys=N keys k0..k(N-1)
//	GET  /healthz  answers ok without touching the session
//
// A store error answers 503, which the load driver counts as an error.
func Handler(c Contender) http.Handler {
	var counter atomic.Int64
	mux := http.NewServeMux()
	fail := func(w http.ResponseWriter, err error) {
		http.Error(w, "session store error", http.StatusServiceUnavailable)
	}
	greet := func(w http.ResponseWriter, name string, ok bool, extra string) {
		if !ok {
			name = "stranger"
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("What's up, " + name + "?" + extra + "\n"))
	}
	mux.HandleFunc("GET /read", func(w http.ResponseWriter, r *http.Request) {
		s, err := c.Open(w, r)
		if err != nil {
			fail(w, err)
			return
		}
		name, ok, err := s.Get("user_name")
		if err != nil {
			fail(w, err)
			return
		}
		greet(w, name, ok, "")
	})
	mux.HandleFunc("POST /write", func(w http.ResponseWriter, r *http.Request) {
		s, err := c.Open(w, r)
		if err != nil {
			fail(w, err)
			return
		}
		name, ok, err := s.Get("user_name")
		if err == nil {
			err = s.Set("n", strconv.FormatInt(counter.Add(1), 10))
		}
		if err == nil {
			err = s.Save()
		}
		if err != nil {
			fail(w, err)
			return
		}
		greet(w, name, ok, "")
	})
	mux.HandleFunc("GET /read10", func(w http.ResponseWriter, r *http.Request) {
		s, err := c.Open(w, r)
		if err != nil {
			fail(w, err)
			return
		}
		name, ok, err := s.Get("user_name")
		if err != nil {
			fail(w, err)
			return
		}
		n, size := 0, 0
		for i := range 10 {
			v, found, err := s.Get("k" + strconv.Itoa(i))
			if err != nil {
				fail(w, err)
				return
			}
			if found {
				n++
				size += len(v)
			}
		}
		greet(w, name, ok, " "+strconv.Itoa(n)+" keys, "+strconv.Itoa(size)+" bytes")
	})
	mux.HandleFunc("POST /setup", func(w http.ResponseWriter, r *http.Request) {
		keys, _ := strconv.Atoi(r.URL.Query().Get("keys"))
		s, err := c.Open(w, r)
		if err == nil {
			err = s.Login("alice")
		}
		if err == nil {
			err = s.Set("user_name", "alice")
		}
		for i := 0; err == nil && i < keys; i++ {
			err = s.Set("k"+strconv.Itoa(i), Value(i))
		}
		if err == nil {
			err = s.Save()
		}
		if err != nil {
			fail(w, err)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	return c.Middleware(mux)
}

// CookieHeader turns the Set-Cookie headers of a setup response into the
// Cookie header that logs in with them ("" when there are none).
func CookieHeader(resp *http.Response) string {
	var parts []string
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 || c.Value == "" {
			continue
		}
		parts = append(parts, c.Name+"="+c.Value)
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

// bare keeps no session at all: the ceiling of what net/http can do here.
type bare struct{}

func (bare) Middleware(next http.Handler) http.Handler                { return next }
func (bare) Open(http.ResponseWriter, *http.Request) (Session, error) { return bareSession{}, nil }
func (bare) Close() error                                             { return nil }

type bareSession struct{}

func (bareSession) Get(string) (string, bool, error) { return "", false, nil }
func (bareSession) Set(string, string) error         { return nil }
func (bareSession) Login(string) error               { return nil }
func (bareSession) Save() error                      { return nil }
