package sessiontest

import (
	"testing"

	"github.com/stickless/stickless/session"
)

// testRemember: Remember is recorded by a creation and a renewal, like the
// user agent, and an update leaves it alone.
func testRemember(t *testing.T, s session.Store) {
	key := newKey()
	create(t, s, key, session.Write{Set: values("a", "1"), Remember: true})
	if !mustLoad(t, s, key).Remember {
		t.Fatal("Remember = false after a creation with Remember")
	}
	if !update(t, s, key, session.Write{Set: values("b", "2")}) {
		t.Fatal("update not applied")
	}
	if !mustLoad(t, s, key).Remember {
		t.Error("an update without Remember cleared it")
	}
	next := newKey()
	applied, err := s.Save(t.Context(), withLimits(session.Write{Key: next, From: key, Remember: false}))
	if err != nil || !applied {
		t.Fatalf("renewal: %v, %v", applied, err)
	}
	if mustLoad(t, s, next).Remember {
		t.Error("Remember = true after a renewal without it")
	}
	other := newKey()
	create(t, s, other, session.Write{Set: values("a", "1")})
	if mustLoad(t, s, other).Remember {
		t.Error("Remember = true after a creation without it")
	}
}
