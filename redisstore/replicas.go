package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/rueidis"
)

// ErrNotReplicated is returned (wrapped) by a deletion that fewer replicas
// than Options.WaitReplicas acknowledged within Options.WaitTimeout: it
// stands on the master, but a failover may bring the session back.
var ErrNotReplicated = errors.New("redisstore: deletion not acknowledged by enough replicas")

// waiter is Options.WaitReplicas: a WAIT (or WAITAOF) after a deletion.
// WAIT covers the writes made earlier on the connection that sends it, so
// the deletion and its WAIT go together on a dedicated connection
// (rueidis's Dedicated; in Cluster it is bound to the deletion's slot).
type waiter struct {
	n       int64
	timeout time.Duration
	aof     bool
}

// withWait runs c, followed by the WAIT when one is configured, and
// returns their results; it returns by ctx's deadline whatever the
// connection does.
func (s *Store) withWait(ctx context.Context, cn *conn, c call) []rueidis.RedisResult {
	if s.wait.n == 0 {
		return pipeline(ctx, cn.r, c)
	}
	done := make(chan []rueidis.RedisResult, 1)
	go func() {
		var res []rueidis.RedisResult
		cn.c.Dedicated(func(d rueidis.DedicatedClient) error {
			res = pipeline(ctx, d, c, s.wait.call())
			return nil
		})
		done <- res
	}()
	select {
	case res := <-done:
		return res
	case <-ctx.Done():
		return []rueidis.RedisResult{rueidis.NewErrorResult(ctx.Err()), rueidis.NewErrorResult(ctx.Err())}
	}
}

func (w waiter) call() call {
	n, t, aof := w.n, w.timeout.Milliseconds(), w.aof
	return call{wait: true, build: func(b rueidis.Builder) rueidis.Completed {
		if aof {
			return b.Waitaof().Numlocal(0).Numreplicas(n).Timeout(t).Build()
		}
		return b.Wait().Numreplicas(n).Timeout(t).Build()
	}}
}

// check returns the error of the WAIT of res (a withWait result), or
// ErrNotReplicated when fewer replicas than asked acknowledged it.
func (w waiter) check(res []rueidis.RedisResult) error {
	if w.n == 0 {
		return nil
	}
	if len(res) != 2 {
		return errShape
	}
	return w.acked(res[1])
}

func (w waiter) acked(r rueidis.RedisResult) error {
	v, err := r.AsIntSlice() // WAITAOF: [local, replicas]
	if !w.aof {
		var n int64
		n, err = r.AsInt64()
		v = []int64{0, n}
	}
	if err != nil {
		return err
	}
	if len(v) != 2 || v[1] < w.n {
		return fmt.Errorf("%w: %v of %d", ErrNotReplicated, v, w.n)
	}
	return nil
}
