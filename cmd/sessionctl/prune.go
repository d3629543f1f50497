package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/rueidis"
)

// pruneResult is the output of prune.
type pruneResult struct {
	Indexes int `json:"indexes"` // user indexes walked
	Entries int `json:"entries"` // entries checked
	Removed int `json:"removed"` // stale entries removed
}

// runPrune: sessionctl prune. An entry is stale when its session is gone,
// expired or bound to another user, and it was added more than a minute
// ago (a younger one may belong to a session being created).
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
	l := layout{prefix: e.prefix}
	var r pruneResult
	bar := newProgress(e, "prune", func() string { return itoa(r.Removed) + " removed" })
	err = scanAll(ctx, e, nodes, l.userPattern(), bar, func(keys []string) error {
		for _, k := range keys {
			user, ok := l.userOf(k)
			if !ok {
				continue
			}
			n, checked, err := pruneIndex(ctx, e, c, l, k, user)
			if err != nil {
				return fmt.Errorf("pruning the index of %q: %w", user, err)
			}
			r.Indexes++
			r.Entries += checked
			r.Removed += n
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

// pruneIndex prunes one user's index and returns how many entries it
// removed and how many it checked.
func pruneIndex(ctx context.Context, e *env, c rueidis.Client, l layout, indexKey, user string) (removed, checked int, err error) {
	cctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	members, err := c.Do(cctx, c.B().Zrange().Key(indexKey).Min("0").Max("-1").Build()).AsStrSlice()
	if re, ok := rueidis.IsRedisErr(err); ok && strings.HasPrefix(re.Error(), "WRONGTYPE") {
		return 0, 0, nil // a key of another application that looks like an index
	}
	if err != nil || len(members) == 0 {
		return 0, 0, err
	}
	now, err := redisNow(cctx, c)
	if err != nil {
		return 0, 0, err
	}
	cmds := make(rueidis.Commands, len(members))
	for i, m := range members {
		cmds[i] = l.metaCmd(c.B(), m)
	}
	var dead []string
	for i, res := range c.DoMulti(cctx, cmds...) {
		meta, err := res.ToArray()
		if err != nil {
			return 0, 0, fmt.Errorf("HMGET: %w", err)
		}
		if !liveFor(meta, user, now) {
			dead = append(dead, members[i])
		}
	}
	if len(dead) == 0 {
		return 0, len(members), nil
	}
	args := append([]string{strconv.FormatInt(now-indexGraceMS, 10)}, dead...)
	n, err := pruneScript.Exec(cctx, c, []string{indexKey}, args).AsInt64()
	return int(n), len(members), err
}
