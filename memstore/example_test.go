package memstore_test

import (
	"context"
	"fmt"
	"time"

	"github.com/stickless/stickless/memstore"
	"github.com/stickless/stickless/session"
)

func Example() {
	store := memstore.New(memstore.Options{})
	defer store.Close()

	ctx := context.Background()
	lim := session.Limits{Idle: 30 * time.Minute, Absolute: 12 * time.Hour, MaxSize: 64 << 10, MaxFields: 256}
	w := session.Write{Create: true, Key: "key-1", Set: map[string]string{"theme": `"dark"`}, User: "alice", Limits: lim}
	if _, err := store.Save(ctx, w); err != nil {
		panic(err)
	}
	n, _, _ := store.Incr(ctx, "key-1", "visits", 1, lim)
	rec, found, _ := store.Load(ctx, "key-1", lim)
	fmt.Println(found, rec.User, string(rec.Values["theme"]), n)

	store.Close()
	_, _, err := store.Load(ctx, "key-1", lim)
	fmt.Println(err)
	// Output:
	// true alice "dark" 1
	// memstore: closed
}
