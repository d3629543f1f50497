package main

import (
	"context"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// commandStats returns the calls per command since the last CONFIG
// RESETSTAT, from INFO commandstats, leaving out the INFO and CONFIG calls
// the load driver makes itself and the connection housekeeping (PING,
// HELLO, CLIENT...) that idle clients send whatever the load.
func commandStats(ctx context.Context, rdb *redis.Client) (map[string]int64, error) {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		name = strings.TrimPrefix(name, "cmdstat_")
		base, _, _ := strings.Cut(name, "|")
		if base == "info" || base == "config" || housekeeping[base] {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				out[name] += n
			}
		}
	}
	return out, nil
}

// perRequest formats calls divided by requests: the total and the
// commands that make it up, most frequent first ("2.00 (evalsha 1.00, get 1.00)").
func perRequest(calls map[string]int64, requests int64) (total float64, detail string) {
	if requests <= 0 {
		return 0, ""
	}
	type kv struct {
		k string
		v int64
	}
	var list []kv
	var sum int64
	for k, v := range calls {
		list = append(list, kv{k, v})
		sum += v
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].v != list[j].v {
			return list[i].v > list[j].v
		}
		return list[i].k < list[j].k
	})
	var parts []string
	for _, e := range list {
		r := float64(e.v) / float64(requests)
		if r < 0.005 {
			continue
		}
		parts = append(parts, e.k+" "+strconv.FormatFloat(r, 'f', 2, 64))
	}
	return float64(sum) / float64(requests), strings.Join(parts, ", ")
}
