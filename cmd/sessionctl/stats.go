package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/redis/rueidis"
	"github.com/stickless/stickless/internal/redislayout"
)

// statsResult is the output of stats.
type statsResult struct {
	Sessions           int   `json:"sessions"`             // live sessions
	BoundUsers         int   `json:"bound_users"`          // distinct users with a live session
	TotalBytes         int64 `json:"total_bytes"`          // value names and values of all live sessions
	LargestBytes       int   `json:"largest_bytes"`        // of the largest live session
	ExpiringWithinHour int   `json:"expiring_within_hour"` // live sessions that die within the hour unless used
	Unreadable         int   `json:"unreadable"`           // keys of the session key space whose metadata this version cannot read
	Masters            int   `json:"masters"`              // Redis masters walked
}

// runStats: sessionctl stats.
func runStats(ctx context.Context, e *env, args []string) error {
	if _, err := e.parseArgs("stats", args); err != nil {
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
	now, err := redisNow(ctx, c)
	if err != nil {
		return err
	}
	var r statsResult
	r.Masters = len(nodes)
	users := map[string]struct{}{}
	bar := newProgress(e, "stats", func() string { return itoa(r.Sessions) + " sessions" })
	err = scanAll(ctx, e, nodes, redislayout.SessionPattern(e.prefix), bar, func(keys []string) error {
		cmds := make([]rueidis.Completed, 0, len(keys))
		for _, k := range keys {
			if redislayout.IsSessionKey(e.prefix, k) {
				cmds = append(cmds, c.B().Hget().Key(k).Field(redislayout.MetaField).Build())
			}
		}
		if len(cmds) == 0 {
			return nil
		}
		cctx, cancel := context.WithTimeout(ctx, e.timeout)
		defer cancel()
		for _, res := range c.DoMulti(cctx, cmds...) {
			v, err := res.ToString()
			if re, ok := rueidis.IsRedisErr(err); ok && strings.HasPrefix(re.Error(), "WRONGTYPE") {
				continue // a key of another application that looks like a session's
			}
			if rueidis.IsRedisNil(err) {
				continue // expired or deleted meanwhile
			}
			if err != nil {
				return fmt.Errorf("HGET: %w", err)
			}
			md, err := redislayout.ParseMeta(v)
			if err != nil {
				r.Unreadable++ // another layout version, or not a session hash
				continue
			}
			r.Sessions++
			r.TotalBytes += int64(md.Size)
			r.LargestBytes = max(r.LargestBytes, md.Size)
			if md.Idle-now < 3600_000 {
				r.ExpiringWithinHour++
			}
			if md.User != "" {
				users[md.User] = struct{}{}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.BoundUsers = len(users)
	if e.json {
		return e.printJSON(r)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "sessions\t%d\t\n", r.Sessions)
	fmt.Fprintf(tw, "bound users\t%d\t\n", r.BoundUsers)
	fmt.Fprintf(tw, "total size\t%s\t\n", bytesText(r.TotalBytes))
	fmt.Fprintf(tw, "largest session\t%s\t\n", bytesText(int64(r.LargestBytes)))
	fmt.Fprintf(tw, "expiring within the hour\t%d\t\n", r.ExpiringWithinHour)
	if r.Unreadable > 0 {
		fmt.Fprintf(tw, "unreadable (another layout)\t%d\t\n", r.Unreadable)
	}
	fmt.Fprintf(tw, "Redis masters walked\t%d\t\n", r.Masters)
	return tw.Flush()
}

// bytesText prints n bytes with a binary unit.
func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
