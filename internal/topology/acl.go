package topology

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The Redis users of the topology (issue 9: an authenticated Redis).
//
// The default user is off: a client that does not authenticate gets
// NOAUTH for everything, PING included. AdminUser has every right; the
// harness, the replicas (masteruser) and the Sentinels (auth-user,
// sentinel-user) use it. AppUser is what the instances connect as: it may
// touch only the store's keys (redisstore.DefaultPrefix) and run only the
// commands that redisstore and its client, rueidis, send.
const (
	AdminUser = "admin"
	AppUser   = "stickless"
)

// AppACL reads the ACL rule of AppUser on the data servers from
// deploy/redis.conf, the one place that states it (its commented line
// "# user stickless on >PASSWORD <rule>"), and returns the rule after the
// password; with cache, the rights of the client-side cache (its line
// "# client cache: <rights>") are appended. The rule lists what rueidis
// sends on each connection (HELLO, PING, CLIENT SETNAME, SELECT; CLUSTER
// SLOTS/SHARDS, READONLY, ASKING; ROLE; with the cache CLIENT
// TRACKING/CACHING and MULTI/EXEC around cached reads), what redisstore
// sends outside scripts and what its Lua scripts call (ACL rules apply
// inside scripts too: grep "redis.p\?call('" redisstore). A command the
// store starts to need fails with NOPERM on every call, which
// cmd/whatsup's TestRedisACL, the e2e tests and `make soak` show at once.
func AppACL(deployDir string, cache bool) (string, error) {
	b, err := os.ReadFile(filepath.Join(deployDir, "redis.conf"))
	if err != nil {
		return "", err
	}
	var rule, cacheRights string
	for line := range strings.SplitSeq(string(b), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "#"))
		if rest, ok := strings.CutPrefix(line, "user "+AppUser+" on >PASSWORD "); ok {
			rule = rest
		}
		if rest, ok := strings.CutPrefix(line, "client cache: "); ok {
			cacheRights = rest
		}
	}
	switch {
	case rule == "":
		return "", fmt.Errorf("%s/redis.conf has no line \"# user %s on >PASSWORD <rule>\"", deployDir, AppUser)
	case cache && cacheRights == "":
		return "", fmt.Errorf("%s/redis.conf has no line \"# client cache: <rights>\"", deployDir)
	case cache:
		rule += " " + cacheRights
	}
	return rule, nil
}

// SentinelAppACL returns AppUser's rule on the Sentinels: what rueidis asks
// them to find the master and follow a failover (SENTINEL
// GET-MASTER-ADDR-BY-NAME, SENTINELS, REPLICAS, and SUBSCRIBE to
// +switch-master and friends), and with the client-side cache CLIENT
// TRACKING, which rueidis sends on every connection then.
func SentinelAppACL(cache bool) string {
	rule := "resetkeys resetchannels &* -@all " +
		"+hello +auth +ping +client|setname " +
		"+sentinel|get-master-addr-by-name +sentinel|sentinels +sentinel|replicas +sentinel|slaves " +
		"+subscribe +unsubscribe +psubscribe +punsubscribe"
	if cache {
		rule += " +client|tracking"
	}
	return rule
}
