package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/rueidis"
	"github.com/stickless/stickless/internal/redislayout"
	"github.com/stickless/stickless/redisstore"
)

// pruneResult is the output of prune.
type pruneResult struct {
	Indexes int `json:"indexes"` // user indexes walked
	Entries int `json:"entries"` // entries checked
	Removed int `json:"removed"` // stale entries removed
}

// runPrune: sessionctl prune. An entry is stale when its session is gone,
// expired or bound to another user, and it was added more than a minute
// ago (a younger one may belong to a session being created). The store's
// UserSessions prunes an index on the way; the count is the index's size
// before and after.
func runPrune(ctx context.Context, e *env, args []string) error {
	if _, err := e.parseArgs("prune", args); err != nil {
		return err
	}
	c, err := e.rawClient()
	if err != nil {
		return err
	}
	defer c.Close()
	nodes, _, err := masters(ctx, c, e.timeout)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, e.timeout)
	store, err := redisstore.NewFromURL(cctx, e.redisURL, redisstore.Options{Prefix: e.prefix, FailFast: true})
	cancel()
	if err != nil {
		return fmt.Errorf("cannot reach Redis: %w", err)
	}
	defer store.Close()
	var r pruneResult
	bar := newProgress(e, "prune", func() string { return itoa(r.Removed) + " removed" })
	err = scanAll(ctx, e, nodes, redislayout.UserPattern(e.prefix), bar, func(keys []string) error {
		for _, k := range keys {
			user, ok := redislayout.UserOf(e.prefix, k)
			if !ok {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, e.timeout)
			before, err := c.Do(cctx, c.B().Zcard().Key(k).Build()).AsInt64()
			if re, ok := rueidis.IsRedisErr(err); ok && strings.HasPrefix(re.Error(), "WRONGTYPE") {
				cancel()
				continue // a key of another application that looks like an index
			}
			if err == nil {
				_, err = store.UserSessions(cctx, user)
			}
			var after int64
			if err == nil {
				after, err = c.Do(cctx, c.B().Zcard().Key(k).Build()).AsInt64()
			}
			cancel()
			if err != nil {
				return fmt.Errorf("pruning the index of %q: %w", user, err)
			}
			r.Indexes++
			r.Entries += int(before)
			r.Removed += int(before - after)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if e.json {
		return e.printJSON(r)
	}
	fmt.Fprintf(e.stdout, "removed %d stale entries of %d, in %d user indexes\n", r.Removed, r.Entries, r.Indexes)
	return nil
}
