package contender

import (
	"time"

	"github.com/gomodule/redigo/redis"
)

// redigoPool returns the connection pool scs and gorilla both use. MaxIdle
// is 256, above the benchmark's concurrency, so that neither pays for
// connections closed and redialled between requests (the pools in those
// libraries' READMEs keep 10 idle connections, which would make them
// slower here, not faster). No TestOnBorrow: it would add a PING per request.
func redigoPool(addr string) *redis.Pool {
	return &redis.Pool{
		MaxIdle:     256,
		IdleTimeout: 240 * time.Second,
		Dial: func() (redis.Conn, error) {
			return redis.Dial("tcp", addr)
		},
	}
}
