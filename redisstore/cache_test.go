package redisstore

import (
	"strconv"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stickless/stickless/internal/redistest"
	"github.com/stickless/stickless/session"
)

// cached configures a store with the client-side cache on, under the
// client name name (to find its connections in CLIENT LIST).
func cached(name string) Options {
	return Options{ClientCache: true, Client: rueidis.ClientOption{ClientName: name}}
}

// cacheRounds checks two stores with the client-side cache on, a and b, on
// srv: b's repeated reads of an unchanged session send Redis no command,
// and after each Update on a, b's reads see the update within a bound
// (the cache's window: see TestClientCacheWindow for its measure).
func cacheRounds(t *testing.T, srv *redistest.Server, a, b *Store) {
	t.Helper()
	ctx := t.Context()
	key := newKey()
	if err := a.tcreate(ctx, key, session.Write{Set: vals("n", "0")}, long); err != nil {
		t.Fatal(err)
	}
	const rounds = 20
	for i := range rounds {
		b.Load(ctx, key, long) // cached
		srv.ResetStats(t)
		for range 10 {
			rec, ok, err := b.Load(ctx, key, long)
			if err != nil || !ok {
				t.Fatalf("round %d: Load on b: %v %v", i, ok, err)
			}
			if got, want := rec.Values["n"], strconv.Itoa(i); got != want {
				t.Fatalf("round %d: b read n = %s, want %s", i, got, want)
			}
		}
		if stats := srv.CommandStats(t); own(stats) != 0 {
			t.Fatalf("round %d: reads of an unchanged cached session sent Redis %v", i, stats)
		}
		if ok, err := a.tupdate(ctx, key, session.Write{Set: vals("n", strconv.Itoa(i+1))}, long); err != nil || !ok {
			t.Fatalf("round %d: Update on a: %v %v", i, ok, err)
		}
		want := strconv.Itoa(i + 1)
		deadline := time.Now().Add(5 * time.Second)
		for {
			rec, ok, err := b.Load(ctx, key, long)
			if err != nil || !ok {
				t.Fatalf("round %d: Load on b: %v %v", i, ok, err)
			}
			if rec.Values["n"] == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: b still reads n = %s 5 s after a wrote %s", i, rec.Values["n"], want)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

func TestClientCacheRounds(t *testing.T) {
	srv := redistest.Standalone(t, redistest.Options{})
	cacheRounds(t, srv, newStore(t, srv.URL(), cached("a")), newStore(t, srv.URL(), cached("b")))
}
