package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
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
//
// An error never shows the URL's secrets: the password and every
// secret-bearing query parameter (sentinel_password and any whose name
// holds pass, secret, token, key or auth) are replaced by xxxxx, and a
// malformed URL is described in words, never quoted.
func ParseURL(raw string) (rueidis.ClientOption, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		// Not echoed: without a scheme nothing says where a secret is.
		return rueidis.ClientOption{}, errors.New("redisstore: the Redis URL has no scheme such as redis://")
	}
	if msg := unescapedUserinfo(rest); msg != "" {
		return rueidis.ClientOption{}, fmt.Errorf("redisstore: URL %s: %s", redactURL(raw), msg)
	}
	switch strings.ToLower(scheme) {
	case "redis", "rediss", "unix":
		opt, err := rueidis.ParseURL(raw)
		if err != nil {
			return opt, fmt.Errorf("redisstore: URL %s: %s", redactURL(raw), describeParseError(err))
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

// escapeHint ends the description of a URL that may be malformed by a
// password with reserved characters.
const escapeHint = "; if the user name or password holds one of : / ? # @ % [ ], percent-encode it (e.g. / as %2F, % as %25)"

// unescapedUserinfo describes a URL whose user name or password holds an
// unescaped '/', '?' or '#': the parsers would then end the host there and
// take the rest of the password for a path or a query, and their errors
// (or the address dialled) would show it. rest is the URL after "://".
// An '@' after an '=' is taken to be inside a query value.
func unescapedUserinfo(rest string) string {
	end := strings.IndexAny(rest, "/?#")
	if end < 0 || strings.Contains(rest[:end], "@") {
		return ""
	}
	tail := rest[end:]
	at := strings.IndexByte(tail, '@')
	if at < 0 || strings.Contains(tail[:at], "=") {
		return ""
	}
	return "an '@' after the host: the user name or password holds an unescaped '/', '?' or '#'; percent-encode it (/ as %2F, ? as %3F, # as %23)"
}

// describeParseError describes an error of url.Parse, url.ParseQuery or
// rueidis.ParseURL without passing it through: url.Parse quotes the whole
// URL, password included, and the others quote the part they reject,
// which may be a piece of a password that was not percent-encoded.
func describeParseError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var esc url.EscapeError
	if errors.As(err, &esc) {
		return "malformed: a '%' that starts no %XX escape" + escapeHint
	}
	var host url.InvalidHostError
	if errors.As(err, &host) {
		return "malformed: invalid character in the host" + escapeHint
	}
	msg := err.Error()
	for _, m := range []struct{ has, say string }{
		{"invalid port", "malformed: invalid port" + escapeHint},
		{"invalid userinfo", "malformed: invalid character in the user name or password; percent-encode it"},
		{"control character", "malformed: a control character in the URL"},
		{"semicolon", "malformed query: ';' is not a separator, use '&'"},
		{"invalid URL scheme", "unknown scheme"},
		{"database number", "bad database number: the path is /N, N a number"},
		{"URL path", "unexpected path: the path is /N, N a database number"},
		{"dial timeout", "bad dial_timeout: a Go duration such as 2s"},
		{"write timeout", "bad write_timeout: a Go duration such as 2s"},
		{"skip verify", "bad skip_verify: true or false"},
	} {
		if strings.Contains(msg, m.has) {
			return m.say
		}
	}
	return "malformed URL" + escapeHint
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
	// The path is not quoted in errors: it could hold a piece of a
	// password (see unescapedUserinfo).
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	switch {
	case sentinel && (len(parts) < 1 || parts[0] == ""):
		return bad("Sentinel needs the master name as path: redis-sentinel://host:26379/mymaster")
	case sentinel && len(parts) > 2:
		return bad("unexpected path: want /mastername or /mastername/db")
	case !sentinel && path != "" && path != "/":
		return bad("unexpected path: Redis Cluster takes none (it has only database 0)")
	case sentinel:
		var err error
		if master, err = url.PathUnescape(parts[0]); err != nil {
			return bad("bad master name: %s", describeParseError(err))
		}
		if len(parts) == 2 {
			if _, err := strconv.Atoi(parts[1]); err != nil {
				return bad("bad database number: the path is /mastername/N, N a number")
			}
			db = "/" + parts[1]
		}
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return bad("bad query: %s", describeParseError(err))
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
		return bad("%s", describeParseError(err))
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

// redacted replaces a secret in a URL shown in an error.
const redacted = "xxxxx"

// secretQuery matches a query parameter whose name says it holds a secret
// (sentinel_password, password, auth, token, ...), anywhere in a URL, with
// its value up to the next '&' or '#'.
var secretQuery = regexp.MustCompile(`(?i)([?&;])([^=&?#;]*(?:pass|secret|token|key|auth)[^=&?#;]*)=([^&#]*)`)

// redactURL returns raw for an error message: the values of secret query
// parameters and the password are replaced by xxxxx. It does not trust the
// URL to be well formed: the user information is everything up to the
// last '@' (a password may hold an unescaped '/', '?' or '@'), and a lone
// user name is redacted too, as some write redis://password@host.
func redactURL(raw string) string {
	raw = secretQuery.ReplaceAllString(raw, "${1}${2}="+redacted)
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		if strings.Contains(raw, "@") {
			return "[" + redacted + "]"
		}
		return raw
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return raw
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass || strings.ContainsAny(user, "/?#") {
		return scheme + "://" + redacted + rest[at:]
	}
	return scheme + "://" + user + ":" + redacted + rest[at:]
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
