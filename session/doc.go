// Package session keeps server-side sessions for HTTP servers that run as
// several instances behind a plain round-robin load balancer: every request
// of a user may land on another instance, so the session lives in a shared
// [Store] and every instance sees the same one at once.
//
// A [Manager] (from [New]) gives each request a [Session] through its
// middleware [Manager.Handler]. The session is loaded on first use, at most
// once per request, and its changes are saved as a delta of the keys that
// changed, before the response headers are written. A cookie that fails its
// signature check costs no store call.
//
// Security follows OWASP ASVS V3: tokens of 256 random bits; a cookie that
// carries the token and an HMAC-SHA-256 signature, with key rotation; only a
// hash of the token in the store; idle and absolute timeouts enforced on the
// server; a new token at login ([Session.Renew]); logout on the server
// ([Session.Destroy]); a user's list of their sessions ([Session.Sessions],
// [Manager.Revoke]) and "log out everywhere" ([Manager.RevokeAll]).
//
// A store that cannot answer is an error, [ErrStoreUnavailable], which the
// middleware turns into a 503 with Retry-After; it never passes for an
// anonymous session.
package session
