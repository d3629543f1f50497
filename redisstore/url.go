package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/redis/rueidis"
)

// ParseURL returns the client configuration that a Redis URL describes,
// in the forms of rueidis.ParseURL:
//
//	redis://[user:password@]host[:port][/db][?option=value&...]
//	rediss://...                                  the same over TLS
//	unix://[user:password@]/path/to/redis.sock[?db=N]
//
// One address is a standalone Redis, or a Cluster when the server answers
// as a Cluster node. More addresses, as repeated addr=host:port options,
// are the seed nodes of a Redis Cluster, or, with master_set=NAME, the
// sentinels that watch the master set NAME:
//
//	redis://10.0.0.1:7000?addr=10.0.0.2:7000                                 Cluster
//	redis://app:pw@10.0.0.1:26379/0?addr=10.0.0.2:26379&master_set=mymaster  Sentinel
//
// The port defaults to 6379. User and password are the ACL credentials of
// Redis itself (for Sentinel: of the master); percent-encode reserved
// characters in them. The options are rueidis's: db, addr, master_set,
// dial_timeout and write_timeout (Go durations, e.g. 2s), protocol=2
// (RESP2 only), client_cache=0, max_retries=0, client_name, skip_verify
// (TLS); and two that rueidis lacks, sentinel_username and
// sentinel_password, the sentinels' own credentials. Any other option is
// an error. A Sentinel or Cluster URL that reaches a plain Redis fails in
// [New], with an error that says so. Errors describe what is wrong in
// words: they never quote the URL, which holds secrets.
func ParseURL(raw string) (rueidis.ClientOption, error) {
	bad := func(msg string) (rueidis.ClientOption, error) {
		return rueidis.ClientOption{}, errors.New("redisstore: the Redis URL: " + msg)
	}
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return bad("no scheme such as redis://")
	}
	if msg := unescapedUserinfo(rest); msg != "" {
		return bad(msg)
	}
	var q url.Values
	if _, query, ok := strings.Cut(strings.SplitN(rest, "#", 2)[0], "?"); ok {
		var err error
		if q, err = url.ParseQuery(query); err != nil {
			return bad("bad query: " + describeParseError(err))
		}
	}
	for name := range q {
		if !slices.Contains(urlOptions, name) {
			if !plainName.MatchString(name) {
				name = "(not shown: it may be a secret)"
			}
			return bad(fmt.Sprintf("unknown option %s; the options are %s", name, strings.Join(urlOptions, ", ")))
		}
	}
	opt, err := rueidis.ParseURL(raw)
	if err != nil {
		return bad(describeParseError(err))
	}
	if len(opt.InitAddress) > 1 && opt.TLSConfig != nil {
		opt.TLSConfig.ServerName = "" // several hosts: each connection verifies the host it dials
	}
	switch {
	case opt.Sentinel.MasterSet != "":
		opt.Sentinel.Username = q.Get("sentinel_username")
		opt.Sentinel.Password = q.Get("sentinel_password")
		if opt.TLSConfig != nil {
			opt.Sentinel.TLSConfig = opt.TLSConfig.Clone()
		}
	case q.Has("sentinel_username") || q.Has("sentinel_password"):
		return bad("sentinel_username and sentinel_password need master_set")
	case len(opt.InitAddress) > 1 && opt.SelectDB != 0:
		return bad("several addresses name a Redis Cluster, which has only database 0")
	}
	return opt, nil
}

// urlOptions are the query options ParseURL accepts.
var urlOptions = []string{"addr", "master_set", "db", "dial_timeout", "write_timeout", "protocol",
	"client_cache", "max_retries", "client_name", "skip_verify", "sentinel_username", "sentinel_password"}

// plainName matches an unknown option's name that an error may show: a
// name with a digit or an odd character may be a misplaced password.
var plainName = regexp.MustCompile(`^[a-z_]{1,30}$`)

// escapeHint ends the description of a URL that may be malformed by a
// password with reserved characters.
const escapeHint = "; if the user name or password holds one of : / ? # @ % [ ], percent-encode it (e.g. / as %2F, % as %25)"

// unescapedUserinfo describes a URL whose user name or password holds an
// unescaped '/', '?' or '#': the parsers would end the host there and take
// the rest of the password for a path or a query. rest is the URL after
// "://"; an '@' after an '=' is taken to be inside a query value.
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
// rueidis.ParseURL without its text, which quotes the URL or the part it
// rejects, a piece of a password maybe.
func describeParseError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var esc url.EscapeError
	var host url.InvalidHostError
	switch {
	case errors.As(err, &esc):
		return "malformed: a '%' that starts no %XX escape" + escapeHint
	case errors.As(err, &host):
		return "malformed: invalid character in the host" + escapeHint
	}
	for _, m := range []struct{ has, say string }{
		{"invalid port", "malformed: invalid port" + escapeHint},
		{"invalid userinfo", "malformed: invalid character in the user name or password; percent-encode it"},
		{"control character", "malformed: a control character in the URL"},
		{"semicolon", "malformed query: ';' is not a separator, use '&'"},
		{"invalid URL scheme", "unknown scheme (want redis, rediss or unix)"},
		{"database number", "bad database number: the path is /N, N a number"},
		{"URL path", "unexpected path: the path is /N, N a database number"},
		{"dial timeout", "bad dial_timeout: a Go duration such as 2s"},
		{"write timeout", "bad write_timeout: a Go duration such as 2s"},
		{"skip verify", "bad skip_verify: true or false"},
	} {
		if strings.Contains(err.Error(), m.has) {
			return m.say
		}
	}
	return "malformed URL" + escapeHint
}

// NewFromURL is [New] with the client addressed by a URL (see [ParseURL]
// for the forms): the URL's addresses, credentials, db, Sentinel master,
// TLS setting and options replace those of opts.Client; its other fields
// stay. A TLSConfig already set in opts.Client is kept, and turns TLS on
// whatever the scheme. This is what the demo's -redis flag accepts.
func NewFromURL(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	u, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	c := &opts.Client
	c.InitAddress, c.Username, c.Password, c.SelectDB = u.InitAddress, u.Username, u.Password, u.SelectDB
	if u.DialCtxFn != nil {
		c.DialCtxFn = u.DialCtxFn
	}
	c.TLSConfig = cmp.Or(c.TLSConfig, u.TLSConfig)
	c.Sentinel.MasterSet = u.Sentinel.MasterSet
	if u.Sentinel.MasterSet != "" {
		c.Sentinel.Username, c.Sentinel.Password = u.Sentinel.Username, u.Sentinel.Password
		c.Sentinel.TLSConfig = cmp.Or(c.Sentinel.TLSConfig, u.Sentinel.TLSConfig)
	}
	c.Dialer.Timeout = cmp.Or(u.Dialer.Timeout, c.Dialer.Timeout)
	c.ConnWriteTimeout = cmp.Or(u.ConnWriteTimeout, c.ConnWriteTimeout)
	c.ClientName = cmp.Or(u.ClientName, c.ClientName)
	c.AlwaysRESP2 = c.AlwaysRESP2 || u.AlwaysRESP2
	c.DisableCache = c.DisableCache || u.DisableCache
	c.DisableRetry = c.DisableRetry || u.DisableRetry
	return New(ctx, opts)
}
