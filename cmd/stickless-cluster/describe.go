package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/stickless/stickless/internal/redistest"
	"github.com/stickless/stickless/internal/topology"
)

// describe returns the banner printed once everything is up: the picture
// of the topology, its URLs and what to try.
func describe(t *topology.Topology, s settings, secrets string) string {
	var b strings.Builder
	var names []string
	for _, in := range t.Instances {
		names = append(names, in.Name)
	}
	fmt.Fprintf(&b, "\n  stickless is up:  %s\n\n", t.URL)
	fmt.Fprintf(&b, "  browser ──> nginx %s ──round-robin──> %s\n", strings.TrimPrefix(t.URL, "http://"), strings.Join(names, " "))
	for _, in := range t.Instances {
		m := ""
		if in.MetricsAddr != "" {
			m = "   metrics http://" + in.MetricsAddr + "/metrics"
		}
		fmt.Fprintf(&b, "    %-4s %s (pid %d)%s\n", in.Name, in.URL, in.Pid(), m)
	}
	b.WriteString("  the instances share ")
	switch {
	case t.Redis != nil:
		fmt.Fprintf(&b, "one Redis (AOF): %s (pid %d)\n", t.Redis.Addr, t.Redis.Pid())
	case t.Sentinel != nil:
		ss := t.Sentinel
		fmt.Fprintf(&b, "a Sentinel set %q:\n", ss.MasterName)
		fmt.Fprintf(&b, "    master    %s (pid %d)\n", ss.Master.Addr, ss.Master.Pid())
		for _, r := range ss.Replicas {
			fmt.Fprintf(&b, "    replica   %s (pid %d)\n", r.Addr, r.Pid())
		}
		for _, x := range ss.Sentinels {
			fmt.Fprintf(&b, "    sentinel  %s (pid %d)\n", x.Addr, x.Pid())
		}
	case t.Cluster != nil:
		cs := t.Cluster
		b.WriteString("a Redis Cluster of 3 masters, each with one replica:\n")
		for i, m := range cs.Nodes {
			first, last := cs.SlotRange(i)
			fmt.Fprintf(&b, "    master    %s (pid %d) slots %d-%d, replica %s (pid %d)\n",
				m.Addr, m.Pid(), first, last, cs.Replicas[i].Addr, cs.Replicas[i].Pid())
		}
	default:
		fmt.Fprintf(&b, "the Redis at %s\n", t.ShownURL())
	}
	if t.RedisURL != "" {
		fmt.Fprintf(&b, "  Redis URL of the instances (env STICKLESS_REDIS_URL): %s\n", t.ShownURL())
	}
	if t.PrometheusURL != "" {
		fmt.Fprintf(&b, "  Prometheus: %s (scraping every instance's metrics; alert rules: %s/alerts)\n", t.PrometheusURL, t.PrometheusURL)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "  try:      curl -si %s/api/whoami\n", t.URL)
	fmt.Fprintf(&b, "  failover: kill one instance's pid (listed above) and keep reloading\n")
	if s.redisURL == "" {
		admin := filepath.Join(s.state, "redis-admin-password")
		port := firstPort(t)
		fmt.Fprintf(&b, "  redis:    redis-cli -p %d --user %s --pass \"$(tail -n1 %s)\" INFO replication\n", port, topology.AdminUser, admin)
		fmt.Fprintf(&b, "            (without credentials Redis answers NOAUTH)\n")
		switch s.mode {
		case topology.Sentinel:
			fmt.Fprintf(&b, "  fail it:  kill -9 <master pid>: the sentinels promote a replica in ~5 s\n")
		case topology.Cluster:
			fmt.Fprintf(&b, "  fail it:  kill -9 <a master pid>: its replica takes over in ~6 s; or\n")
			fmt.Fprintf(&b, "            redis-cli ... -p <replica port> CLUSTER FAILOVER\n")
		default:
			fmt.Fprintf(&b, "  fail it:  kill -STOP <redis pid>, reload (503 + Retry-After), kill -CONT <redis pid>\n")
		}
	}
	fmt.Fprintf(&b, "  secrets:  %s\n", secrets)
	fmt.Fprintf(&b, "  logs:     %s/ (i1.log, nginx-access.log shows upstream= for each request)\n", filepath.Join(s.state, "logs"))
	b.WriteString("\n  Press Ctrl-C to stop everything.\n\n")
	return b.String()
}

func firstPort(t *topology.Topology) int {
	var s *redistest.Server
	switch {
	case t.Redis != nil:
		s = t.Redis
	case t.Sentinel != nil:
		s = t.Sentinel.Master
	case t.Cluster != nil:
		s = t.Cluster.Nodes[0]
	default:
		return 0
	}
	return s.Port
}
