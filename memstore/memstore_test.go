package memstore_test

import (
	"testing"

	"github.com/stickless/stickless/memstore"
	"github.com/stickless/stickless/session"
	"github.com/stickless/stickless/sessiontest"
)

func TestConformance(t *testing.T) {
	sessiontest.Run(t, sessiontest.Harness{
		New: func(t *testing.T) session.Store {
			s := memstore.New(memstore.Options{})
			t.Cleanup(func() { s.Close() })
			return s
		},
		// One process holds the sessions: its second instance is itself.
		Peer:  func(t *testing.T, s session.Store) session.Store { return s },
		Break: func(t *testing.T, s session.Store) { s.(*memstore.Store).Close() },
	})
}
