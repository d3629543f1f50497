package sessiontest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stickless/stickless/session"
)

// The limits subtests check each write at the exact boundary: a session of
// MaxSize bytes (field names plus values) or MaxFields fields is written,
// one byte or one field more is refused with ErrTooLarge and writes
// nothing. str(n) is a value of n bytes, so a field "a" set to str(n)
// counts 1+n bytes.

// small are the limits of the boundary subtests: 100 bytes, 4 fields.
var small = session.Limits{Idle: time.Hour, Absolute: 2 * time.Hour, MaxSize: 100, MaxFields: 4}

// save runs w with the limits small.
func save(t *testing.T, s session.Store, w session.Write) (bool, error) {
	t.Helper()
	w.Limits = small
	return s.Save(t.Context(), w)
}

// testLimitsCreate checks the limits on a creation.
func testLimitsCreate(t *testing.T, s session.Store) {
	tests := []struct {
		name string
		set  map[string]string
		ok   bool
	}{
		{"size at the limit", values("a", str(99)), true},
		{"size a byte over", values("a", str(100)), false},
		{"size over in the field name", values("ab", str(99)), false},
		{"size at the limit in 4 fields", values("a", str(24), "b", str(24), "c", str(24), "d", str(24)), true},
		{"fields at the limit", values("a", "1", "b", "1", "c", "1", "d", "1"), true},
		{"a field over", values("a", "1", "b", "1", "c", "1", "d", "1", "e", "1"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user, key := newUser(), newKey()
			applied, err := save(t, s, session.Write{Create: true, Key: key, Set: tt.set, User: user, UserAgent: "ua"})
			if !tt.ok {
				tooLarge(t, "creation", applied, err)
				mustBeGone(t, s, key)
				wantUserKeys(t, s, user)
				return
			}
			if err != nil || !applied {
				t.Fatalf("creation within the limits = %v, %v; want true, nil", applied, err)
			}
			wantValues(t, mustLoad(t, s, key), tt.set)
			wantUserKeys(t, s, user, key)
		})
	}
}

// testLimitsUpdate checks the limits on an update: what counts is the
// session after the write, replaced and deleted fields included.
func testLimitsUpdate(t *testing.T, s session.Store) {
	half := values("a", str(49)) // 50 bytes, 1 field
	four := values("a", "1", "b", "1", "c", "1", "d", "1")
	tests := []struct {
		name string
		base map[string]string
		w    session.Write
		ok   bool
	}{
		{"size to the limit", half, session.Write{Set: values("b", str(49))}, true},
		{"size a byte over", half, session.Write{Set: values("b", str(50))}, false},
		{"a replaced value counts once", values("a", str(99)), session.Write{Set: values("a", str(99))}, true},
		{"a replaced value a byte longer", values("a", str(99)), session.Write{Set: values("a", str(100))}, false},
		{"a deleted field makes room", values("a", str(49), "b", str(49)), session.Write{Del: []string{"a"}, Set: values("c", str(49))}, true},
		{"a field deleted and set counts once", values("a", str(49), "b", str(49)), session.Write{Del: []string{"b", "b"}, Set: values("b", str(49))}, true},
		{"Clear makes room", values("a", str(49), "b", str(49)), session.Write{Clear: true, Set: values("c", str(99))}, true},
		{"Clear and a byte over", values("a", "1"), session.Write{Clear: true, Set: values("c", str(100))}, false},
		{"a refused write binds no user", half, session.Write{Set: values("b", str(50)), BindUser: true, User: newUser(), Login: true}, false},
		{"fields: a new one over", four, session.Write{Set: values("e", "1")}, false},
		{"fields: an existing one", four, session.Write{Set: values("a", "2")}, true},
		{"fields: one deleted, one added", four, session.Write{Del: []string{"a"}, Set: values("e", "1")}, true},
		{"fields: deleting a missing one makes no room", four, session.Write{Del: []string{"x"}, Set: values("e", "1")}, false},
		{"fields: Clear makes room", four, session.Write{Clear: true, Set: values("e", "1", "f", "1", "g", "1", "h", "1")}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user, key := newUser(), newKey()
			create(t, s, key, session.Write{Set: tt.base, User: user, Limits: small})
			w := tt.w
			w.Key = key
			applied, err := save(t, s, w)
			rec := mustLoad(t, s, key)
			if !tt.ok {
				tooLarge(t, "update", applied, err)
				wantValues(t, rec, tt.base)
				if rec.User != user {
					t.Errorf("User = %q after a refused update, want %q", rec.User, user)
				}
				wantUserKeys(t, s, user, key)
				return
			}
			if err != nil || !applied {
				t.Fatalf("update within the limits = %v, %v; want true, nil", applied, err)
			}
			if len(rec.Values) > small.MaxFields || size(rec.Values) > small.MaxSize {
				t.Errorf("the session holds %d bytes in %d fields, past the limits", size(rec.Values), len(rec.Values))
			}
		})
	}
}

// testLimitsRenew checks the limits on a renewal: a refused one leaves
// the old session live and as it was, and writes nothing under the new
// key.
func testLimitsRenew(t *testing.T, s session.Store) {
	user, other, from, to := newUser(), newUser(), newKey(), newKey()
	create(t, s, from, session.Write{Set: values("a", str(49)), User: user, Limits: small})
	old := mustLoad(t, s, from)
	time.Sleep(renewPause)
	applied, err := save(t, s, session.Write{Key: to, From: from, Set: values("b", str(50)),
		BindUser: true, User: other, UserAgent: "ua", Login: true})
	tooLarge(t, "renewal a byte over", applied, err)
	rec := mustLoad(t, s, from)
	wantValues(t, rec, values("a", str(49)))
	if rec.User != user {
		t.Errorf("User = %q after a refused renewal, want %q", rec.User, user)
	}
	within(t, "Created after a refused renewal with Login", rec.Created, old.Created, old.Created)
	mustBeGone(t, s, to)
	wantUserKeys(t, s, user, from)
	wantUserKeys(t, s, other)

	applied, err = save(t, s, session.Write{Key: to, From: from, Set: values("b", str(49)), UserAgent: "ua"})
	if err != nil || !applied {
		t.Fatalf("renewal to the limit = %v, %v; want true, nil", applied, err)
	}
	wantValues(t, mustLoad(t, s, to), values("a", str(49), "b", str(49)))
	mustBeGone(t, s, from)

	// From a full session, a renewal that clears makes room.
	to2 := newKey()
	applied, err = save(t, s, session.Write{Key: to2, From: to, Clear: true, Set: values("c", str(99)), UserAgent: "ua"})
	if err != nil || !applied {
		t.Fatalf("renewal with Clear to the limit = %v, %v; want true, nil", applied, err)
	}
	wantValues(t, mustLoad(t, s, to2), values("c", str(99)))
	wantUserKeys(t, s, user, to2)
}

// testLimitsCounter checks the limits on Incr and CompareAndSwap.
func testLimitsCounter(t *testing.T, s session.Store) {
	c := s.(session.Counter)
	ctx := t.Context()

	// Size: the session holds 96 bytes; "n" grows digit by digit.
	key := newKey()
	create(t, s, key, session.Write{Set: values("a", str(95)), Limits: small})
	for _, step := range []struct {
		n    int64
		want int64
		ok   bool
	}{
		{5, 5, true},     // "n":"5" makes 98 bytes
		{5, 10, true},    // 99
		{90, 100, true},  // 100: at the limit
		{900, 0, false},  // "1000" would make 101
		{-90, 10, true},  // shrinking is fine
		{-10, 0, true},   // "0"
		{-10, -10, true}, // "-10" makes 100
		{-90, 0, false},  // "-100" would make 101
	} {
		v, found, err := c.Incr(ctx, key, "n", step.n, small)
		if !step.ok {
			if !found || !errors.Is(err, session.ErrTooLarge) {
				t.Errorf("Incr(n, %d) past MaxSize = %d, %v, %v; want found and an error wrapping session.ErrTooLarge", step.n, v, found, err)
			}
			continue
		}
		if err != nil || !found || v != step.want {
			t.Fatalf("Incr(n, %d) = %d, %v, %v; want %d, true, nil", step.n, v, found, err, step.want)
		}
	}
	wantValues(t, mustLoad(t, s, key), values("a", str(95), "n", "-10"))
	if _, found, err := c.Incr(ctx, key, "m", 1, small); !found || !errors.Is(err, session.ErrTooLarge) {
		t.Errorf("Incr of a new field past MaxSize: found %v, err %v; want an error wrapping session.ErrTooLarge", found, err)
	}

	// Size: CompareAndSwap to a longer value.
	key = newKey()
	create(t, s, key, session.Write{Set: values("a", str(95)), Limits: small})
	for _, step := range []struct {
		old, new string
		ok       bool
	}{
		{"", "12", true},       // 99 bytes
		{"12", "123", true},    // 100
		{"123", "1234", false}, // 101
	} {
		var old []byte
		if step.old != "" {
			old = []byte(step.old)
		}
		swapped, found, err := c.CompareAndSwap(ctx, key, "c", old, []byte(step.new), small)
		if !step.ok {
			if swapped || !found || !errors.Is(err, session.ErrTooLarge) {
				t.Errorf("CompareAndSwap(c, %s, %s) past MaxSize = %v, %v, %v; want false, true and an error wrapping session.ErrTooLarge",
					step.old, step.new, swapped, found, err)
			}
			continue
		}
		if err != nil || !found || !swapped {
			t.Fatalf("CompareAndSwap(c, %q, %s) = %v, %v, %v; want true, true, nil", step.old, step.new, swapped, found, err)
		}
	}
	wantValues(t, mustLoad(t, s, key), values("a", str(95), "c", "123"))

	// Fields: at MaxFields, a new field is refused, an existing one
	// changes.
	key = newKey()
	four := values("a", "1", "b", "1", "c", "1", "d", "1")
	create(t, s, key, session.Write{Set: four, Limits: small})
	if _, found, err := c.Incr(ctx, key, "n", 1, small); !found || !errors.Is(err, session.ErrTooLarge) {
		t.Errorf("Incr of a new field past MaxFields: found %v, err %v; want an error wrapping session.ErrTooLarge", found, err)
	}
	if swapped, found, err := c.CompareAndSwap(ctx, key, "e", nil, []byte("1"), small); swapped || !found || !errors.Is(err, session.ErrTooLarge) {
		t.Errorf("CompareAndSwap of a new field past MaxFields = %v, %v, %v; want false, true and an error wrapping session.ErrTooLarge", swapped, found, err)
	}
	if v, found, err := c.Incr(ctx, key, "a", 1, small); err != nil || !found || v != 2 {
		t.Errorf("Incr of an existing field at MaxFields = %d, %v, %v; want 2, true, nil", v, found, err)
	}
	if swapped, found, err := c.CompareAndSwap(ctx, key, "b", []byte("1"), []byte("7"), small); err != nil || !found || !swapped {
		t.Errorf("CompareAndSwap of an existing field at MaxFields = %v, %v, %v; want true, true, nil", swapped, found, err)
	}
	wantValues(t, mustLoad(t, s, key), values("a", "2", "b", "7", "c", "1", "d", "1"))
}

// size is the size of a session's values as the limits count it.
func size(m map[string]string) int {
	n := 0
	for k, v := range m {
		n += len(k) + len(v)
	}
	return n
}

// A parallelWrite adds field to the session under key, with value or a
// small one of its own, and reports whether it applied.
type parallelWrite func(ctx context.Context, s session.Store, key, field string, value []byte, lim session.Limits) (bool, error)

var (
	saveField parallelWrite = func(ctx context.Context, s session.Store, key, field string, value []byte, lim session.Limits) (bool, error) {
		return s.Save(ctx, session.Write{Key: key, Set: map[string]string{field: string(value)}, Limits: lim})
	}
	casField parallelWrite = func(ctx context.Context, s session.Store, key, field string, value []byte, lim session.Limits) (bool, error) {
		swapped, found, err := s.(session.Counter).CompareAndSwap(ctx, key, field, nil, value, lim)
		if err == nil && !found {
			return false, errors.New("sessiontest: CompareAndSwap did not find the session")
		}
		return swapped, err
	}
	incrField parallelWrite = func(ctx context.Context, s session.Store, key, field string, _ []byte, lim session.Limits) (bool, error) {
		v, found, err := s.(session.Counter).Incr(ctx, key, field, 1, lim)
		if err == nil && (!found || v != 1) {
			return false, fmt.Errorf("sessiontest: Incr of a new field = %d, found %v; want 1, true", v, found)
		}
		return err == nil, err
	}
)

// testParallelLimits sends 1,000 concurrent writes, each adding a
// different field (of 16 KiB but for Incr's), to one session, alternately
// through two instances of the store, and checks that the session never
// passed the limits, that every refused write got ErrTooLarge, and that
// exactly the writes that fitted were applied. The writes are Saves, and
// also Incrs and CompareAndSwaps when the store implements
// session.Counter.
func testParallelLimits(t *testing.T, h Harness) {
	const writers = 1000
	value := []byte(`"` + strings.Repeat("v", 16<<10-2) + `"`) // 16 KiB
	bySize := session.Limits{Idle: time.Hour, Absolute: 2 * time.Hour, MaxSize: 64 << 10, MaxFields: 256}
	byFields := session.Limits{Idle: time.Hour, Absolute: 2 * time.Hour, MaxSize: 1 << 20, MaxFields: 10}
	tests := []struct {
		name  string
		needs need
		lim   session.Limits
		ops   []parallelWrite // writer i uses ops[i%len(ops)]
		fit   int             // writes that fit: the seed field takes 5 bytes, each write 16 KiB + 5
	}{
		{"MaxSize", 0, bySize, []parallelWrite{saveField}, 3},
		{"MaxFields", 0, byFields, []parallelWrite{saveField}, 9},
		{"Counter/MaxSize", needCounter, bySize, []parallelWrite{saveField, casField}, 3},
		{"Counter/MaxFields", needCounter, byFields, []parallelWrite{saveField, casField, incrField}, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := h.New(t)
			needs(t, s, tt.needs)
			peer := s
			if h.Peer != nil {
				peer = h.Peer(t, s)
			} else {
				t.Log("sessiontest: Harness.Peer is nil: every write goes through one instance")
			}
			key := newKey()
			create(t, s, key, session.Write{Set: values("seed", "1"), Limits: tt.lim})
			applied := make([]bool, writers)
			errs := make([]error, writers)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range writers {
				via := s
				if i%2 == 1 {
					via = peer
				}
				op := tt.ops[i%len(tt.ops)]
				wg.Go(func() {
					<-start
					applied[i], errs[i] = op(t.Context(), via, key, fmt.Sprintf("f%04d", i), value, tt.lim)
				})
			}
			close(start)
			wg.Wait()

			rec := mustLoad(t, s, key)
			if n, sz := len(rec.Values), size(rec.Values); n > tt.lim.MaxFields || sz > tt.lim.MaxSize {
				t.Errorf("the session holds %d bytes in %d fields, past the limits of %d bytes and %d fields", sz, n, tt.lim.MaxSize, tt.lim.MaxFields)
			}
			if _, ok := rec.Values["seed"]; !ok {
				t.Error("the seed field is lost")
			}
			nApplied, other := 0, 0
			for i := range writers {
				_, stored := rec.Values[fmt.Sprintf("f%04d", i)]
				switch {
				case errs[i] == nil && applied[i]:
					nApplied++
					if !stored {
						t.Errorf("write %d applied, but its field is not in the session", i)
					}
				case errors.Is(errs[i], session.ErrTooLarge) && !applied[i]:
					if stored {
						t.Errorf("write %d refused, but its field is in the session", i)
					}
				default:
					if other++; other <= 5 {
						t.Errorf("write %d = %v, %v; want true, nil or false and an error wrapping session.ErrTooLarge", i, applied[i], errs[i])
					}
				}
			}
			if nApplied != tt.fit {
				t.Errorf("%d writes applied, want the %d that fit", nApplied, tt.fit)
			}
			if t.Failed() {
				t.Logf("%d writes applied, %d refused, %d failed otherwise; the session holds %d fields", nApplied, writers-nApplied-other, other, len(rec.Values))
			}
		})
	}
}
