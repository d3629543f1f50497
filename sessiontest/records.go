package sessiontest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stickless/stickless/session"
)

// testCreateLoad checks that Load returns what a creation stored, with
// sane times.
func testCreateLoad(t *testing.T, s session.Store) {
	big := `"` + strings.Repeat("x", 64<<10) + `"`
	set := values(
		"n", "42",
		"s", `"hello"`,
		"obj", `{"a":[1,2,{"b":null}]}`,
		"field with spaces", "true",
		"ünïcödé 🔑", `"ünïcödé"`,
		"big", big,
		"sealed", binary, // as the Manager stores an encrypted value
	)
	user, key := newUser(), newKey()
	lim := session.Limits{Idle: time.Hour, Absolute: 2 * time.Hour}
	before := time.Now()
	create(t, s, key, session.Write{Set: set, User: user, UserAgent: "Mozilla/5.0 (sessiontest)", Remember: true,
		Wrap: binary[:61], Limits: lim})
	after := time.Now()

	rec := mustLoad(t, s, key)
	wantValues(t, rec, set)
	if rec.Wrap != binary[:61] {
		t.Errorf("Wrap = %q, want %q", rec.Wrap, binary[:61])
	}
	if rec.User != user {
		t.Errorf("User = %q, want %q", rec.User, user)
	}
	if rec.UserAgent != "Mozilla/5.0 (sessiontest)" {
		t.Errorf("UserAgent = %q, want %q", rec.UserAgent, "Mozilla/5.0 (sessiontest)")
	}
	if !rec.Remember {
		t.Error("Remember = false, want true")
	}
	within(t, "Created", rec.Created, before, after)
	within(t, "LastSeen", rec.LastSeen, before, time.Now())
	within(t, "Expires", rec.Expires, before.Add(lim.Idle), time.Now().Add(lim.Idle))
	wantUserKeys(t, s, user, key)

	// The absolute deadline bounds Expires when it comes first. A
	// creation starts the login time without Login, and binds its User
	// without BindUser.
	key2 := newKey()
	lim2 := session.Limits{Idle: 2 * time.Hour, Absolute: time.Hour}
	before = time.Now()
	create(t, s, key2, session.Write{Limits: lim2})
	after = time.Now()
	rec, found := loadLim(t, s, key2, lim2)
	if !found {
		t.Fatal("Load of an anonymous session without values: not found")
	}
	if len(rec.Values) != 0 || rec.User != "" || rec.UserAgent != "" || rec.Remember {
		t.Errorf("empty anonymous session loads as %+v", rec)
	}
	within(t, "Created", rec.Created, before, after)
	within(t, "Expires (absolute first)", rec.Expires, before.Add(lim2.Absolute), after.Add(lim2.Absolute))
}

// binary is every byte value, as an encrypted value or a wrapped key may
// hold them.
var binary = func() string {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i + 7)
	}
	return string(b)
}()

// testLoadReturnsCopies checks that changing what Load returned does not
// change the store.
func testLoadReturnsCopies(t *testing.T, s session.Store) {
	key := newKey()
	create(t, s, key, session.Write{Set: values("a", `"x"`)})
	rec := mustLoad(t, s, key)
	rec.Values["a"] = `"y"`
	rec.Values["b"] = "1"
	wantValues(t, mustLoad(t, s, key), values("a", `"x"`))
}

// testLoadUnknown checks that an unknown key is not found, without error.
func testLoadUnknown(t *testing.T, s session.Store) {
	_, found, err := s.Load(t.Context(), newKey(), long)
	if err != nil || found {
		t.Fatalf("Load(unknown) = found %v, err %v; want false, nil", found, err)
	}
}

// testUpdateDelta checks that an update sets and deletes only what it
// names, and keeps the user, user agent and login time.
func testUpdateDelta(t *testing.T, s session.Store) {
	user, key := newUser(), newKey()
	create(t, s, key, session.Write{Set: values("a", "1", "b", "2", "c", "3"), User: user, UserAgent: "ua", Remember: true, Wrap: "w"})
	old := mustLoad(t, s, key)
	w := session.Write{Set: values("b", "20", "d", "4"), Del: []string{"c", "never-set"}, User: newUser(), UserAgent: "other",
		Remember: false, Wrap: "other"}
	mustUpdate(t, s, key, w)
	rec := mustLoad(t, s, key)
	wantValues(t, rec, values("a", "1", "b", "20", "d", "4"))
	if rec.User != user {
		t.Errorf("User = %q after an update without BindUser, want %q", rec.User, user)
	}
	if rec.UserAgent != "ua" {
		t.Errorf("UserAgent = %q after an update, want %q", rec.UserAgent, "ua")
	}
	if !rec.Remember {
		t.Error("Remember = false after an update, want true: only a creation or renewal records it")
	}
	if rec.Wrap != "w" {
		t.Errorf("Wrap = %q after an update, want %q: only a creation or renewal records it", rec.Wrap, "w")
	}
	within(t, "Created after an update without Login", rec.Created, old.Created, old.Created)
	wantUserKeys(t, s, user, key)

	// An empty write is applied and changes nothing.
	mustUpdate(t, s, key, session.Write{})
	wantValues(t, mustLoad(t, s, key), values("a", "1", "b", "20", "d", "4"))

	// Del applies before Set: a field both deleted and set ends set.
	mustUpdate(t, s, key, session.Write{Del: []string{"a", "b"}, Set: values("b", "21")})
	wantValues(t, mustLoad(t, s, key), values("b", "21", "d", "4"))
}

// testClear checks that Clear drops every old value, before Del and Set,
// in an update and in a renewal, and keeps the session alive and bound.
func testClear(t *testing.T, s session.Store) {
	user, key := newUser(), newKey()
	create(t, s, key, session.Write{Set: values("a", "1", "b", "2"), User: user})
	mustUpdate(t, s, key, session.Write{Clear: true, Set: values("c", "3")})
	rec := mustLoad(t, s, key)
	wantValues(t, rec, values("c", "3"))
	if rec.User != user {
		t.Errorf("User = %q after Clear, want %q", rec.User, user)
	}
	mustUpdate(t, s, key, session.Write{Clear: true, Del: []string{"c", "d"}, Set: values("d", "4")})
	wantValues(t, mustLoad(t, s, key), values("d", "4"))
	mustUpdate(t, s, key, session.Write{Clear: true})
	wantValues(t, mustLoad(t, s, key), values())

	renewed := newKey()
	mustUpdate(t, s, key, session.Write{Set: values("e", "5", "f", "6")})
	mustRenew(t, s, key, renewed, session.Write{Clear: true, Set: values("g", "7")})
	wantValues(t, mustLoad(t, s, renewed), values("g", "7"))
	mustBeGone(t, s, key)
	wantUserKeys(t, s, user, renewed)
}

// testBindUser checks that an update with BindUser binds the session to a
// new user, or unbinds it with an empty User, and that one without it
// keeps the user whatever its User says.
func testBindUser(t *testing.T, s session.Store) {
	alice, bob := newUser(), newUser()
	key := newKey()
	create(t, s, key, session.Write{Set: values("x", "1")})
	wantUser := func(want string) {
		t.Helper()
		if rec := mustLoad(t, s, key); rec.User != want {
			t.Errorf("User = %q, want %q", rec.User, want)
		}
	}
	mustUpdate(t, s, key, session.Write{BindUser: true, User: alice})
	wantUser(alice)
	mustUpdate(t, s, key, session.Write{User: bob}) // without BindUser: no change
	wantUser(alice)
	mustUpdate(t, s, key, session.Write{BindUser: true, User: bob})
	wantUser(bob)
	mustUpdate(t, s, key, session.Write{BindUser: true, User: ""})
	wantUser("")
	wantValues(t, mustLoad(t, s, key), values("x", "1"))
}

// testConcurrentUpdates checks that updates of different fields from many
// goroutines all keep their change.
func testConcurrentUpdates(t *testing.T, s session.Store) {
	const writers, rounds = 4, 100
	key := newKey()
	create(t, s, key, session.Write{Set: values("keep", `"me"`)})
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range rounds {
				ch := session.Write{Key: key, Limits: long, Set: map[string]string{
					fmt.Sprintf("w%d-%d", w, i): fmt.Sprintf("%d", i),
					fmt.Sprintf("last%d", w):    fmt.Sprintf("%d", i),
				}}
				if i > 0 {
					ch.Del = []string{fmt.Sprintf("tmp%d-%d", w, i-1)}
				}
				ch.Set[fmt.Sprintf("tmp%d-%d", w, i)] = "0"
				applied, err := s.Save(t.Context(), ch)
				if err != nil || !applied {
					errs <- fmt.Errorf("writer %d round %d: Save = %v, %v", w, i, applied, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := values("keep", `"me"`)
	for w := range writers {
		for i := range rounds {
			want[fmt.Sprintf("w%d-%d", w, i)] = fmt.Sprintf("%d", i)
		}
		want[fmt.Sprintf("last%d", w)] = fmt.Sprintf("%d", rounds-1)
		want[fmt.Sprintf("tmp%d-%d", w, rounds-1)] = "0"
	}
	rec := mustLoad(t, s, key)
	if len(rec.Values) != len(want) {
		t.Errorf("%d fields after concurrent updates, want %d", len(rec.Values), len(want))
	}
	wantValues(t, rec, want)
}

// testUpdateUnknown checks that an update of an unknown key writes
// nothing.
func testUpdateUnknown(t *testing.T, s session.Store) {
	user, key := newUser(), newKey()
	if update(t, s, key, session.Write{Set: values("a", "1"), BindUser: true, User: user, Login: true}) {
		t.Fatal("Save (update unknown) = true, want false")
	}
	mustBeGone(t, s, key)
	wantUserKeys(t, s, user)
}

// testUpdateDestroyed checks that a write after Destroy brings nothing
// back, not even in the user index.
func testUpdateDestroyed(t *testing.T, s session.Store) {
	user, other, key := newUser(), newUser(), newKey()
	create(t, s, key, session.Write{Set: values("a", "1"), User: user})
	if err := s.Destroy(t.Context(), key); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	for _, w := range []session.Write{
		{Set: values("b", "2")},
		{Del: []string{"a"}},
		{Clear: true},
		{BindUser: true, User: user},
		{BindUser: true, User: other, Set: values("c", "3")},
		{Login: true},
	} {
		if update(t, s, key, w) {
			t.Fatalf("Save (update destroyed, %+v) = true, want false", w)
		}
	}
	mustBeGone(t, s, key)
	wantUserKeys(t, s, user)
	wantUserKeys(t, s, other)
}

// testDestroyRacingUpdates checks that updates racing a Destroy never
// bring the session back.
func testDestroyRacingUpdates(t *testing.T, s session.Store) {
	const writers = 50
	user, key := newUser(), newKey()
	create(t, s, key, session.Write{Set: values("a", "1"), User: user})
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			<-start
			ch := session.Write{Key: key, Set: map[string]string{fmt.Sprint("w", w): "1"},
				BindUser: w%2 == 0, User: user, Limits: long}
			if _, err := s.Save(t.Context(), ch); err != nil {
				t.Errorf("Save: %v", err)
			}
		})
	}
	wg.Go(func() {
		<-start
		if err := s.Destroy(t.Context(), key); err != nil {
			t.Errorf("Destroy: %v", err)
		}
	})
	close(start)
	wg.Wait()
	mustBeGone(t, s, key)
	wantUserKeys(t, s, user)
}

// testDestroy checks Destroy: the session dies, leaves its user's index,
// and destroying again or destroying the unknown is no error.
func testDestroy(t *testing.T, s session.Store) {
	user, key, keep := newUser(), newKey(), newKey()
	create(t, s, key, session.Write{Set: values("a", "1"), User: user})
	create(t, s, keep, session.Write{Set: values("a", "2"), User: user})
	for i := range 2 {
		if err := s.Destroy(t.Context(), key); err != nil {
			t.Fatalf("Destroy #%d: %v", i+1, err)
		}
	}
	if err := s.Destroy(t.Context(), newKey()); err != nil {
		t.Fatalf("Destroy(unknown): %v", err)
	}
	mustBeGone(t, s, key)
	wantUserKeys(t, s, user, keep)
	wantValues(t, mustLoad(t, s, keep), values("a", "2"))
}
