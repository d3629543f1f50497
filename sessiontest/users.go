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
		create(t, s, c.key, session.Write{Set: values("x", "1"), User: c.user, UserAgent: c.ua, Remember: c.key == a2})
	}
	after := time.Now()

	list, err := s.(session.UserIndex).UserSessions(t.Context(), alice)
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
		if us.User != alice || us.UserAgent != ua || us.Remember != (us.Key == a2) {
			t.Errorf("%s: User %q, UserAgent %q, Remember %v; want %q, %q, %v", short(us.Key), us.User, us.UserAgent, us.Remember, alice, ua, us.Key == a2)
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

// testUserIndexFollowsBindUser checks that a Save with BindUser moves a
// session between users' indexes, and that binding to "" unbinds it.
func testUserIndexFollowsBindUser(t *testing.T, s session.Store) {
	alice, bob := newUser(), newUser()
	key, other := newKey(), newKey()
	create(t, s, key, session.Write{Set: values("x", "1")})
	create(t, s, other, session.Write{User: alice})
	mustUpdate(t, s, key, session.Write{BindUser: true, User: alice})
	wantUserKeys(t, s, alice, key, other)
	mustUpdate(t, s, key, session.Write{User: bob}) // without BindUser: no change of user
	wantUserKeys(t, s, alice, key, other)
	wantUserKeys(t, s, bob)
	mustUpdate(t, s, key, session.Write{BindUser: true, User: bob})
	wantUserKeys(t, s, alice, other)
	wantUserKeys(t, s, bob, key)
	mustUpdate(t, s, key, session.Write{BindUser: true, User: ""})
	wantUserKeys(t, s, bob)
	wantUserKeys(t, s, alice, other)
	wantUserKeys(t, s, "")
}

// testLoginOfAnotherUser checks the write of a login of bob on a browser
// that holds alice's session: a renewal that clears the values and binds
// bob. The session leaves alice's index for bob's, and keeps nothing of
// alice's but what the write sets.
func testLoginOfAnotherUser(t *testing.T, s session.Store) {
	alice, bob := newUser(), newUser()
	key, renewed, keep := newKey(), newKey(), newKey()
	create(t, s, key, session.Write{Set: values("secret", `"alice's"`), User: alice, UserAgent: "ua"})
	create(t, s, keep, session.Write{User: alice})
	mustRenew(t, s, key, renewed, session.Write{Clear: true, Set: values("theme", `"dark"`),
		BindUser: true, User: bob, UserAgent: "ua-bob", Login: true})
	rec := mustLoad(t, s, renewed)
	if rec.User != bob || rec.UserAgent != "ua-bob" {
		t.Errorf("after the login: User %q, UserAgent %q; want %q, %q", rec.User, rec.UserAgent, bob, "ua-bob")
	}
	wantValues(t, rec, values("theme", `"dark"`))
	mustBeGone(t, s, key)
	wantUserKeys(t, s, alice, keep)
	wantUserKeys(t, s, bob, renewed)
	list, err := s.(session.UserIndex).UserSessions(t.Context(), bob)
	if err != nil || len(list) != 1 {
		t.Fatalf("UserSessions(bob) = %d sessions, %v", len(list), err)
	}
	if list[0].UserAgent != "ua-bob" {
		t.Errorf("UserSessions(bob) lists UserAgent %q, want %q", list[0].UserAgent, "ua-bob")
	}
}

// testDestroyUser checks that DestroyUser kills every session of one user,
// counts them, and leaves other users alone.
func testDestroyUser(t *testing.T, s session.Store) {
	alice, bob := newUser(), newUser()
	a := []string{newKey(), newKey(), newKey()}
	b1, anon := newKey(), newKey()
	for _, k := range a {
		create(t, s, k, session.Write{Set: values("x", "1"), User: alice})
	}
	create(t, s, b1, session.Write{User: bob})
	create(t, s, anon, session.Write{})

	n, err := s.(session.UserIndex).DestroyUser(t.Context(), alice, "")
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
		if n, err := s.(session.UserIndex).DestroyUser(t.Context(), user, ""); err != nil || n != 0 {
			t.Errorf("DestroyUser with no sessions = %d, %v; want 0, nil", n, err)
		}
	}
}

// testDestroyUserKeep checks that DestroyUser spares the session under
// keep, and that a keep which is not one of the user's sessions (another
// user's, or none at all) spares nothing of the user's.
func testDestroyUserKeep(t *testing.T, s session.Store) {
	ix := s.(session.UserIndex)
	alice, bob := newUser(), newUser()
	a1, a2, a3, b1 := newKey(), newKey(), newKey(), newKey()
	for _, k := range []string{a1, a2, a3} {
		create(t, s, k, session.Write{Set: values("x", "1"), User: alice})
	}
	create(t, s, b1, session.Write{User: bob})

	n, err := ix.DestroyUser(t.Context(), alice, a2)
	if err != nil || n != 2 {
		t.Fatalf("DestroyUser(alice, keep one of hers) = %d, %v; want 2, nil", n, err)
	}
	mustBeGone(t, s, a1)
	mustBeGone(t, s, a3)
	wantValues(t, mustLoad(t, s, a2), values("x", "1"))
	wantUserKeys(t, s, alice, a2)

	if n, err := ix.DestroyUser(t.Context(), alice, a2); err != nil || n != 0 {
		t.Errorf("DestroyUser(alice, keep her only session) = %d, %v; want 0, nil", n, err)
	}
	wantUserKeys(t, s, alice, a2)

	if n, err := ix.DestroyUser(t.Context(), alice, b1); err != nil || n != 1 {
		t.Errorf("DestroyUser(alice, keep bob's session) = %d, %v; want 1, nil", n, err)
	}
	mustBeGone(t, s, a2)
	wantUserKeys(t, s, alice)
	wantUserKeys(t, s, bob, b1)
	mustLoad(t, s, b1)
}
