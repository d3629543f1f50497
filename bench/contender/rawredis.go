package contender

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"
)

// rawRedis is what a user writes by hand with go-redis and net/http: a
// random token in an unsigned cookie, the session as one JSON object under
// "raw:"+token, one GET to read it and a SET of the whole object to write.
// It slides no expiry and checks nothing: the floor of what a Redis-backed
// session can cost.
type rawRedis struct {
	rdb *redis.Client
}

const rawCookie = "raw_session"

// rawTTL is the lifetime SET gives the session.
const rawTTL = 24 * time.Hour

func newRawRedis(ctx context.Context, addr string) (*rawRedis, error) {
	rdb := redis.NewClient(&redis.Options{Addr: addr}) // go-redis defaults: pool of 10 per CPU
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, err
	}
	return &rawRedis{rdb: rdb}, nil
}

func (c *rawRedis) Middleware(next http.Handler) http.Handler { return next }
func (c *rawRedis) Close() error                              { return c.rdb.Close() }

func (c *rawRedis) Open(w http.ResponseWriter, r *http.Request) (Session, error) {
	s := &rawSession{c: c, w: w, r: r}
	if ck, err := r.Cookie(rawCookie); err == nil && len(ck.Value) == 64 {
		s.token = ck.Value
	}
	return s, nil
}

type rawSession struct {
	c      *rawRedis
	w      http.ResponseWriter
	r      *http.Request
	token  string
	loaded bool
	values map[string]string
	newTok bool
}

func (s *rawSession) load() error {
	if s.loaded {
		return nil
	}
	s.loaded = true
	s.values = map[string]string{}
	if s.token == "" {
		return nil
	}
	b, err := s.c.rdb.Get(s.r.Context(), "raw:"+s.token).Bytes()
	if errors.Is(err, redis.Nil) {
		s.token = ""
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &s.values); err != nil {
		s.values = map[string]string{}
	}
	return nil
}

func (s *rawSession) Get(key string) (string, bool, error) {
	if err := s.load(); err != nil {
		return "", false, err
	}
	v, ok := s.values[key]
	return v, ok, nil
}

func (s *rawSession) Set(key, v string) error {
	if err := s.load(); err != nil {
		return err
	}
	s.values[key] = v
	return nil
}

func (s *rawSession) Login(string) error {
	if err := s.load(); err != nil {
		return err
	}
	if s.token != "" {
		if err := s.c.rdb.Del(s.r.Context(), "raw:"+s.token).Err(); err != nil {
			return err
		}
	}
	s.token, s.newTok = newRawToken(), true
	return nil
}

// newRawToken returns 32 random bytes in hex: 64 characters.
func newRawToken() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *rawSession) Save() error {
	if s.token == "" {
		s.token, s.newTok = newRawToken(), true
	}
	b, err := json.Marshal(s.values)
	if err != nil {
		return err
	}
	if err := s.c.rdb.Set(s.r.Context(), "raw:"+s.token, b, rawTTL).Err(); err != nil {
		return err
	}
	if s.newTok {
		http.SetCookie(s.w, &http.Cookie{Name: rawCookie, Value: s.token, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	return nil
}
