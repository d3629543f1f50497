package redisstore_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/stickless/stickless/redisstore"
	"github.com/stickless/stickless/session"
)

func ExampleParseURL() {
	for _, u := range []string{
		"redis://app:secret@127.0.0.1:6379/2",
		"redis://127.0.0.1:26379?addr=127.0.0.1:26380&master_set=mymaster",
		"redis://127.0.0.1:7000?addr=127.0.0.1:7001",
	} {
		o, err := redisstore.ParseURL(u)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%v user=%q db=%d master=%q\n", o.InitAddress, o.Username, o.SelectDB, o.Sentinel.MasterSet)
	}
	// Output:
	// [127.0.0.1:6379] user="app" db=2 master=""
	// [127.0.0.1:26379 127.0.0.1:26380] user="" db=0 master="mymaster"
	// [127.0.0.1:7000 127.0.0.1:7001] user="" db=0 master=""
}

// An application instance with its sessions in Redis: run as many as
// needed behind a round-robin load balancer, with the same keys.
func ExampleNewFromURL() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	store, err := redisstore.NewFromURL(ctx, "redis://127.0.0.1:6379", redisstore.Options{
		TouchThrottle: time.Minute,
		WaitReplicas:  1, // a logout survives the master's failure
	})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	m := session.New(store, session.Config{Keys: [][]byte{[]byte("a secret of at least 32 bytes, from a file")}})
	http.ListenAndServe("127.0.0.1:8000", m.Handler(http.NotFoundHandler()))
}
