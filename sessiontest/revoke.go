package sessiontest

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stickless/stickless/session"
)

// revokeTrials is how many times each revocation races a renewal loop.
const revokeTrials = 200

// testRevokeRacingRenewals checks that a revocation is final: a session
// renewed again and again, as fast as the store allows (through the
// peer, as another instance would), races a revocation at a random
// moment; once the revocation has returned, no key the session had is
// live, for every trial. The revocations are DestroyUser (log out
// everywhere) when the store implements session.UserIndex, and Destroy of
// the key the session had just before the call began (a logout, or the
// revocation of one session): a renewal may have moved it meanwhile, and
// the store must end the session under its new key too.
func testRevokeRacingRenewals(t *testing.T, h Harness) {
	s := h.New(t)
	peer := s
	if h.Peer != nil {
		peer = h.Peer(t, s)
	}
	kinds := []string{"Destroy"}
	if _, ok := s.(session.UserIndex); ok {
		kinds = append(kinds, "DestroyUser")
	}
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			survived, renewals := 0, 0
			for trial := range revokeTrials {
				n, ok := revokeTrial(t, s, peer, kind, trial)
				renewals += n
				if !ok {
					survived++
				}
			}
			t.Logf("%d trials, %d renewals in all, %d sessions survived their revocation", revokeTrials, renewals, survived)
			if survived > 0 {
				t.Errorf("%s: %d of %d sessions being renewed survived it", kind, survived, revokeTrials)
			}
		})
	}
}

// revokeTrial runs one trial and reports how many renewals the loop made
// and whether the revocation was final.
func revokeTrial(t *testing.T, s, peer session.Store, kind string, trial int) (int, bool) {
	ctx := t.Context()
	user := newUser()
	first := newKey()
	create(t, s, first, session.Write{User: user, Set: values("v", "1")})
	var (
		mu      sync.Mutex
		current = first
		keys    = []string{first}
		started = make(chan struct{})
		stop    = make(chan struct{})
		done    = make(chan struct{})
	)
	go func() {
		defer close(done)
		k := first
		for i := 0; ; i++ {
			if i == 2 {
				close(started)
			}
			select {
			case <-stop:
				return
			default:
			}
			next := newKey()
			mu.Lock()
			keys = append(keys, next)
			mu.Unlock()
			applied, err := peer.Save(ctx, withLimits(session.Write{From: k, Key: next, User: user, UserAgent: "renewer"}))
			if err != nil || !applied {
				if i < 2 {
					close(started)
				}
				return
			}
			k = next
			mu.Lock()
			current = k
			mu.Unlock()
		}
	}()
	<-started
	time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
	mu.Lock()
	target := current
	mu.Unlock()
	var err error
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	switch kind {
	case "Destroy":
		err = s.Destroy(cctx, target)
	case "DestroyUser":
		_, err = s.(session.UserIndex).DestroyUser(cctx, user, "")
	}
	cancel()
	if err != nil {
		t.Fatalf("trial %d: %s: %v", trial, kind, err)
	}
	// A renewal in flight when the call returned either failed or is a
	// survivor; the loop stops at its first failure, or here.
	close(stop)
	<-done
	mu.Lock()
	defer mu.Unlock()
	for _, k := range keys {
		if _, found := load(t, s, k); found {
			t.Logf("trial %d: the session lives on under key %d of %d after %s returned", trial, indexOf(keys, k)+1, len(keys), kind)
			return len(keys) - 1, false
		}
	}
	return len(keys) - 1, true
}

func indexOf(keys []string, k string) int {
	for i, x := range keys {
		if x == k {
			return i
		}
	}
	return -1
}
