package redisstore

import (
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
//	redis://10.0.0.1:7000?addr=10.0.0.2:7000                        Cluster
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
// [New], with an error that says so.
//
// An error never shows the URL's secrets: the password and every
// secret-bearing option (sentinel_password and any whose name holds pass,
// secret, token, key or auth) are replaced by xxxxx, and a malformed URL
// is described in words, never quoted.
func ParseURL(raw string) (rueidis.ClientOption, error) {
	bad := func(msg string) (rueidis.ClientOption, error) {
		return rueidis.ClientOption{}, fmt.Errorf("redisstore: URL %s: %s", redactURL(raw), msg)
	}
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		// Not echoed: without a scheme nothing says where a secret is.
		return rueidis.ClientOption{}, errors.New("redisstore: the Redis URL has no scheme such as redis://")
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
			return bad(fmt.Sprintf("unknown option %q (the options are %s)", redactName(name), strings.Join(urlOptions, ", ")))
		}
	}
	opt, err := rueidis.ParseURL(raw)
	if err != nil {
		return bad(describeParseError(err))
	}
	if len(opt.InitAddress) > 1 && opt.TLSConfig != nil {
		// Several hosts: let each TLS connection verify the host it dials.
		opt.TLSConfig.ServerName = ""
	}
	if opt.Sentinel.MasterSet != "" {
		opt.Sentinel.Username = q.Get("sentinel_username")
		opt.Sentinel.Password = q.Get("sentinel_password")
		if opt.TLSConfig != nil {
			opt.Sentinel.TLSConfig = opt.TLSConfig.Clone()
		}
	} else if q.Has("sentinel_username") || q.Has("sentinel_password") {
		return bad("sentinel_username and sentinel_password need master_set")
	} else if len(opt.InitAddress) > 1 && opt.SelectDB != 0 {
		return bad("several addresses name a Redis Cluster, which has only database 0")
	}
	return opt, nil
}

// urlOptions are the query options ParseURL accepts.
var urlOptions = []string{"addr", "master_set", "db", "dial_timeout", "write_timeout", "protocol",
	"client_cache", "max_retries", "client_name", "skip_verify", "sentinel_username", "sentinel_password"}

// redactName is an unknown option's name as an error shows it: a name
// that looks secret-bearing might be a misplaced secret itself.
func redactName(name string) string {
	if secretName.MatchString(name) || len(name) > 40 {
		return redacted
	}
	return name
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

// redacted replaces a secret in a URL shown in an error.
const redacted = "xxxxx"

// secretQuery matches a query parameter whose name says it holds a secret
// (sentinel_password, password, auth, token, ...), anywhere in a URL, with
// its value up to the next '&' or '#'.
var secretQuery = regexp.MustCompile(`(?i)([?&;])([^=&?#;]*(?:pass|secret|token|key|auth)[^=&?#;]*)=([^&#]*)`)

// secretName matches an option name that says it holds a secret.
var secretName = regexp.MustCompile(`(?i)pass|secret|token|key|auth`)

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
