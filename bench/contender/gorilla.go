package contender

import (
	"errors"
	"net/http"

	"github.com/boj/redistore"
	"github.com/gomodule/redigo/redis"
	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
)

// gorillaContender is github.com/gorilla/sessions with
// github.com/boj/redistore (redigo): a signed cookie (securecookie, HMAC)
// holding a random id, the session gob-encoded in one key, GET to read,
// SETEX of the whole session to save.
type gorillaContender struct {
	pool  *redis.Pool
	store *redistore.RediStore
}

const gorillaCookie = "gorilla_session"

func newGorilla(addr string) (*gorillaContender, error) {
	pool := redigoPool(addr)
	store, err := redistore.NewRediStoreWithPool(pool, Secret)
	if err != nil {
		pool.Close()
		return nil, err
	}
	store.Options.Secure = false
	store.Options.HttpOnly = true
	store.Options.SameSite = http.SameSiteLaxMode
	return &gorillaContender{pool: pool, store: store}, nil
}

func (c *gorillaContender) Middleware(next http.Handler) http.Handler { return next }
func (c *gorillaContender) Close() error                              { return c.store.Close() }

func (c *gorillaContender) Open(w http.ResponseWriter, r *http.Request) (Session, error) {
	s, err := c.store.Get(r, gorillaCookie)
	var cerr securecookie.Error
	if err != nil && errors.As(err, &cerr) && cerr.IsDecode() {
		err = nil // forged or garbage cookie: a new session
	}
	if err != nil {
		return nil, err
	}
	return &gorillaSession{s: s, w: w, r: r}, nil
}

type gorillaSession struct {
	s *sessions.Session
	w http.ResponseWriter
	r *http.Request
}

func (s *gorillaSession) Get(key string) (string, bool, error) {
	v, ok := s.s.Values[key].(string)
	return v, ok, nil
}

func (s *gorillaSession) Set(key, v string) error {
	s.s.Values[key] = v
	return nil
}

// Login starts from a new id; gorilla/sessions has no renew, so this is
// what its users write: drop the id and save under a fresh one.
func (s *gorillaSession) Login(string) error {
	s.s.ID = ""
	return nil
}

func (s *gorillaSession) Save() error { return s.s.Save(s.r, s.w) }
