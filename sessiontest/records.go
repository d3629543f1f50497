package sessiontest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stickless/stickless/session"
)

// testCreateLoad checks that Load returns what Create stored, with sane
// times.
func testCreateLoad(t *testing.T, s session.Store) {
	big := `"` + strings.Repeat("x", 64<<10) + `"`
	set := values(
		"n", "42",
		"s", `"hello"`,
		"obj", `{"a":[1,2,{"b":null}]}`,
		"field with spaces", "true",
		"ünïcödé 🔑", `"ünïcödé"`,
		"big", big,
	)
	user, key := newUser(), newKey()
	lt := session.Lifetime{Idle: time.Hour, Absolute: 2 * time.Hour}
	before := time.Now()
	create(t, s, key, session.Change{Set: set, User: user, UserAgent: "Mozilla/5.0 (sessiontest)"}, lt)
	after := time.Now()

	rec := mustLoad(t, s, key)
	wantValues(t, rec, set)
	if rec.User != user {
		t.Errorf("User = %q, want %q", rec.User, user)
	}
	if rec.UserAgent != "Mozilla/5.0 (sessiontest)" {
		t.Errorf("UserAgent = %q, want %q", rec.UserAgent, "Mozilla/5.0 (sessiontest)")
	}
	within(t, "Created", rec.Created, before, after)
	within(t, "LastSeen", rec.LastSeen, before, time.Now())
	within(t, "Expires", rec.Expires, before.Add(lt.Idle), time.Now().Add(lt.Idle))

	// The absolute deadline bounds Expires when it comes first.
	key2 := newKey()
	lt2 := session.Lifetime{Idle: 2 * time.Hour, Absolute: time.Hour}
	before = time.Now()
	create(t, s, key2, session.Change{}, lt2)
	after = time.Now()
	rec, found := loadLT(t, s, key2, lt2)
	if !found {
		t.Fatal("Load of an anonymous session without values: not found")
	}
	if len(rec.Values) != 0 || rec.User != "" || rec.UserAgent != "" {
		t.Errorf("empty anonymous session loads as %+v", rec)
	}
	within(t, "Expires (absolute first)", rec.Expires, before.Add(lt2.Absolute), after.Add(lt2.Absolute))
}

// testCreateCopiesValues checks that a caller may reuse the slices it gave
// to Create and Update.
func testCreateCopiesValues(t *testing.T, s session.Store) {
	key := newKey()
	b := []byte(`"before"`)
	create(t, s, key, session.Change{Set: map[string][]byte{"a": b}}, long)
	copy(b, `"mutate"`)
	c := []byte(`"update"`)
	if applied, err := s.Update(t.Context(), key, session.Change{Set: map[string][]byte{"c": c}}, long); err != nil || !applied {
		t.Fatalf("Update = %v, %v; want true, nil", applied, err)
	}
	copy(c, `"mutate"`)
	wantValues(t, mustLoad(t, s, key), values("a", `"before"`, "c", `"update"`))
}

// testLoadReturnsCopies checks that changing what Load returned does not
// change the store.
func testLoadReturnsCopies(t *testing.T, s session.Store) {
	key := newKey()
	create(t, s, key, session.Change{Set: values("a", `"x"`)}, long)
	rec := mustLoad(t, s, key)
	rec.Values["a"][1] = 'y'
	rec.Values["b"] = []byte("1")
	wantValues(t, mustLoad(t, s, key), values("a", `"x"`))
}

// testLoadUnknown checks that an unknown key is not found, without error.
func testLoadUnknown(t *testing.T, s session.Store) {
	_, found, err := s.Load(t.Context(), newKey(), long)
	if err != nil || found {
		t.Fatalf("Load(unknown) = found %v, err %v; want false, nil", found, err)
	}
}

// testUpdateDelta checks that Update sets and deletes only what it names.
func testUpdateDelta(t *testing.T, s session.Store) {
	user, key := newUser(), newKey()
	create(t, s, key, session.Change{Set: values("a", "1", "b", "2", "c", "3"), User: user, UserAgent: "ua"}, long)
	ch := session.Change{Set: values("b", "20", "d", "4"), Del: []string{"c", "never-set"}, UserAgent: "other"}
	if applied, err := s.Update(t.Context(), key, ch, long); err != nil || !applied {
		t.Fatalf("Update = %v, %v; want true, nil", applied, err)
	}
	rec := mustLoad(t, s, key)
	wantValues(t, rec, values("a", "1", "b", "20", "d", "4"))
	if rec.User != user {
		t.Errorf("User = %q after an Update without SetUser, want %q", rec.User, user)
	}
	wantUserKeys(t, s, user, key)

	// An empty change is applied and changes nothing.
	if applied, err := s.Update(t.Context(), key, session.Change{}, long); err != nil || !applied {
		t.Fatalf("empty Update = %v, %v; want true, nil", applied, err)
	}
	wantValues(t, mustLoad(t, s, key), values("a", "1", "b", "20", "d", "4"))
}

// testConcurrentUpdates checks that Updates of different fields from many
// goroutines all keep their change.
func testConcurrentUpdates(t *testing.T, s session.Store) {
	const writers, rounds = 4, 100
	key := newKey()
	create(t, s, key, session.Change{Set: values("keep", `"me"`)}, long)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range rounds {
				ch := session.Change{Set: map[string][]byte{
					fmt.Sprintf("w%d-%d", w, i): fmt.Appendf(nil, "%d", i),
					fmt.Sprintf("last%d", w):    fmt.Appendf(nil, "%d", i),
				}}
				if i > 0 {
					ch.Del = []string{fmt.Sprintf("tmp%d-%d", w, i-1)}
				}
				ch.Set[fmt.Sprintf("tmp%d-%d", w, i)] = []byte("0")
				applied, err := s.Update(t.Context(), key, ch, long)
				if err != nil || !applied {
					errs <- fmt.Errorf("writer %d round %d: Update = %v, %v", w, i, applied, err)
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
			want[fmt.Sprintf("w%d-%d", w, i)] = fmt.Appendf(nil, "%d", i)
		}
		want[fmt.Sprintf("last%d", w)] = fmt.Appendf(nil, "%d", rounds-1)
		want[fmt.Sprintf("tmp%d-%d", w, rounds-1)] = []byte("0")
	}
	rec := mustLoad(t, s, key)
	if len(rec.Values) != len(want) {
		t.Errorf("%d fields after concurrent updates, want %d", len(rec.Values), len(want))
	}
	wantValues(t, rec, want)
}

// testUpdateUnknown checks that Update of an unknown key writes nothing.
func testUpdateUnknown(t *testing.T, s session.Store) {
	user, key := newUser(), newKey()
	ch := session.Change{Set: values("a", "1"), SetUser: true, User: user}
	if applied, err := s.Update(t.Context(), key, ch, long); err != nil || applied {
		t.Fatalf("Update(unknown) = %v, %v; want false, nil", applied, err)
	}
	mustBeGone(t, s, key)
	wantUserKeys(t, s, user)
}

// testUpdateDestroyed checks that a write after Destroy brings nothing
// back, not even in the user index.
func testUpdateDestroyed(t *testing.T, s session.Store) {
	user, other, key := newUser(), newUser(), newKey()
	create(t, s, key, session.Change{Set: values("a", "1"), User: user}, long)
	if err := s.Destroy(t.Context(), key); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	for _, ch := range []session.Change{
		{Set: values("b", "2")},
		{Del: []string{"a"}},
		{SetUser: true, User: user},
		{SetUser: true, User: other, Set: values("c", "3")},
	} {
		if applied, err := s.Update(t.Context(), key, ch, long); err != nil || applied {
			t.Fatalf("Update(destroyed, %+v) = %v, %v; want false, nil", ch, applied, err)
		}
	}
	mustBeGone(t, s, key)
	wantUserKeys(t, s, user)
	wantUserKeys(t, s, other)
}

// testDestroyRacingUpdates checks that Updates racing a Destroy never
// bring the session back.
func testDestroyRacingUpdates(t *testing.T, s session.Store) {
	const writers = 50
	user, key := newUser(), newKey()
	create(t, s, key, session.Change{Set: values("a", "1"), User: user}, long)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			<-start
			ch := session.Change{Set: map[string][]byte{fmt.Sprint("w", w): []byte("1")}, SetUser: w%2 == 0, User: user}
			if _, err := s.Update(t.Context(), key, ch, long); err != nil {
				t.Errorf("Update: %v", err)
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
	create(t, s, key, session.Change{Set: values("a", "1"), User: user}, long)
	create(t, s, keep, session.Change{Set: values("a", "2"), User: user}, long)
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
