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
	lt := session.Lifetime{Idle: 30 * time.Minute, Absolute: 12 * time.Hour}
	ch := session.Change{Set: map[string][]byte{"user_name": []byte(`"alice"`)}, User: "alice"}
	if err := store.Create(ctx, "key-1", ch, lt); err != nil {
		panic(err)
	}
	n, _, _ := store.Incr(ctx, "key-1", "visits", 1, lt)
	rec, found, _ := store.Load(ctx, "key-1", lt)
	fmt.Println(found, rec.User, string(rec.Values["user_name"]), n)

	store.Close()
	_, _, err := store.Load(ctx, "key-1", lt)
	fmt.Println(err)
	// Output:
	// true alice "alice" 1
	// memstore: closed
}
