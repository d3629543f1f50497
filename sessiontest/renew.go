package sessiontest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stickless/stickless/session"
)

// renewPause separates a Create from a Renew so that their times differ by
// more than the Slack allowed on each.
const renewPause = 4 * Slack

// testRenew checks that Renew moves the data, applies its change, kills the
// old key and moves the user index.
func testRenew(t *testing.T, s session.Store) {
	prev, user, oldKey, newKey_ := newUser(), newUser(), newKey(), newKey()
	create(t, s, oldKey, session.Change{Set: values("a", "1", "b", "2"), User: prev, UserAgent: "ua-old"}, long)
	old := mustLoad(t, s, oldKey)
	time.Sleep(renewPause)

	ch := session.Change{Set: values("c", "3"), Del: []string{"a"}, SetUser: true, User: user, UserAgent: "ua-new"}
	before := time.Now()
	applied, err := s.Renew(t.Context(), oldKey, newKey_, ch, long)
	after := time.Now()
	if err != nil || !applied {
		t.Fatalf("Renew = %v, %v; want true, nil", applied, err)
	}
	rec := mustLoad(t, s, newKey_)
	wantValues(t, rec, values("b", "2", "c", "3"))
	if rec.User != user || rec.UserAgent != "ua-new" {
		t.Errorf("renewed session: User %q, UserAgent %q; want %q, %q", rec.User, rec.UserAgent, user, "ua-new")
	}
	within(t, "Created after Renew", rec.Created, before, after)
	if !rec.Created.After(old.Created) {
		t.Errorf("Created after Renew = %v, not after the first creation %v", rec.Created, old.Created)
	}
	mustBeGone(t, s, oldKey)
	wantValues(t, mustLoad(t, s, newKey_), values("b", "2", "c", "3"))
	wantUserKeys(t, s, user, newKey_)
	wantUserKeys(t, s, prev)

	// Renewing again moves the index entry again; the old key stays dead
	// for Renew too.
	third := newKey()
	if applied, err := s.Renew(t.Context(), newKey_, third, session.Change{User: user}, long); err != nil || !applied {
		t.Fatalf("second Renew = %v, %v; want true, nil", applied, err)
	}
	if applied, err := s.Renew(t.Context(), newKey_, newKey(), session.Change{User: user}, long); err != nil || applied {
		t.Fatalf("Renew of a renewed-away key = %v, %v; want false, nil", applied, err)
	}
	wantUserKeys(t, s, user, third)
	wantValues(t, mustLoad(t, s, third), values("b", "2", "c", "3"))
}

// testRenewKeepsUser checks Renew as the Manager calls it for a session
// already bound to a user (ch.User set, SetUser false), and that a Renew
// leaves other sessions of the user alone.
func testRenewKeepsUser(t *testing.T, s session.Store) {
	user, a, b, a2 := newUser(), newKey(), newKey(), newKey()
	create(t, s, a, session.Change{Set: values("x", "1"), User: user, UserAgent: "ua"}, long)
	create(t, s, b, session.Change{User: user, UserAgent: "ua"}, long)
	if applied, err := s.Renew(t.Context(), a, a2, session.Change{User: user, UserAgent: "ua"}, long); err != nil || !applied {
		t.Fatalf("Renew = %v, %v; want true, nil", applied, err)
	}
	rec := mustLoad(t, s, a2)
	if rec.User != user {
		t.Errorf("User after Renew = %q, want %q", rec.User, user)
	}
	wantValues(t, rec, values("x", "1"))
	wantUserKeys(t, s, user, a2, b)
}

// testRenewResetsAbsolute checks that the absolute deadline counts from
// the renewal.
func testRenewResetsAbsolute(t *testing.T, s session.Store) {
	lt := session.Lifetime{Idle: 2 * time.Hour, Absolute: time.Hour}
	oldKey, newKey_ := newKey(), newKey()
	create(t, s, oldKey, session.Change{}, lt)
	old, found := loadLT(t, s, oldKey, lt)
	if !found {
		t.Fatal("created session not found")
	}
	time.Sleep(renewPause)
	before := time.Now()
	if applied, err := s.Renew(t.Context(), oldKey, newKey_, session.Change{}, lt); err != nil || !applied {
		t.Fatalf("Renew = %v, %v; want true, nil", applied, err)
	}
	after := time.Now()
	rec, found := loadLT(t, s, newKey_, lt)
	if !found {
		t.Fatal("renewed session not found")
	}
	within(t, "Expires after Renew", rec.Expires, before.Add(lt.Absolute), after.Add(lt.Absolute))
	if !rec.Expires.After(old.Expires) {
		t.Errorf("Expires after Renew = %v, not after the first absolute deadline %v", rec.Expires, old.Expires)
	}
}

// testRenewUnknown checks that Renew of a key that is not live writes
// nothing.
func testRenewUnknown(t *testing.T, s session.Store) {
	user, oldKey, newKey_ := newUser(), newKey(), newKey()
	ch := session.Change{Set: values("a", "1"), SetUser: true, User: user}
	if applied, err := s.Renew(t.Context(), oldKey, newKey_, ch, long); err != nil || applied {
		t.Fatalf("Renew(unknown) = %v, %v; want false, nil", applied, err)
	}
	mustBeGone(t, s, newKey_)
	wantUserKeys(t, s, user)

	// A destroyed session cannot be renewed either.
	create(t, s, oldKey, session.Change{Set: values("a", "1"), User: user}, long)
	if err := s.Destroy(t.Context(), oldKey); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if applied, err := s.Renew(t.Context(), oldKey, newKey_, ch, long); err != nil || applied {
		t.Fatalf("Renew(destroyed) = %v, %v; want false, nil", applied, err)
	}
	mustBeGone(t, s, oldKey)
	mustBeGone(t, s, newKey_)
	wantUserKeys(t, s, user)
}

// testRenewRacingUpdates checks that each Update racing a Renew either
// lands before it, and moves with the data, or finds the old key dead and
// writes nothing.
func testRenewRacingUpdates(t *testing.T, s session.Store) {
	const writers = 50
	user, oldKey, newKey_ := newUser(), newKey(), newKey()
	create(t, s, oldKey, session.Change{Set: values("a", "1"), User: user}, long)
	applied := make([]bool, writers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			<-start
			var err error
			ch := session.Change{Set: map[string][]byte{fmt.Sprint("w", w): []byte("1")}}
			if applied[w], err = s.Update(t.Context(), oldKey, ch, long); err != nil {
				t.Errorf("Update: %v", err)
			}
		})
	}
	wg.Go(func() {
		<-start
		if ok, err := s.Renew(t.Context(), oldKey, newKey_, session.Change{User: user}, long); err != nil || !ok {
			t.Errorf("Renew = %v, %v; want true, nil", ok, err)
		}
	})
	close(start)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	rec := mustLoad(t, s, newKey_)
	for w := range writers {
		_, moved := rec.Values[fmt.Sprint("w", w)]
		if moved != applied[w] {
			t.Errorf("writer %d: Update applied = %v, but its field in the renewed session: %v", w, applied[w], moved)
		}
	}
	mustBeGone(t, s, oldKey)
	wantUserKeys(t, s, user, newKey_)
}
