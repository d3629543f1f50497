package sessiontest

import (
	"testing"
	"time"

	"github.com/stickless/stickless/session"
)

// testUserSessions checks that UserSessions lists the live sessions of one
// user only, with their metadata.
func testUserSessions(t *testing.T, s session.Store) {
	alice, bob := newUser(), newUser()
	a1, a2, a3, b1, anon := newKey(), newKey(), newKey(), newKey(), newKey()
	before := time.Now()
	for _, c := range []struct{ key, user, ua string }{
		{a1, alice, "ua-1"}, {a2, alice, "ua-2"}, {a3, alice, "ua-3"}, {b1, bob, "ua-b"}, {anon, "", "ua-anon"},
	} {
		create(t, s, c.key, session.Change{Set: values("x", "1"), User: c.user, UserAgent: c.ua}, long)
	}
	after := time.Now()

	list, err := s.UserSessions(t.Context(), alice)
	if err != nil {
		t.Fatalf("UserSessions: %v", err)
	}
	want := map[string]string{a1: "ua-1", a2: "ua-2", a3: "ua-3"}
	if len(list) != len(want) {
		t.Errorf("UserSessions listed %d sessions, want %d", len(list), len(want))
	}
	for _, us := range list {
		ua, ok := want[us.Key]
		if !ok {
			t.Errorf("UserSessions lists %s, not one of alice's", short(us.Key))
			continue
		}
		delete(want, us.Key)
		if us.User != alice || us.UserAgent != ua {
			t.Errorf("%s: User %q, UserAgent %q; want %q, %q", short(us.Key), us.User, us.UserAgent, alice, ua)
		}
		within(t, "Created", us.Created, before, after)
		within(t, "LastSeen", us.LastSeen, before, time.Now())
		within(t, "Expires", us.Expires, before.Add(long.Idle), time.Now().Add(long.Idle))
	}
	if len(want) > 0 {
		t.Errorf("UserSessions left out %d of alice's sessions", len(want))
	}
	wantUserKeys(t, s, bob, b1)
	wantUserKeys(t, s, newUser())
	wantUserKeys(t, s, "")

	if err := s.Destroy(t.Context(), a2); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	wantUserKeys(t, s, alice, a1, a3)
}

// testUserIndexFollowsSetUser checks that Update with SetUser moves a
// session between users' indexes, and that binding to "" unbinds it.
func testUserIndexFollowsSetUser(t *testing.T, s session.Store) {
	alice, bob := newUser(), newUser()
	key, other := newKey(), newKey()
	create(t, s, key, session.Change{Set: values("x", "1")}, long)
	create(t, s, other, session.Change{User: alice}, long)
	update := func(ch session.Change) {
		t.Helper()
		if applied, err := s.Update(t.Context(), key, ch, long); err != nil || !applied {
			t.Fatalf("Update(%+v) = %v, %v; want true, nil", ch, applied, err)
		}
	}
	update(session.Change{SetUser: true, User: alice})
	wantUserKeys(t, s, alice, key, other)
	if rec := mustLoad(t, s, key); rec.User != alice {
		t.Errorf("User = %q, want %q", rec.User, alice)
	}
	update(session.Change{User: bob}) // without SetUser: no change of user
	wantUserKeys(t, s, alice, key, other)
	update(session.Change{SetUser: true, User: bob})
	wantUserKeys(t, s, alice, other)
	wantUserKeys(t, s, bob, key)
	update(session.Change{SetUser: true, User: ""})
	wantUserKeys(t, s, bob)
	rec := mustLoad(t, s, key)
	if rec.User != "" {
		t.Errorf("User = %q after binding to \"\", want \"\"", rec.User)
	}
	wantValues(t, rec, values("x", "1"))
}

// testDestroyUser checks that DestroyUser kills every session of one user,
// counts them, and leaves other users alone.
func testDestroyUser(t *testing.T, s session.Store) {
	alice, bob := newUser(), newUser()
	a := []string{newKey(), newKey(), newKey()}
	b1, anon := newKey(), newKey()
	for _, k := range a {
		create(t, s, k, session.Change{Set: values("x", "1"), User: alice}, long)
	}
	create(t, s, b1, session.Change{User: bob}, long)
	create(t, s, anon, session.Change{}, long)

	n, err := s.DestroyUser(t.Context(), alice)
	if err != nil || n != len(a) {
		t.Fatalf("DestroyUser = %d, %v; want %d, nil", n, err, len(a))
	}
	for _, k := range a {
		mustBeGone(t, s, k)
	}
	wantUserKeys(t, s, alice)
	wantUserKeys(t, s, bob, b1)
	mustLoad(t, s, b1)
	mustLoad(t, s, anon)

	for _, user := range []string{alice, newUser()} {
		if n, err := s.DestroyUser(t.Context(), user); err != nil || n != 0 {
			t.Errorf("DestroyUser with no sessions = %d, %v; want 0, nil", n, err)
		}
	}
}
