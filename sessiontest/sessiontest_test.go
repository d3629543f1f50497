package sessiontest_test

import (
	"testing"

	"github.com/stickless/stickless/memstore"
	"github.com/stickless/stickless/session"
	"github.com/stickless/stickless/sessiontest"
)

// TestSharedStore runs the suite on one store shared by every subtest, as
// a harness over one Redis server may do: no subtest may depend on an
// empty store. (memstore runs the suite with a store per subtest.)
func TestSharedStore(t *testing.T) {
	shared := memstore.New(memstore.Options{})
	t.Cleanup(func() { shared.Close() })
	sessiontest.Run(t, sessiontest.Harness{
		New:   func(t *testing.T) session.Store { return shared },
		Peer:  func(t *testing.T, s session.Store) session.Store { return s },
		Break: func(t *testing.T, s session.Store) { s.(*memstore.Store).Close() },
	})
}

// coreOnly hides every method of a store but those of session.Store.
type coreOnly struct{ session.Store }

// TestCoreOnly runs the suite on a store that implements neither
// session.Counter nor session.UserIndex: their subtests are skipped, and
// the core subtests must not need them.
func TestCoreOnly(t *testing.T) {
	sessiontest.Run(t, sessiontest.Harness{
		New: func(t *testing.T) session.Store {
			s := memstore.New(memstore.Options{})
			t.Cleanup(func() { s.Close() })
			return coreOnly{s}
		},
		Break: func(t *testing.T, s session.Store) { s.(coreOnly).Store.(*memstore.Store).Close() },
	})
}
