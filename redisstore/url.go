package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/rueidis"
)

// ParseURL returns the client configuration that a Redis URL describes.
// It accepts:
//
//	redis://[user:password@]host[:port][/db][?query]        standalone
//	rediss://...                                             the same over TLS
//	unix://[user:password@]/path/to/redis.sock[?db=N]        standalone, Unix socket
//	redis-sentinel://[user:password@]host:port[,host:port...]/master[/db][?query]
//	rediss-sentinel://...                                    the same over TLS
//	redis-cluster://[user:password@]host:port[,host:port...][?query]
//	rediss-cluster://...                                     the same over TLS
//
// The port defaults to 6379 (26379 for a sentinel). User and password are
// the ACL credentials of Redis itself (for Sentinel: of the master, not of
// the sentinels); percent-encode reserved characters in them. A
// redis:// or rediss:// URL with one host makes a standalone client, even
// if the server is a Cluster node: name Cluster with redis-cluster://,
// whose hosts are the seed nodes (one is enough, more survive a node being
// down). rueidis's own forms are accepted too: more hosts as addr=
// parameters (redis://h1:p1?addr=h2:p2, which means Cluster) and
// master_set= (which means Sentinel).
//
// The query takes rueidis's own parameters: dial_timeout and
// write_timeout (Go durations, e.g. 2s), protocol=2 (RESP2 only),
// client_cache=0, max_retries=0, client_name, skip_verify (TLS), db; and,
// for Sentinel, sentinel_username and sentinel_password (the sentinels'
// own credentials). Other parameters are ignored.
func ParseURL(raw string) (rueidis.ClientOption, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return rueidis.ClientOption{}, fmt.Errorf("redisstore: URL %s has no scheme such as redis://", redactURL(raw))
	}
	switch strings.ToLower(scheme) {
	case "redis", "rediss", "unix":
		opt, err := rueidis.ParseURL(raw)
		if err != nil {
			return opt, fmt.Errorf("redisstore: URL %s: %v", redactURL(raw), err)
		}
		if len(opt.InitAddress) == 1 && opt.Sentinel.MasterSet == "" {
			opt.ForceSingleClient = true
		}
		return opt, nil
	case "redis-sentinel", "rediss-sentinel":
		return parseMulti(raw, scheme, rest, true)
	case "redis-cluster", "rediss-cluster":
		return parseMulti(raw, scheme, rest, false)
	}
	return rueidis.ClientOption{}, fmt.Errorf("redisstore: URL %s: unknown scheme %q (want redis, rediss, unix, redis-sentinel, rediss-sentinel, redis-cluster or rediss-cluster)", redactURL(raw), scheme)
}

// parseMulti parses the Sentinel and Cluster forms: it checks the host
// list and the path, then hands a single-host URL to rueidis.ParseURL
// with the other hosts as addr= parameters.
func parseMulti(raw, scheme, rest string, sentinel bool) (rueidis.ClientOption, error) {
	bad := func(format string, a ...any) (rueidis.ClientOption, error) {
		return rueidis.ClientOption{}, fmt.Errorf("redisstore: URL %s: %s", redactURL(raw), fmt.Sprintf(format, a...))
	}
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	path, query, _ := strings.Cut(tail, "?")
	userinfo, hostlist := "", authority
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		userinfo, hostlist = authority[:i+1], authority[i+1:]
	}
	defPort := "6379"
	if sentinel {
		defPort = "26379"
	}
	var hosts []string
	for h := range strings.SplitSeq(hostlist, ",") {
		if h == "" {
			return bad("empty host in the host list")
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(strings.Trim(h, "[]"), defPort)
		}
		hosts = append(hosts, h)
	}
	db := ""
	master := ""
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	switch {
	case sentinel && (len(parts) < 1 || parts[0] == ""):
		return bad("Sentinel needs the master name as path: redis-sentinel://host:26379/mymaster")
	case sentinel && len(parts) > 2, !sentinel && path != "" && path != "/":
		return bad("unexpected path %q", path)
	case sentinel:
		var err error
		if master, err = url.PathUnescape(parts[0]); err != nil {
			return bad("bad master name: %v", err)
		}
		if len(parts) == 2 {
			if _, err := strconv.Atoi(parts[1]); err != nil {
				return bad("bad database number %q", parts[1])
			}
			db = "/" + parts[1]
		}
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return bad("bad query: %v", err)
	}
	for _, h := range hosts[1:] {
		q.Add("addr", h)
	}
	base := "redis"
	if strings.HasPrefix(strings.ToLower(scheme), "rediss") {
		base = "rediss"
	}
	opt, err := rueidis.ParseURL(base + "://" + userinfo + hosts[0] + db + "?" + q.Encode())
	if err != nil {
		return bad("%v", err)
	}
	if opt.TLSConfig != nil {
		// Several hosts: let each TLS connection verify the host it dials.
		opt.TLSConfig.ServerName = ""
	}
	if sentinel {
		opt.Sentinel.MasterSet = master
		opt.Sentinel.Username = q.Get("sentinel_username")
		opt.Sentinel.Password = q.Get("sentinel_password")
		if opt.TLSConfig != nil {
			opt.Sentinel.TLSConfig = opt.TLSConfig.Clone()
		}
	} else if opt.SelectDB != 0 {
		return bad("Redis Cluster has only database 0")
	}
	return opt, nil
}

// redactURL returns raw with its password replaced, for error messages.
func redactURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		if strings.Contains(raw, "@") {
			return "[redacted]"
		}
		return raw
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority = rest[:i]
	}
	at := strings.LastIndexByte(authority, '@')
	if at < 0 {
		return raw
	}
	user, _, hasPass := strings.Cut(authority[:at], ":")
	if !hasPass {
		return raw
	}
	return scheme + "://" + user + ":xxxxx" + rest[at:]
}

// NewFromURL is [New] with the client addressed by a URL (see [ParseURL]
// for the forms): it replaces the addresses, credentials, db, Sentinel
// master and TLS setting of opts.Client with those of the URL, and the
// fields its query sets; the other fields of opts.Client stay. A
// TLSConfig already set in opts.Client is kept, and turns TLS on whatever
// the scheme. This is what the demo's -redis flag accepts.
func NewFromURL(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	if rawURL == "" {
		return nil, errors.New("redisstore: NewFromURL: empty URL")
	}
	u, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	c := &opts.Client
	c.InitAddress = u.InitAddress
	c.Username, c.Password, c.SelectDB = u.Username, u.Password, u.SelectDB
	c.ForceSingleClient = u.ForceSingleClient
	if u.DialCtxFn != nil {
		c.DialCtxFn = u.DialCtxFn
	}
	if c.TLSConfig == nil {
		c.TLSConfig = u.TLSConfig
	}
	c.Sentinel.MasterSet = u.Sentinel.MasterSet
	if u.Sentinel.MasterSet != "" {
		c.Sentinel.Username, c.Sentinel.Password = u.Sentinel.Username, u.Sentinel.Password
		if c.Sentinel.TLSConfig == nil {
			c.Sentinel.TLSConfig = u.Sentinel.TLSConfig
		}
	}
	if u.Dialer.Timeout != 0 {
		c.Dialer.Timeout = u.Dialer.Timeout
	}
	if u.ConnWriteTimeout != 0 {
		c.ConnWriteTimeout = u.ConnWriteTimeout
	}
	c.AlwaysRESP2 = c.AlwaysRESP2 || u.AlwaysRESP2
	c.DisableCache = c.DisableCache || u.DisableCache
	c.DisableRetry = c.DisableRetry || u.DisableRetry
	if u.ClientName != "" {
		c.ClientName = u.ClientName
	}
	return New(ctx, opts)
}
