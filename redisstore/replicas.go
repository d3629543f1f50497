package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/rueidis"
)

// ErrNotReplicated is returned (wrapped) by Destroy, a renewal and
// DestroyUser when fewer replicas than Options.WaitReplicas acknowledged
// the deletion within Options.WaitTimeout. The deletion stands on the
// master, but a failover before the replicas catch up can bring the
// session back.
var ErrNotReplicated = errors.New("redisstore: deletion not acknowledged by enough replicas")

// waiter is Options.WaitReplicas: a WAIT (or WAITAOF) after a deletion.
//
// WAIT covers the writes made earlier on the connection that sends it, so
// it must follow the deletion on the same connection. rueidis (v1.0.79,
// mux.go DoMulti) sends a batch that holds a blocking command, as WAIT
// is, whole on one dedicated connection; in Cluster the WAIT is given
// the deletion's slot (Completed.SetSlot), so that both go to the key's
// node in one batch. TestWaitSameConnection checks it, through CLIENT
// LIST, should a rueidis upgrade change that routing.
type waiter struct {
	n       int64
	timeout time.Duration
	aof     bool
}

// after returns c followed, when a wait is configured, by the WAIT that
// makes sure it reached the replicas; sk is the key c deletes.
func (w waiter) after(c call, sk string) []call {
	if w.n == 0 {
		return []call{c}
	}
	return []call{c, w.call(sk)}
}

func (w waiter) call(sk string) call {
	n, t, aof := w.n, w.timeout.Milliseconds(), w.aof
	return call{wait: true, build: func(b rueidis.Builder) rueidis.Completed {
		if aof {
			return b.Waitaof().Numlocal(0).Numreplicas(n).Timeout(t).Build().SetSlot(sk)
		}
		return b.Wait().Numreplicas(n).Timeout(t).Build().SetSlot(sk)
	}}
}

// check returns the error of the WAITs among res, or ErrNotReplicated
// when one was acknowledged by fewer replicas than asked.
func (w waiter) check(res []rueidis.RedisResult) error {
	if w.n == 0 {
		return nil
	}
	for i := 1; i < len(res); i += 2 {
		if err := w.acked(res[i]); err != nil {
			return err
		}
	}
	return nil
}

func (w waiter) acked(r rueidis.RedisResult) error {
	var got int64
	if w.aof {
		v, err := r.AsIntSlice()
		if err != nil {
			return err
		}
		if len(v) == 2 {
			got = v[1]
		}
	} else {
		v, err := r.AsInt64()
		if err != nil {
			return err
		}
		got = v
	}
	if got < w.n {
		return fmt.Errorf("%w: %d of %d", ErrNotReplicated, got, w.n)
	}
	return nil
}

// probeWaitAOF checks that Redis has WAITAOF (Redis 7.2).
func (s *Store) probeWaitAOF(ctx context.Context) error {
	res, err := s.r.Do(ctx, s.r.B().CommandInfo().CommandName("waitaof").Build()).ToArray()
	if err != nil {
		return fail("probe WAITAOF", err)
	}
	if len(res) == 0 || res[0].IsNil() {
		return errors.New("redisstore: New: Options.WaitAOF: this Redis has no WAITAOF (it needs Redis 7.2 or later)")
	}
	return nil
}
