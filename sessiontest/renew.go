package sessiontest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stickless/stickless/session"
)

// renewPause separates two writes so that their times differ by more than
// the Slack allowed on each.
const renewPause = 4 * Slack

// testRenew checks that a renewal moves the data, applies its change,
// kills the old key and moves the user index; with Login, it restarts the
// login time.
func testRenew(t *testing.T, s session.Store) {
	prev, user, oldKey, newKey_ := newUser(), newUser(), newKey(), newKey()
	create(t, s, oldKey, session.Write{Set: values("a", "1", "b", "2"), User: prev, UserAgent: "ua-old", Wrap: "wrap-old"})
	old := mustLoad(t, s, oldKey)
	time.Sleep(renewPause)

	w := session.Write{Set: values("c", "3"), Del: []string{"a"}, BindUser: true, User: user, UserAgent: "ua-new", Remember: true,
		Login: true, Wrap: "wrap-new"}
	before := time.Now()
	mustRenew(t, s, oldKey, newKey_, w)
	after := time.Now()
	rec := mustLoad(t, s, newKey_)
	wantValues(t, rec, values("b", "2", "c", "3"))
	if rec.User != user || rec.UserAgent != "ua-new" || !rec.Remember || rec.Wrap != "wrap-new" {
		t.Errorf("renewed session: User %q, UserAgent %q, Remember %v, Wrap %q; want %q, %q, true, %q",
			rec.User, rec.UserAgent, rec.Remember, rec.Wrap, user, "ua-new", "wrap-new")
	}
	within(t, "Created after a renewal with Login", rec.Created, before, after)
	if !rec.Created.After(old.Created) {
		t.Errorf("Created after a renewal with Login = %v, not after the first creation %v", rec.Created, old.Created)
	}
	mustBeGone(t, s, oldKey)
	wantValues(t, mustLoad(t, s, newKey_), values("b", "2", "c", "3"))
	wantUserKeys(t, s, user, newKey_)
	wantUserKeys(t, s, prev)

	// Renewing again moves the index entry again; the old key stays dead
	// for a renewal too.
	third := newKey()
	mustRenew(t, s, newKey_, third, session.Write{User: user, UserAgent: "ua-new"})
	if renew(t, s, newKey_, newKey(), session.Write{User: user}) {
		t.Fatal("renewal of a renewed-away key = true, want false")
	}
	wantUserKeys(t, s, user, third)
	rec = mustLoad(t, s, third)
	wantValues(t, rec, values("b", "2", "c", "3"))
	if rec.Remember || rec.Wrap != "" {
		t.Errorf("Remember %v, Wrap %q after a renewal without them, want false and \"\": a renewal records them", rec.Remember, rec.Wrap)
	}
}

// testRenewKeepsUser checks a renewal without BindUser: the session keeps
// its user, whatever the Write's User says, and the user's other sessions
// are left alone.
func testRenewKeepsUser(t *testing.T, s session.Store) {
	user, a, b, a2, a3 := newUser(), newKey(), newKey(), newKey(), newKey()
	create(t, s, a, session.Write{Set: values("x", "1"), User: user, UserAgent: "ua"})
	create(t, s, b, session.Write{User: user, UserAgent: "ua"})
	mustRenew(t, s, a, a2, session.Write{User: user, UserAgent: "ua"})
	rec := mustLoad(t, s, a2)
	if rec.User != user {
		t.Errorf("User after a renewal = %q, want %q", rec.User, user)
	}
	wantValues(t, rec, values("x", "1"))
	wantUserKeys(t, s, user, a2, b)

	other := newUser()
	mustRenew(t, s, a2, a3, session.Write{User: other, UserAgent: "ua"})
	if rec := mustLoad(t, s, a3); rec.User != user {
		t.Errorf("User after a renewal naming another User without BindUser = %q, want %q", rec.User, user)
	}
	wantUserKeys(t, s, user, a3, b)
	wantUserKeys(t, s, other)
}

// testRenewLogin checks that a renewal without Login keeps the login time
// and the absolute deadline, and that one with Login restarts both.
func testRenewLogin(t *testing.T, s session.Store) {
	lim := session.Limits{Idle: 2 * time.Hour, Absolute: time.Hour} // Expires is the absolute deadline
	k0, k1, k2 := newKey(), newKey(), newKey()
	create(t, s, k0, session.Write{Limits: lim})
	rec0, found := loadLim(t, s, k0, lim)
	if !found {
		t.Fatal("created session not found")
	}
	time.Sleep(renewPause)
	mustRenew(t, s, k0, k1, session.Write{Set: values("a", "1"), Limits: lim})
	rec1, found := loadLim(t, s, k1, lim)
	if !found {
		t.Fatal("renewed session not found")
	}
	within(t, "Created after a renewal without Login", rec1.Created, rec0.Created, rec0.Created)
	within(t, "Expires after a renewal without Login", rec1.Expires, rec0.Expires, rec0.Expires)

	time.Sleep(renewPause)
	before := time.Now()
	mustRenew(t, s, k1, k2, session.Write{Login: true, Limits: lim})
	after := time.Now()
	rec2, found := loadLim(t, s, k2, lim)
	if !found {
		t.Fatal("session renewed with Login not found")
	}
	within(t, "Created after a renewal with Login", rec2.Created, before, after)
	within(t, "Expires after a renewal with Login", rec2.Expires, before.Add(lim.Absolute), after.Add(lim.Absolute))
	wantValues(t, rec2, values("a", "1"))
}

// testRenewKeepsAbsoluteDeadline checks that a session renewed without
// Login dies at the absolute deadline of its login, while one renewed with
// Login lives on.
func testRenewKeepsAbsoluteDeadline(t *testing.T, s session.Store) {
	lim := session.Limits{Idle: time.Hour, Absolute: time.Second}
	user, kept, login := newUser(), newKey(), newKey()
	keptNew, loginNew := newKey(), newKey()
	create(t, s, kept, session.Write{Set: values("a", "1"), User: user, Limits: lim})
	create(t, s, login, session.Write{Set: values("a", "1"), User: user, Limits: lim})
	createEnd := time.Now()
	time.Sleep(lim.Absolute / 4)
	mustRenew(t, s, kept, keptNew, session.Write{Limits: lim})
	loginStart := time.Now()
	mustRenew(t, s, login, loginNew, session.Write{Login: true, Limits: lim})

	sleepUntil(createEnd.Add(lim.Absolute + Slack))
	_, found := loadLim(t, s, loginNew, lim)
	end := time.Now()
	switch {
	case found:
	case end.Before(loginStart.Add(lim.Absolute - Slack)):
		t.Errorf("session renewed with Login dead %v after the renewal began, within its absolute timeout of %v", end.Sub(loginStart), lim.Absolute)
	default:
		t.Logf("machine too slow to check that the session renewed with Login lived on: checked %v after the renewal", end.Sub(loginStart))
	}
	mustBeGone(t, s, keptNew)
	if found {
		wantUserKeys(t, s, user, loginNew)
	}
}

// testRenewUnknown checks that a renewal from a key that is not live
// writes nothing, not even under its new key.
func testRenewUnknown(t *testing.T, s session.Store) {
	user, oldKey, newKey_ := newUser(), newKey(), newKey()
	w := session.Write{Set: values("a", "1"), BindUser: true, User: user, UserAgent: "ua", Login: true}
	if renew(t, s, oldKey, newKey_, w) {
		t.Fatal("renewal of an unknown key = true, want false")
	}
	mustBeGone(t, s, newKey_)
	wantUserKeys(t, s, user)

	// A destroyed session cannot be renewed either.
	create(t, s, oldKey, session.Write{Set: values("a", "1"), User: user})
	if err := s.Destroy(t.Context(), oldKey); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if renew(t, s, oldKey, newKey_, w) {
		t.Fatal("renewal of a destroyed key = true, want false")
	}
	mustBeGone(t, s, oldKey)
	mustBeGone(t, s, newKey_)
	wantUserKeys(t, s, user)
}

// testRenewWithCreate checks the one reading of a Write that sets both
// Create and From (session.Write.Kind): a renewal, which writes nothing
// when From is not live and moves it when it is.
func testRenewWithCreate(t *testing.T, s session.Store) {
	dead, live, to := newKey(), newKey(), newKey()
	w := withLimits(session.Write{Create: true, From: dead, Key: to, Set: values("a", "1")})
	if applied, err := s.Save(t.Context(), w); applied || err != nil {
		t.Fatalf("Save with Create and a dead From = %v, %v; want a renewal that writes nothing (false, nil)", applied, err)
	}
	mustBeGone(t, s, to)
	create(t, s, live, session.Write{Set: values("b", "2")})
	w.From = live
	if applied, err := s.Save(t.Context(), w); !applied || err != nil {
		t.Fatalf("Save with Create and a live From = %v, %v; want a renewal (true, nil)", applied, err)
	}
	mustBeGone(t, s, live)
	wantValues(t, mustLoad(t, s, to), values("a", "1", "b", "2"))
}

// testRenewRacingUpdates checks that each update racing a renewal either
// lands before it, and moves with the data, or finds the old key dead and
// writes nothing.
func testRenewRacingUpdates(t *testing.T, s session.Store) {
	const writers = 50
	user, oldKey, newKey_ := newUser(), newKey(), newKey()
	create(t, s, oldKey, session.Write{Set: values("a", "1"), User: user})
	applied := make([]bool, writers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			<-start
			var err error
			ch := session.Write{Key: oldKey, Set: map[string]string{fmt.Sprint("w", w): "1"}, Limits: long}
			if applied[w], err = s.Save(t.Context(), ch); err != nil {
				t.Errorf("Save: %v", err)
			}
		})
	}
	wg.Go(func() {
		<-start
		w := session.Write{Key: newKey_, From: oldKey, User: user, Limits: long}
		if ok, err := s.Save(t.Context(), w); err != nil || !ok {
			t.Errorf("Save (renew) = %v, %v; want true, nil", ok, err)
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
			t.Errorf("writer %d: update applied = %v, but its field in the renewed session: %v", w, applied[w], moved)
		}
	}
	mustBeGone(t, s, oldKey)
	wantUserKeys(t, s, user, newKey_)
}
