package contender

import (
	"context"
	"net/http"

	"github.com/stickless/stickless/redisstore"
	"github.com/stickless/stickless/session"
)

// sticklessContender is session.Manager with its defaults (30 min idle
// timeout, 12 h absolute, values encrypted) on redisstore with its
// defaults (a read slides the idle deadline when the last slide is at
// least IdleTimeout/20 old); only InsecureCookie is set, for plain HTTP on
// loopback like the other contenders. As "stickless-cache" it also has
// redisstore's client-side cache on (Options.ClientCache): a read of an
// unchanged session sends Redis nothing. "stickless-clear" and
// "stickless-cache-clear" are the same with Config.DisableEncryption: the
// baseline of what encryption costs.
type sticklessContender struct {
	store *redisstore.Store
	m     *session.Manager
}

func newStickless(ctx context.Context, addr string, cache, clear bool) (*sticklessContender, error) {
	store, err := redisstore.NewFromURL(ctx, "redis://"+addr, redisstore.Options{ClientCache: cache})
	if err != nil {
		return nil, err
	}
	m := session.New(store, session.Config{Keys: [][]byte{Secret}, InsecureCookie: true, DisableEncryption: clear})
	return &sticklessContender{store: store, m: m}, nil
}

func (c *sticklessContender) Middleware(next http.Handler) http.Handler { return c.m.Handler(next) }
func (c *sticklessContender) Close() error                              { return c.store.Close() }

func (c *sticklessContender) Open(w http.ResponseWriter, r *http.Request) (Session, error) {
	return sticklessSession{session.FromContext(r.Context())}, nil
}

type sticklessSession struct{ s *session.Session }

func (s sticklessSession) Get(key string) (string, bool, error) {
	v, ok := s.s.String(key)
	return v, ok, s.s.Err()
}

func (s sticklessSession) Set(key, v string) error { return s.s.Put(key, v) }

func (s sticklessSession) Login(user string) error { return s.s.Login(user) }

func (s sticklessSession) Save() error { return nil } // the middleware commits
