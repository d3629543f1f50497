package topology

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/stickless/stickless/internal/redistest"
)

// startRedis starts the Redis of t.Mode and sets t.RedisURL.
func (t *Topology) startRedis() error {
	cfg := &t.cfg
	opts := cfg.Redis
	var sentinelExtra []string
	if cfg.AdminPassword != "" {
		cache := slices.Contains(cfg.AppFlags, "-client-cache")
		rule, err := AppACL(cfg.DeployDir, cache)
		if err != nil {
			return err
		}
		opts.User, opts.Password = AdminUser, cfg.AdminPassword
		opts.ExtraConfig = append(slicesClip(opts.ExtraConfig),
			"user "+AppUser+" on "+quoteConf(">"+cfg.AppPassword)+" "+rule)
		sentinelExtra = []string{"user " + AppUser + " on " + quoteConf(">"+cfg.AppPassword) + " " + SentinelAppACL(cache)}
	}
	n := 0
	newDir := func() (string, error) {
		n++
		d := filepath.Join(cfg.Dir, string(t.Mode), "n"+strconv.Itoa(n))
		return d, os.MkdirAll(d, 0o700)
	}
	var err error
	switch t.Mode {
	case Standalone:
		if err := os.MkdirAll(cfg.RedisDir, 0o700); err != nil {
			return err
		}
		t.Redis, err = redistest.StartStandalone(cfg.RedisDir, opts)
		if err != nil {
			return err
		}
		t.RedisURL = t.appURL([]string{t.Redis.Addr}, "/0", nil)
		cfg.logf("redis      %s (standalone, data in %s)", t.Redis.Addr, cfg.RedisDir)
	case Sentinel:
		// A master with no replica refuses writes. An old master that
		// comes back after a failover (restarted by hand or by systemd)
		// is a master with its old data until the Sentinels demote it,
		// seconds later; meanwhile an instance that reconnects to its
		// address would have writes acknowledged and then discarded at the
		// demotion (make soak showed it). With two replicas, a live master
		// always has one.
		opts.ExtraConfig = append(slicesClip(opts.ExtraConfig), "min-replicas-to-write 1", "min-replicas-max-lag 10")
		t.Sentinel, err = redistest.StartSentinel(newDir, redistest.SentinelOptions{
			Options:   opts,
			Replicas:  2,
			Sentinels: 3,
			// 5 s: a hiccup of a few seconds (a 3 s SIGSTOP in the soak)
			// is ridden out; a dead master is replaced within ~10 s.
			DownAfter:      5 * time.Second,
			SentinelConfig: sentinelExtra,
		})
		if err != nil {
			return err
		}
		q := url.Values{"master_set": {t.Sentinel.MasterName}}
		if cfg.AdminPassword != "" {
			q.Set("sentinel_username", AppUser)
			q.Set("sentinel_password", cfg.AppPassword)
		}
		t.RedisURL = t.appURL(t.Sentinel.SentinelAddrs(), "/0", q)
	case Cluster:
		// A shard whose master is down must not stop the others: sessions
		// live on every shard, and a user whose session is on a healthy one
		// keeps being served while the failover runs.
		opts.ExtraConfig = append(slicesClip(opts.ExtraConfig), "cluster-require-full-coverage no")
		t.Cluster, err = redistest.StartCluster(newDir, redistest.ClusterOptions{
			Options:  opts,
			Masters:  3,
			Replicas: 1,
		})
		if err != nil {
			return err
		}
		var addrs []string
		for _, s := range t.Cluster.Nodes {
			addrs = append(addrs, s.Addr)
		}
		t.RedisURL = t.appURL(addrs, "", nil)
	default:
		return fmt.Errorf("topology: unknown mode %q", t.Mode)
	}
	return nil
}

// appURL builds the instances' Redis URL in redisstore.ParseURL's form:
// the first host, the others as addr= options, with AppUser's credentials
// when the ACL is on.
func (t *Topology) appURL(hosts []string, path string, q url.Values) string {
	u := url.URL{Scheme: "redis", Host: hosts[0], Path: path}
	if t.cfg.AdminPassword != "" {
		u.User = url.UserPassword(AppUser, t.cfg.AppPassword)
	}
	if q == nil {
		q = url.Values{}
	}
	for _, h := range hosts[1:] {
		q.Add("addr", h)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func slicesClip(s []string) []string { return s[:len(s):len(s)] }

// quoteConf quotes s for a redis.conf line.
func quoteConf(s string) string { return strconv.Quote(s) }
