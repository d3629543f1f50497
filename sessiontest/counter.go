package sessiontest

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stickless/stickless/session"
)

// testIncr checks Incr on missing and integer fields and on an unknown
// session.
func testIncr(t *testing.T, s session.Store) {
	c := s.(session.Counter)
	key := newKey()
	create(t, s, key, session.Write{Set: values("n", "10", "neg", "-3", "other", `"x"`)})
	for _, step := range []struct {
		field string
		n     int64
		want  int64
	}{
		{"missing", 5, 5},
		{"missing", -2, 3},
		{"n", 1, 11},
		{"n", 0, 11},
		{"neg", -7, -10},
		{"zero", 0, 0},
	} {
		v, found, err := c.Incr(t.Context(), key, step.field, step.n, long)
		if err != nil || !found || v != step.want {
			t.Fatalf("Incr(%q, %d) = %d, %v, %v; want %d, true, nil", step.field, step.n, v, found, err, step.want)
		}
	}
	// The store keeps the decimal text, the JSON encoding of the integer.
	wantValues(t, mustLoad(t, s, key), values("n", "11", "neg", "-10", "missing", "3", "zero", "0", "other", `"x"`))

	unknown := newKey()
	v, found, err := c.Incr(t.Context(), unknown, "n", 1, long)
	if err != nil || found || v != 0 {
		t.Fatalf("Incr(unknown) = %d, %v, %v; want 0, false, nil", v, found, err)
	}
	mustBeGone(t, s, unknown)
}

// testIncrNotInteger checks that Incr of a field holding something else
// than an integer fails with ErrNotInteger and leaves it alone.
func testIncrNotInteger(t *testing.T, s session.Store) {
	c := s.(session.Counter)
	set := values("str", `"7"`, "float", "1.5", "bool", "true", "obj", `{"n":1}`, "null", "null", "arr", "[1]")
	key := newKey()
	create(t, s, key, session.Write{Set: set})
	for field := range set {
		_, found, err := c.Incr(t.Context(), key, field, 1, long)
		if !errors.Is(err, session.ErrNotInteger) {
			t.Errorf("Incr of %s: found %v, err = %v; want an error wrapping session.ErrNotInteger", set[field], found, err)
		}
		if errors.Is(err, session.ErrStoreUnavailable) {
			t.Errorf("Incr of %s: err = %v wraps ErrStoreUnavailable, but the store answered", set[field], err)
		}
	}
	wantValues(t, mustLoad(t, s, key), set)
}

// testConcurrentIncr checks that concurrent Incrs all count, each seeing a
// value of its own.
func testConcurrentIncr(t *testing.T, s session.Store) {
	c := s.(session.Counter)
	const workers, each = 8, 50
	key := newKey()
	create(t, s, key, session.Write{})
	seen := make([]atomic.Bool, workers*each+1)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				v, found, err := c.Incr(t.Context(), key, "n", 1, long)
				if err != nil || !found {
					t.Errorf("Incr = %d, %v, %v", v, found, err)
					return
				}
				if v < 1 || v > workers*each || seen[v].Swap(true) {
					t.Errorf("Incr returned %d twice or out of range", v)
				}
			}
		})
	}
	wg.Wait()
	wantValues(t, mustLoad(t, s, key), values("n", strconv.Itoa(workers*each)))
}

// testCompareAndSwap checks CompareAndSwap on absent, matching and other
// values and on an unknown session.
func testCompareAndSwap(t *testing.T, s session.Store) {
	c := s.(session.Counter)
	key := newKey()
	create(t, s, key, session.Write{Set: values("f", `"a"`)})
	for _, step := range []struct {
		name     string
		field    string
		old, new string
		nilOld   bool
		swapped  bool
	}{
		{"absent, old nil", "g", "", `"1"`, true, true},
		{"present, old nil", "g", "", `"2"`, true, false},
		{"wrong old", "f", `"b"`, `"c"`, false, false},
		{"old differs in case", "f", `"A"`, `"c"`, false, false},
		{"old is a prefix", "f", `"a`, `"c"`, false, false},
		{"right old", "f", `"a"`, `"c"`, false, true},
		{"absent, old set", "h", `"a"`, `"c"`, false, false},
	} {
		old := []byte(step.old)
		if step.nilOld {
			old = nil
		}
		swapped, found, err := c.CompareAndSwap(t.Context(), key, step.field, old, []byte(step.new), long)
		if err != nil || !found || swapped != step.swapped {
			t.Fatalf("%s: CompareAndSwap = %v, %v, %v; want %v, true, nil", step.name, swapped, found, err, step.swapped)
		}
	}
	wantValues(t, mustLoad(t, s, key), values("f", `"c"`, "g", `"1"`))

	unknown := newKey()
	swapped, found, err := c.CompareAndSwap(t.Context(), unknown, "f", nil, []byte("1"), long)
	if err != nil || found || swapped {
		t.Fatalf("CompareAndSwap(unknown) = %v, %v, %v; want false, false, nil", swapped, found, err)
	}
	mustBeGone(t, s, unknown)
}

// testConcurrentCAS checks that of goroutines racing to swap the same old
// value, exactly one wins each round.
func testConcurrentCAS(t *testing.T, s session.Store) {
	c := s.(session.Counter)
	const workers, rounds = 8, 20
	key := newKey()
	create(t, s, key, session.Write{})
	for r := range rounds {
		var old []byte
		if r > 0 {
			old = strconv.AppendInt(nil, int64(r-1), 10)
		}
		next := strconv.AppendInt(nil, int64(r), 10)
		var wins atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range workers {
			wg.Go(func() {
				<-start
				swapped, found, err := c.CompareAndSwap(t.Context(), key, "v", old, next, long)
				if err != nil || !found {
					t.Errorf("CompareAndSwap = %v, %v, %v", swapped, found, err)
				}
				if swapped {
					wins.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Fatalf("round %d: %d goroutines swapped, want exactly 1", r, n)
		}
	}
	wantValues(t, mustLoad(t, s, key), values("v", strconv.Itoa(rounds-1)))
}
