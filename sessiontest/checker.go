package sessiontest

import (
	"slices"
	"testing"
	"time"

	"github.com/stickless/stickless/session"
)

// testLive checks that Live tells live sessions from unknown, destroyed
// and renewed-away ones, key by key, in order.
func testLive(t *testing.T, s session.Store) {
	c := s.(session.Checker)
	live1, live2, destroyed, renewedAway, renewed := newKey(), newKey(), newKey(), newKey(), newKey()
	for _, k := range []string{live1, live2, destroyed, renewedAway} {
		create(t, s, k, session.Write{Set: values("a", "1"), User: newUser()})
	}
	if err := s.Destroy(t.Context(), destroyed); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	mustRenew(t, s, renewedAway, renewed, session.Write{})
	keys := []string{live1, newKey(), destroyed, live2, renewedAway, renewed, live1}
	want := []bool{true, false, false, true, false, true, true}
	got, err := c.Live(t.Context(), keys)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("Live = %v, %v; want %v, nil", got, err, want)
	}
	if got, err := c.Live(t.Context(), nil); err != nil || len(got) != 0 {
		t.Fatalf("Live(no keys) = %v, %v; want none, nil", got, err)
	}
}

// testLiveDoesNotSlide checks that Live does not slide the idle deadline:
// a session only ever asked about with Live dies of idleness, and Live
// then reports it dead.
func testLiveDoesNotSlide(t *testing.T, s session.Store) {
	c := s.(session.Checker)
	lim := session.Limits{Idle: 400 * time.Millisecond, Absolute: time.Hour}
	key := newKey()
	create(t, s, key, session.Write{Limits: lim})
	createEnd := time.Now()
	for time.Since(createEnd) < 2*lim.Idle {
		time.Sleep(lim.Idle / 4)
		if _, err := c.Live(t.Context(), []string{key}); err != nil {
			t.Fatalf("Live: %v", err)
		}
	}
	sleepUntil(createEnd.Add(2*lim.Idle + Slack))
	got, err := c.Live(t.Context(), []string{key})
	if err != nil || len(got) != 1 || got[0] {
		t.Fatalf("Live of a session idle past its timeout, asked only with Live = %v, %v; want [false], nil", got, err)
	}
	mustBeGone(t, s, key)
}
