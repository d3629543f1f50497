package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/stickless/stickless/session"
)

// newStore connects a Store to the Redis at url and closes it when the
// test ends.
func newStore(t testing.TB, url string, opts Options) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := NewFromURL(ctx, url, opts)
	if err != nil {
		t.Fatalf("NewFromURL: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// tcreate stores a new session under key with w's values and user.
func (s *Store) tcreate(ctx context.Context, key string, w session.Write, lim session.Limits) error {
	w.Key, w.Create, w.Limits = key, true, lim
	_, err := s.Save(ctx, w)
	return err
}

// tupdate applies w to the live session under key.
func (s *Store) tupdate(ctx context.Context, key string, w session.Write, lim session.Limits) (bool, error) {
	w.Key, w.Limits = key, lim
	return s.Save(ctx, w)
}

// trenew moves the live session under from to key, with w applied.
func (s *Store) trenew(ctx context.Context, from, key string, w session.Write, lim session.Limits) (bool, error) {
	w.From, w.Key, w.Limits = from, key, lim
	return s.Save(ctx, w)
}
