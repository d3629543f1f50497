package sessiontest

import (
	"testing"

	"github.com/stickless/stickless/session"
)

// testRemember: a renewal records its own Remember, clearing one that the
// session had (creation and update are checked in records.go, a renewal
// that sets it in renew.go).
func testRemember(t *testing.T, s session.Store) {
	key := newKey()
	create(t, s, key, session.Write{Set: values("a", "1"), Remember: true})
	next := newKey()
	applied, err := s.Save(t.Context(), withLimits(session.Write{Key: next, From: key, Remember: false}))
	if err != nil || !applied {
		t.Fatalf("renewal: %v, %v", applied, err)
	}
	if mustLoad(t, s, next).Remember {
		t.Error("Remember = true after a renewal without it")
	}
}
