package session

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Defaults of [Config]; a zero field means its default, which each field's
// comment states. The timeouts are exported for programs that show them,
// as flag defaults.
const (
	DefaultIdleTimeout        = 30 * time.Minute
	DefaultAbsoluteTimeout    = 12 * time.Hour
	DefaultRememberIdle       = 7 * 24 * time.Hour
	DefaultRememberAbsolute   = 30 * 24 * time.Hour
	DefaultStoreTimeout       = time.Second
	defaultMaxSize            = 64 << 10
	defaultMaxFields          = 256
	defaultMaxSessionsPerUser = 16
	defaultRetryAfter         = 2 * time.Second
	defaultLoginURL           = "/login"
	// defaultCookieName is the cookie name over HTTPS. The __Host- prefix
	// makes the browser refuse the cookie unless it is Secure, has Path=/ and
	// no Domain, so no subdomain can plant or overwrite it.
	defaultCookieName = "__Host-session"
	// defaultInsecureCookieName is the cookie name when InsecureCookie is set.
	defaultInsecureCookieName = "session"
	// MinKeySize is the least length of a signing key, in bytes.
	MinKeySize = 32
)

// Config configures a [Manager]. The zero value of each field is the safe
// default stated in its comment; only Keys must be given.
type Config struct {
	// Keys sign and verify session cookies with HMAC-SHA-256. The first key
	// signs; every key verifies, so a new key can be put first while the
	// old one still accepts the cookies already out (rotation). A cookie
	// verified by an older key is signed again with the first. Each key has
	// at least MinKeySize bytes. Required: New panics without one.
	// [ParseKeys] reads them from a file or the environment, with an error
	// that names a bad key.
	Keys [][]byte

	// CookieName names the session cookie.
	// default: "__Host-session"; "__Secure-session" when Domain is set;
	// "session" when InsecureCookie is set.
	CookieName string

	// Domain is the cookie's Domain attribute, for an application served
	// on several subdomains (example.com makes the cookie go to
	// app.example.com and api.example.com too). It drops the __Host-
	// prefix, which forbids a Domain: the default name becomes
	// __Secure-session, and every subdomain, including one that an attacker
	// may control, can then see and overwrite the cookie. New panics on a
	// __Host- CookieName with a Domain.
	// default: "", a host-only cookie.
	Domain string

	// InsecureCookie drops the Secure attribute and the __Host- prefix so
	// that the cookie works over plain HTTP: a development setting for
	// servers on loopback, never for production.
	// default: false (Secure cookie).
	InsecureCookie bool

	// SameSite is the cookie's SameSite attribute. http.SameSiteNoneMode
	// needs a Secure cookie, so New panics when it comes with InsecureCookie.
	// default: http.SameSiteLaxMode.
	SameSite http.SameSite

	// IdleTimeout ends a session after this long without a request
	// (OWASP ASVS 3.3.1). default: 30 minutes.
	IdleTimeout time.Duration

	// AbsoluteTimeout ends a session this long after its user's last
	// login ([Session.Login]; for an anonymous session, its creation),
	// however busy it is; [Session.Renew] keeps the login time.
	// default: 12 hours. With IdleTimeout's default, this meets ASVS
	// 3.3.2 level 2 (re-authentication after 12 hours, or 30 minutes
	// idle).
	AbsoluteTimeout time.Duration

	// RememberIdleTimeout replaces IdleTimeout for a remembered session
	// ([Session.RememberMe]): the user comes back after days and is still
	// logged in. default: 7 days.
	RememberIdleTimeout time.Duration

	// RememberAbsoluteTimeout replaces AbsoluteTimeout for a remembered
	// session; its cookie lasts until then. default: 30 days, which with
	// RememberIdleTimeout's default meets ASVS 3.3.2 level 1 only
	// (re-authentication within 30 days). An application held to level 2
	// sets both to the session's timeouts, or offers no "remember me".
	RememberAbsoluteTimeout time.Duration

	// StoreTimeout bounds every store call; a call that takes longer fails
	// with ErrStoreUnavailable. It alone bounds the call: a client that
	// stops waiting does not cancel it. default: 1 second.
	StoreTimeout time.Duration

	// MaxSize bounds the encoded size of one session (keys plus values, in
	// bytes); [Session.Put] refuses to grow past it with ErrTooLarge.
	// default: 64 KiB.
	MaxSize int

	// MaxFields bounds the number of keys of one session; a change that
	// would pass it fails with ErrTooLarge. Like MaxSize, it is enforced
	// by the store inside its atomic write, so no interleaving of
	// requests on any number of instances can pass it. default: 256.
	MaxFields int

	// MaxSessionsPerUser caps the live sessions of one user: a login that
	// makes the user pass it ends the user's oldest sessions (by login
	// time) until the user is within it. It needs a store with a user
	// index ([UserIndex]); negative means no cap.
	//
	// With MaxSize it bounds what one account can store: at most
	// MaxSessionsPerUser × MaxSize bytes, 16 × 64 KiB = 1 MiB by default,
	// with no store call beyond those a login already makes. A write past
	// a session's share fails with ErrTooLarge (413). The new session of
	// a login is stored before the oldest ones end, so a login in flight
	// may add one session, holding only what that login carries, until it
	// returns. Raise either field only with the store memory to match.
	// default: 16.
	MaxSessionsPerUser int

	// DisableEncryption stores the values of new sessions in clear. By
	// default each session's values are encrypted (AES-256-GCM) under a
	// key of the session's own that only its cookie unlocks, so that
	// neither the store's data nor this Config (its Keys included) is
	// enough to read them; see "Encryption" in the package doc for what
	// stays readable and what it costs. memstore's data never leaves the
	// process, so it gains less from encryption. A session keeps the
	// choice made when it was created: with encryption off, encrypted
	// sessions are still read and written encrypted; with it on, a session
	// stored in clear is read as missing (its user logs in again).
	// default: false (values encrypted).
	DisableEncryption bool

	// RetryAfter is the Retry-After of the 503 answered when the store is
	// unavailable, rounded up to whole seconds. default: 2 seconds.
	RetryAfter time.Duration

	// ErrorFunc writes the answer to a request that failed for a session
	// error, in place of the handler's: when the store cannot answer (err
	// wraps ErrStoreUnavailable), when the store refused the request's
	// changes because concurrent requests filled the session (ErrTooLarge),
	// and for the errors that handlers pass to [Error]. It is called with
	// the headers prepared as [Error] says, Retry-After included, and
	// writes the status and the body. It must not write err's text, which
	// may describe the store, to the client.
	// default: plain text: 503 for ErrStoreUnavailable, 413 for
	// ErrTooLarge, 500 otherwise.
	ErrorFunc func(w http.ResponseWriter, r *http.Request, err error)

	// LoginURL is where [Manager.RequireLogin] sends anonymous users; it must
	// be a local path. default: "/login".
	LoginURL string

	// Logger receives what an operator must see: store failures (ERROR),
	// cookies that fail the signature check, a sign of instances with
	// different keys, and changes made after the response headers were
	// written (WARN), each kind at most once per 10 seconds with its count;
	// and, at INFO, the fingerprints of the signing keys when the Manager
	// is made. Tokens and keys never reach it.
	// default: slog.Default().
	Logger *slog.Logger

	// Observer receives counts and timings for metrics (see [Observer]).
	// default: the zero Observer, nothing observed.
	Observer Observer

	// AuditLog receives one record at INFO per login, logout, renewal,
	// revocation and eviction by MaxSessionsPerUser, with the user, the session's public handle
	// ([Handle]; never its token or store key), the client address and user
	// agent when a request is at hand. Forged cookies are recorded at WARN,
	// at most once per 10 seconds with their count.
	// default: nil, no audit records.
	AuditLog *slog.Logger

	// ClientAddr returns the client address of a request for the audit
	// log. Behind a proxy, return the address it forwards, only when the
	// request comes from that proxy.
	// default: the host of r.RemoteAddr.
	ClientAddr func(r *http.Request) string
}

// Validate reports the first problem of c that would make [New] panic,
// as an error that names the field and says why, or nil. A program that
// reads its configuration at run time (keys from a file or the
// environment, timeouts from flags) calls it before New, so that a bad
// value is an error it can report rather than a panic.
func (c Config) Validate() error {
	_, err := c.withDefaults()
	return err
}

// withDefaults returns a copy of c with its zero fields filled, or the
// error that says why c cannot work.
func (c Config) withDefaults() (Config, error) {
	if err := checkKeys(c.Keys); err != nil {
		return c, err
	}
	keys := make([][]byte, len(c.Keys))
	for i, k := range c.Keys {
		keys[i] = append([]byte(nil), k...)
	}
	c.Keys = keys
	if c.CookieName == "" {
		c.CookieName = defaultCookieName
		if c.Domain != "" {
			c.CookieName = "__Secure-session"
		}
		if c.InsecureCookie {
			c.CookieName = defaultInsecureCookieName
		}
	}
	switch {
	case !validCookieName(c.CookieName):
		return c, errors.New("session: Config.CookieName " + strconv.Quote(c.CookieName) + " is not a valid cookie name")
	case c.Domain != "" && hasPrefixFold(c.CookieName, "__Host-"):
		return c, errors.New("session: Config.CookieName: browsers refuse a __Host- cookie with a Domain; drop the prefix or the Domain")
	case strings.ContainsAny(c.Domain, " ;,\"\t\r\n"):
		return c, errors.New("session: Config.Domain " + strconv.Quote(c.Domain) + " is not a domain name")
	case c.InsecureCookie && (hasPrefixFold(c.CookieName, "__Host-") || hasPrefixFold(c.CookieName, "__Secure-")):
		return c, errors.New("session: Config.CookieName: browsers refuse a __Host- or __Secure- cookie that is not Secure; drop the prefix with InsecureCookie")
	case c.SameSite == http.SameSiteNoneMode && c.InsecureCookie:
		return c, errors.New("session: Config.SameSite: browsers refuse a SameSite=None cookie that is not Secure; do not combine it with InsecureCookie")
	case c.MaxSize < 0:
		return c, errors.New("session: Config.MaxSize is negative")
	case c.MaxFields < 0:
		return c, errors.New("session: Config.MaxFields is negative")
	}
	if c.SameSite == 0 {
		c.SameSite = http.SameSiteLaxMode
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"IdleTimeout", &c.IdleTimeout, DefaultIdleTimeout},
		{"AbsoluteTimeout", &c.AbsoluteTimeout, DefaultAbsoluteTimeout},
		{"RememberIdleTimeout", &c.RememberIdleTimeout, DefaultRememberIdle},
		{"RememberAbsoluteTimeout", &c.RememberAbsoluteTimeout, DefaultRememberAbsolute},
		{"StoreTimeout", &c.StoreTimeout, DefaultStoreTimeout},
		{"RetryAfter", &c.RetryAfter, defaultRetryAfter},
	} {
		if *d.v < 0 {
			return c, errors.New("session: Config." + d.name + " is negative")
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.MaxSize == 0 {
		c.MaxSize = defaultMaxSize
	}
	if c.MaxFields == 0 {
		c.MaxFields = defaultMaxFields
	}
	if c.MaxSessionsPerUser == 0 {
		c.MaxSessionsPerUser = defaultMaxSessionsPerUser
	}
	if c.LoginURL == "" {
		c.LoginURL = defaultLoginURL
	}
	if LocalPath(c.LoginURL, "") == "" {
		return c, errors.New("session: Config.LoginURL " + strconv.Quote(c.LoginURL) + " must be a local path such as /login")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// hasPrefixFold reports whether s begins with prefix, ignoring ASCII case,
// as browsers match cookie name prefixes.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func validCookieName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}

// LocalPath returns raw if it is a path on this site (it starts with one
// "/", not "//" or "/\", and has no scheme, host or control character), and
// fallback otherwise. Use it on a "next" parameter before redirecting to it,
// so that no link can send users to another site (an open redirect).
func LocalPath(raw, fallback string) string {
	if len(raw) == 0 || raw[0] != '/' || len(raw) > 2048 {
		return fallback
	}
	if len(raw) > 1 && (raw[1] == '/' || raw[1] == '\\') {
		return fallback
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c < ' ' || c == 0x7f || c == '\\' {
			return fallback
		}
	}
	return raw
}
