package redisstore

import (
	"context"
	"testing"
	"time"
)

// newStore connects a Store to the Redis at url and closes it when the
// test ends.
func newStore(t testing.TB, url string, opts Options) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := NewFromURL(ctx, url, opts)
	if err != nil {
		t.Fatalf("NewFromURL(%s): %v", redactURL(url), err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
