package contender

import (
	"context"
	"net/http"

	"github.com/alexedwards/scs/redisstore"
	"github.com/alexedwards/scs/v2"
	"github.com/gomodule/redigo/redis"
)

// scsContender is github.com/alexedwards/scs/v2 with its Redis store
// (redigo), defaults otherwise: gob codec, 24 h lifetime, no idle timeout
// (so a read is one GET and slides nothing), the whole session written
// with one SET on every change.
type scsContender struct {
	pool *redis.Pool
	sm   *scs.SessionManager
}

func newSCS(addr string) (*scsContender, error) {
	pool := redigoPool(addr)
	conn := pool.Get()
	_, err := conn.Do("PING")
	conn.Close()
	if err != nil {
		pool.Close()
		return nil, err
	}
	sm := scs.New()
	sm.Store = redisstore.New(pool)
	sm.Cookie.Secure = false // plain HTTP on loopback, like the other contenders
	return &scsContender{pool: pool, sm: sm}, nil
}

func (c *scsContender) Middleware(next http.Handler) http.Handler { return c.sm.LoadAndSave(next) }
func (c *scsContender) Close() error                              { return c.pool.Close() }

func (c *scsContender) Open(w http.ResponseWriter, r *http.Request) (Session, error) {
	return scsSession{sm: c.sm, ctx: r.Context()}, nil
}

type scsSession struct {
	sm  *scs.SessionManager
	ctx context.Context
}

func (s scsSession) Get(key string) (string, bool, error) {
	v, ok := s.sm.Get(s.ctx, key).(string)
	return v, ok, nil
}

func (s scsSession) Set(key, v string) error {
	s.sm.Put(s.ctx, key, v)
	return nil
}

func (s scsSession) Login(string) error { return s.sm.RenewToken(s.ctx) }
func (s scsSession) Save() error        { return nil } // LoadAndSave commits
